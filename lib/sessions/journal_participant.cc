// The journal as a participant of multi-store sessions.
#include <cstring>

#include "event_validation.h"
#include "journal_door.h"
#include "staged_ops.h"
#include "txjournal/committable.h"
#include "txjournal/journal.h"
#include "user_tables.h"

namespace txj {

namespace {
constexpr std::string_view kStaged = "session_journal_staged";
constexpr const char* kSessionTopic = "$session";
}  // namespace

struct JournalParticipant::Impl {
  Journal& journal;
  std::unique_ptr<internal::UserTables> tables;
  std::optional<std::string> key;
  std::vector<std::optional<std::string>> staged;  // 5 fields per event: topic, type, key, payload, ts
  std::uint64_t prepared_at = 0;                   // next offset when prepared

  explicit Impl(Journal& j) : journal(j) {}

  Status Need(std::string_view k) const {
    if (!key) return Status::InvalidState("journal participant is not in a session");
    if (*key != k) return Status::InvalidArgument("key mismatch: journal participant is in session " + *key);
    return Status::OK();
  }
};

JournalParticipant::JournalParticipant(Journal& journal) : p_(std::make_unique<Impl>(journal)) {
  if (internal::HasWritableCatalog(journal)) p_->tables = internal::OpenUserTables(journal);
}

JournalParticipant::~JournalParticipant() = default;

Status JournalParticipant::append(std::string_view topic, std::string_view type, std::string_view payload,
                                  const AppendOptions& options) {
  if (!p_->key) return Status::InvalidState("journal participant is not in a session");
  TXJ_RETURN_IF_ERROR(internal::ValidateEvent(topic, type, options.key, payload));
  std::uint64_t ts = options.timestamp_ns;
  p_->staged.emplace_back(std::string(topic));
  p_->staged.emplace_back(std::string(type));
  p_->staged.push_back(options.key ? std::optional<std::string>(std::string(*options.key)) : std::nullopt);
  p_->staged.emplace_back(std::string(payload));
  p_->staged.emplace_back(std::string(reinterpret_cast<const char*>(&ts), 8));
  return Status::OK();
}

Status JournalParticipant::begin(std::string_view key) {
  if (!p_->tables) return Status::InvalidState("journal participant needs a journal open for writing");
  if (p_->key) return Status::Busy("journal participant is already in session " + *p_->key);
  p_->key = std::string(key);
  p_->staged.clear();
  return Status::OK();
}

Status JournalParticipant::begin_recovery(std::string_view key) {
  if (!p_->tables) return Status::InvalidState("journal participant needs a journal open for writing");
  p_->key = std::string(key);
  p_->staged.clear();
  auto v = p_->tables->Get(kStaged, key);
  if (!v.ok()) return v.status();
  if (v->has_value() && (*v)->size() >= 8) {
    std::memcpy(&p_->prepared_at, (*v)->data(), 8);
    auto f = internal::DecodeFields(std::string_view(**v).substr(8), "staged journal events of session " + std::string(key));
    if (!f.ok()) return f.status();
    p_->staged = std::move(f).value();
  }
  return Status::OK();
}

Status JournalParticipant::prepare(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->Need(key));
  p_->prepared_at = p_->journal.next_offset();
  std::string blob(reinterpret_cast<const char*>(&p_->prepared_at), 8);
  blob += internal::EncodeFields(p_->staged);
  return p_->tables->Write([&](KvTxn& t) { return t.put(kStaged, key, blob); });
}

Result<std::string> JournalParticipant::commit(std::string_view key) {
  TXJ_RETURN_IF_ERROR(p_->Need(key));
  std::string id = internal::Id128(internal::EncodeFields(p_->staged));
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
    const auto& f = p_->staged;
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
  TXJ_RETURN_IF_ERROR(p_->tables->Write([&](KvTxn& t) { return t.del(kStaged, key); }));
  p_->key.reset();
  p_->staged.clear();
  return id;
}

Status JournalParticipant::cancel() {
  if (!p_->key) return Status::OK();
  std::string key = *p_->key;
  p_->key.reset();
  p_->staged.clear();
  return p_->tables->Write([&](KvTxn& t) { return t.del(kStaged, key); });
}

}  // namespace txj
