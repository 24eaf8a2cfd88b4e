// Eventbox: inboxes in the journal, state and processed marks in the catalog.
#include "txjournal/eventbox.h"

#include <sys/random.h>

#include <cstring>
#include <set>

#include "claim_tables.h"
#include "hex.h"
#include "journal_door.h"
#include "txjournal/journal.h"
#include "user_tables.h"

namespace txj {

namespace {

constexpr std::string_view kState = "eventbox_state";  // recipient -> version(8) + state
constexpr std::string_view kEventboxDone = "eventbox_done";  // recipient \0 id -> ""
constexpr std::string_view kLow = "eventbox_low";      // recipient -> offset below which all is processed

std::string Topic(const std::string& recipient) { return "inbox/" + recipient; }
std::string DoneKey(const std::string& r, const std::string& id) { return r + '\0' + id; }

Status Contention(const std::string& recipient, std::uint64_t want, std::uint64_t got) {
  return Status::Busy("contention: state of " + recipient + " changed from version " + std::to_string(want) + " to " +
                      std::to_string(got) + "; nothing applied");
}

Result<std::pair<std::string, std::uint64_t>> ReadState(KvTxn* t, internal::UserTables* tables,
                                                        const std::string& recipient) {
  auto v = t ? t->get(kState, recipient) : tables->Get(kState, recipient);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::make_pair(std::string(), std::uint64_t{0});
  if ((*v)->size() < 8) return Status::Corruption("eventbox state of " + recipient + " is malformed");
  std::uint64_t version;
  std::memcpy(&version, (*v)->data(), 8);
  return std::make_pair((*v)->substr(8), version);
}

Status WriteState(KvTxn& t, const std::string& recipient, const std::string& state, std::uint64_t version) {
  std::string blob(reinterpret_cast<const char*>(&version), 8);
  blob += state;
  return t.put(kState, recipient, blob);
}

}  // namespace

bool IsContention(const Status& s) { return s.code() == Code::kBusy && s.message().rfind("contention", 0) == 0; }

struct Eventbox::Impl {
  Journal* journal = nullptr;
  std::unique_ptr<internal::UserTables> tables;

  Result<std::string> NewId() {
    unsigned char b[16];
    if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
      return Status::FromErrno(errno, "getrandom for an event id");
    }
    return internal::HexEncode(b, sizeof b);
  }
};

Eventbox::Eventbox() : p_(std::make_unique<Impl>()) {}
Eventbox::~Eventbox() = default;

Result<std::unique_ptr<Eventbox>> Eventbox::open(Journal& journal) {
  auto e = std::unique_ptr<Eventbox>(new Eventbox());
  TXJ_RETURN_IF_ERROR(internal::ClaimUserTables(journal, &e->p_->tables));
  e->p_->journal = &journal;
  return e;
}

Result<std::string> Eventbox::emit(Transaction& tx, const std::string& recipient, std::string_view value) {
  if (recipient.empty() || recipient.size() > 200) return Status::InvalidArgument("recipient must be 1 to 200 bytes");
  auto id = p_->NewId();
  if (!id.ok()) return id;
  TXJ_RETURN_IF_ERROR(tx.append(Topic(recipient), "event", value, {.key = *id}));
  return id;
}

Result<std::string> Eventbox::emit(const std::string& recipient, std::string_view value) {
  auto tx = p_->journal->begin();
  if (!tx.ok()) return tx.status();
  auto id = emit(*tx, recipient, value);
  if (!id.ok()) return id;
  auto info = tx->commit();
  if (!info.ok()) return info.status();
  return id;
}

Result<std::pair<std::string, std::uint64_t>> Eventbox::state(const std::string& recipient) {
  return ReadState(nullptr, p_->tables.get(), recipient);
}

