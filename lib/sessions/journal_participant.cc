// The journal as a participant of multi-store sessions.
#include <cstring>

#include "event_validation.h"
#include "journal_door.h"
#include "staged_ops.h"
#include "staged_session.h"
#include "txjournal/committable.h"
#include "txjournal/journal.h"
#include "user_tables.h"

namespace txj {

namespace {
constexpr std::string_view kJournalStaged = "session_journal_staged";
constexpr const char* kSessionTopic = "$session";
}  // namespace

struct JournalParticipant::Impl {
  Journal& journal;
  std::unique_ptr<internal::UserTables> tables;
  // Staged: 5 fields per event: topic, type, key, payload, ts.
  internal::StagedSession session{"journal participant", kJournalStaged};
  std::uint64_t prepared_at = 0;  // next offset when prepared

  explicit Impl(Journal& j) : journal(j) {}
};

JournalParticipant::JournalParticipant(Journal& journal) : p_(std::make_unique<Impl>(journal)) {
  if (internal::HasWritableCatalog(journal)) p_->tables = internal::OpenUserTables(journal);
}

JournalParticipant::~JournalParticipant() = default;

Status JournalParticipant::append(std::string_view topic, std::string_view type, std::string_view payload,
                                  const AppendOptions& options) {
  TXJ_RETURN_IF_ERROR(p_->session.InSession());
  TXJ_RETURN_IF_ERROR(internal::ValidateEvent(topic, type, options.key, payload));
  std::uint64_t ts = options.timestamp_ns;
  auto& staged = p_->session.staged();
  staged.emplace_back(std::string(topic));
  staged.emplace_back(std::string(type));
  staged.push_back(options.key ? std::optional<std::string>(std::string(*options.key)) : std::nullopt);
  staged.emplace_back(std::string(payload));
  staged.emplace_back(std::string(reinterpret_cast<const char*>(&ts), 8));
  return Status::OK();
}

Status JournalParticipant::begin(std::string_view key) {
  if (!p_->tables) return Status::InvalidState("journal participant needs a journal open for writing");
  return p_->session.Begin(key);
}

Status JournalParticipant::begin_recovery(std::string_view key) {
  if (!p_->tables) return Status::InvalidState("journal participant needs a journal open for writing");
  p_->session.Enter(key);
  auto v = p_->session.Prepared(*p_->tables, key);
  if (!v.ok()) return v.status();
  if (v->has_value() && (*v)->size() >= 8) {
    std::memcpy(&p_->prepared_at, (*v)->data(), 8);
    auto f = internal::DecodeFields(std::string_view(**v).substr(8), "staged journal events of session " + std::string(key));
    if (!f.ok()) return f.status();
    p_->session.staged() = std::move(f).value();
  }
  return Status::OK();
}

Status JournalParticipant::prepare(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->session.Need(key));
  p_->prepared_at = p_->journal.next_offset();
  std::string blob(reinterpret_cast<const char*>(&p_->prepared_at), 8);
  blob += internal::EncodeFields(p_->session.staged());
  return p_->session.Prepare(*p_->tables, key, blob);
}

Result<std::string> JournalParticipant::commit(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->session.Need(key));
  std::string id = internal::Id128(internal::EncodeFields(p_->session.staged()));
  // Already written before a crash? Its marker event says so, and holds the
  // id (the staged copy, which the id is derived from, may be gone already).
  bool written = false;
  {
    auto cur = p_->journal.open_cursor(p_->prepared_at, Filter::for_topics({kSessionTopic}));
    if (!cur.ok()) return cur.status();
    for (;;) {
      auto e = cur->next();
      if (!e.ok()) return e.status();
      if (!e->has_value()) break;
      if ((**e).key && *(**e).key == key) {
        written = true;
        id = std::string((**e).payload);
        break;
      }
    }
  }
  if (!written) {
    auto tx = p_->journal.begin();
    if (!tx.ok()) return tx.status();
    const auto& f = p_->session.staged();
    for (std::size_t i = 0; i + 5 <= f.size(); i += 5) {
      std::uint64_t ts = 0;
      if (f[i + 4] && f[i + 4]->size() == 8) std::memcpy(&ts, f[i + 4]->data(), 8);
      AppendOptions o;
      if (f[i + 2]) o.key = *f[i + 2];
      o.timestamp_ns = ts;
      TXJ_RETURN_IF_ERROR(tx->append(f[i].value_or(""), f[i + 1].value_or(""), f[i + 3].value_or(""), o));
    }
    TXJ_RETURN_IF_ERROR(tx->append(kSessionTopic, "commit", id, {.key = key}));
    auto info = tx->commit();
    if (!info.ok()) return info.status();
  }
  TXJ_RETURN_IF_ERROR(p_->session.DropPrepared(*p_->tables, key));
  p_->session.Leave();
  return id;
}

Status JournalParticipant::cancel() {
  if (!p_->session.key()) return Status::OK();  // and no tables without a writable journal
  return p_->session.Cancel(*p_->tables);
}

}  // namespace txj