Result<std::vector<InboxEvent>> Eventbox::list(const std::string& recipient) {
  std::uint64_t low = 0;
  auto l = p_->tables->Get(kLow, recipient);
  if (!l.ok()) return l.status();
  if (l->has_value() && (*l)->size() == 8) std::memcpy(&low, (*l)->data(), 8);
  auto cur = p_->journal->open_cursor(low, Filter::for_topics({Topic(recipient)}));
  if (!cur.ok()) return cur.status();
  std::vector<InboxEvent> out;
  for (;;) {
    auto e = cur->next();
    if (!e.ok()) return e.status();
    if (!e->has_value()) break;
    const Event& ev = **e;
    std::string id(ev.key.value_or(""));
    auto done = p_->tables->Get(kEventboxDone, DoneKey(recipient, id));
    if (!done.ok()) return done.status();
    if (!done->has_value()) out.push_back({id, std::string(ev.payload), ev.offset});
  }
  return out;
}

Result<std::vector<PostProcessFn>> Eventbox::process_batch(const std::string& recipient, Processor& processor,
                                                           std::size_t max_events) {
  auto loaded = state(recipient);
  if (!loaded.ok()) return loaded.status();
  // Named copies, not a structured binding: lambdas below capture them.
  const std::string state0 = loaded->first;
  const auto version0 = loaded->second;
  auto pending = list(recipient);
  if (!pending.ok()) return pending.status();
  if (pending->size() > max_events) pending->resize(max_events);
  // An empty batch still goes to the processor: state-only transitions
  // (timers, deadlines) consume no events. A processor with nothing to do
  // returns no transition (or one to the same state), which writes nothing.
  std::set<std::string> known;
  for (const auto& e : *pending) known.insert(e.id);

  Mutation mutation;
  Status prepared = processor.prepare_mutation(*pending, state0, &mutation);
  auto mark = [&](KvTxn& t, const std::string& id) -> Status {
    if (!known.count(id)) return Status::InvalidArgument("event " + id + " is not in the batch given to the processor");
    return t.put(kEventboxDone, DoneKey(recipient, id), "");
  };
  // Every write checks the version it started from and bumps it, so a
  // concurrent processor sees contention instead of applying on stale state
  // (or dropping, as garbage, what this one meant to process).
  auto checked = [&](KvTxn& t) -> Status {
    auto now = ReadState(&t, nullptr, recipient);
    if (!now.ok()) return now.status();
    if (now->second != version0) return Contention(recipient, version0, now->second);
    return Status::OK();
  };
  if (!prepared.ok()) {
    if (!mutation.garbage.empty()) {
      Status g = p_->tables->Write([&](KvTxn& t) -> Status {
        TXJ_RETURN_IF_ERROR(checked(t));
        for (const auto& id : mutation.garbage) TXJ_RETURN_IF_ERROR(mark(t, id));
        return WriteState(t, recipient, state0, version0 + 1);
      });
      if (!g.ok()) return g.WithContext("dropping garbage after the processor failed (" + prepared.ToString() + ")");
    }
    return prepared;
  }
  bool anything = !mutation.garbage.empty();
  for (const auto& tr : mutation.transitions) {
    if (!tr.events.empty() || tr.side_effect || tr.transition_to != state0) anything = true;
  }
  std::vector<PostProcessFn> post;
  if (!anything) {
    for (const auto& tr : mutation.transitions) {
      if (tr.post_process) post.push_back(tr.post_process);
    }
    return post;
  }
  Status applied = p_->tables->Write([&](KvTxn& t) -> Status {
    post.clear();
    TXJ_RETURN_IF_ERROR(checked(t));
    for (const auto& id : mutation.garbage) TXJ_RETURN_IF_ERROR(mark(t, id));
    std::string state = state0;
    for (const auto& tr : mutation.transitions) {
      if (tr.side_effect) {
        Status s = tr.side_effect(t);
        if (!s.ok()) {
          if (tr.fails_cleanly) break;  // keep the transitions before it
          return s.WithContext("side effect of a transition of " + recipient);
        }
      }
      for (const auto& id : tr.events) TXJ_RETURN_IF_ERROR(mark(t, id));
      state = tr.transition_to;
      if (tr.post_process) post.push_back(tr.post_process);
    }
    return WriteState(t, recipient, state, version0 + 1);
  });
  if (!applied.ok()) return applied;
  return post;
}

}  // namespace txj
