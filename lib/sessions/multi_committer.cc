// MultiCommitter: two-phase commit across participants, with its progress
// in the journal's catalog.
#include <map>

#include "claim_tables.h"
#include "journal_door.h"
#include "staged_ops.h"
#include "txjournal/committable.h"
#include "txjournal/journal.h"
#include "user_tables.h"

namespace txj {

namespace {

constexpr std::string_view kTable = "multicommit";
constexpr std::string_view kCurrent = "current";
constexpr std::string_view kMultiDone = "multicommit_done";

// The session in progress, as stored: key, state, every participant it
// spans and the id of each that has committed.
//
// Encoding (fields of EncodeFields): key, state, then one pair per
// participant: name, id (null while it has not committed). A record written
// before participants were named (pairs with ids only, never null) has
// `named` false: it is completed over the participants registered, as then.
// New records carry a first pair ("", kNamedMark) to be told apart.
constexpr std::string_view kNamedMark = "participants-named";

struct Progress {
  std::string key;
  bool decided = false;
  bool named = true;
  std::map<std::string, std::optional<std::string>> parts;  // name -> id once committed

  static Progress Begun(std::string key, const std::map<std::string, std::shared_ptr<Committable>>& registered) {
    Progress p{std::move(key), false, true, {}};
    for (const auto& [n, part] : registered) p.parts[n];
    return p;
  }
  std::string Encode() const {
    std::vector<std::optional<std::string>> f{key, std::string(decided ? "decided" : "begun")};
    if (named) {
      f.emplace_back(std::string());
      f.emplace_back(std::string(kNamedMark));
    }
    for (const auto& [n, id] : parts) {
      f.emplace_back(n);
      f.push_back(id);
    }
    return internal::EncodeFields(f);
  }
  static Result<Progress> Decode(std::string_view bytes) {
    auto f = internal::DecodeFields(bytes, "multi-commit session record");
    if (!f.ok()) return f.status();
    if (f->size() < 2 || f->size() % 2 != 0 || !(*f)[0] || !(*f)[1]) {
      return Status::Corruption("multi-commit session record is malformed");
    }
    Progress p{*(*f)[0], *(*f)[1] == "decided", false, {}};
    std::size_t i = 2;
    if (f->size() >= 4 && (*f)[2] && (*f)[2]->empty() && (*f)[3] && *(*f)[3] == kNamedMark) {
      p.named = true;
      i = 4;
    }
    for (; i < f->size(); i += 2) {
      if (!(*f)[i] || (*f)[i]->empty()) return Status::Corruption("multi-commit session record of " + p.key + " names no participant");
      p.parts[*(*f)[i]] = (*f)[i + 1];
    }
    return p;
  }
  // Ids of the participants that committed, in name order.
  std::map<std::string, std::string> Ids() const {
    std::map<std::string, std::string> ids;
    for (const auto& [n, id] : parts) {
      if (id) ids[n] = *id;
    }
    return ids;
  }
};

}  // namespace

bool IsKeyMismatch(const Status& s) {
  return s.code() == Code::kInvalidArgument && s.message().rfind("key mismatch", 0) == 0;
}

bool IsMissingParticipant(const Status& s) {
  return s.code() == Code::kNotFound && s.message().rfind("missing participant", 0) == 0;
}

struct MultiCommitter::Impl {
  std::unique_ptr<internal::UserTables> tables;
  std::map<std::string, std::shared_ptr<Committable>> parts;  // name order
  bool in_session = false;
  std::string key;
  std::optional<std::string> replay;  // id of a key already completed

  Result<std::optional<Progress>> Load() {
    auto v = tables->Get(kTable, kCurrent);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return std::optional<Progress>();
    auto p = Progress::Decode(**v);
    if (!p.ok()) return p.status();
    return std::optional<Progress>(std::move(p).value());
  }
  Status Store(const Progress& p) {
    return tables->Write([&](KvTxn& t) { return t.put(kTable, kCurrent, p.Encode()); });
  }
  Status Clear() {
    return tables->Write([&](KvTxn& t) { return t.del(kTable, kCurrent); });
  }
  static std::string FinalId(const std::map<std::string, std::string>& ids) {
    std::vector<std::optional<std::string>> f;
    for (const auto& [n, id] : ids) f.emplace_back(id);  // name order
    return internal::Id128(internal::EncodeFields(f));
  }

  // An interrupted session is finished only with every participant it spans
  // registered: one left out might hold a prepared change that would then
  // never be applied (or cancelled) while the session is marked done.
  // Records from before participants were named span those registered.
  Status AdoptParticipants(Progress& p) const {
    if (!p.named) {
      for (const auto& [name, part] : parts) p.parts.try_emplace(name);
      p.named = true;
      return Status::OK();
    }
    std::string missing;
    for (const auto& [name, id] : p.parts) {
      if (parts.count(name)) continue;
      missing += (missing.empty() ? "" : ", ") + name;
    }
    if (missing.empty()) return Status::OK();
    return Status::NotFound("missing participant " + missing + ": session " + p.key + " (" +
                            (p.decided ? "decided, to be completed" : "undecided, to be rolled back") +
                            ") spans it, and it is not registered; register it, then begin(" + p.key +
                            ") or recover() finishes the session");
  }

  // Commits every participant of the session not committed yet, in name
  // order, recording each, then the result. REQUIRES: p.decided, every
  // participant of p registered.
  Result<std::string> CompleteDecided(Progress& p, bool recovering) {
    for (auto& [name, id_slot] : p.parts) {
      if (id_slot) continue;
      Committable& part = *parts.at(name);
      if (recovering) TXJ_RETURN_IF_ERROR(part.begin_recovery(p.key).WithContext("participant " + name));
      auto id = part.commit(p.key);
      if (!id.ok()) return id.status().WithContext("participant " + name + " (session " + p.key + " is decided)");
      id_slot = *id;
      TXJ_RETURN_IF_ERROR(Store(p).WithContext("session " + p.key + " is decided and participant " + name +
                                               " committed, but recording that failed; recover() or begin(" +
                                               p.key + ") completes the session"));
    }
    std::string final_id = FinalId(p.Ids());
    TXJ_RETURN_IF_ERROR(tables->Write([&](KvTxn& t) -> Status {
      TXJ_RETURN_IF_ERROR(t.put(kMultiDone, p.key, final_id));
      return t.del(kTable, kCurrent);
    }).WithContext("session " + p.key + " is committed in every participant, but recording its result failed; "
                   "recover() or begin(" + p.key + ") records it"));
    return final_id;
  }

  // Rolls an undecided session back on every participant it spans.
  // REQUIRES: every participant of p registered.
  Status RollBack(const Progress& p, bool recovering) {
    Status first;
    for (const auto& [name, unused] : p.parts) {
      Committable& part = *parts.at(name);
      Status s = recovering ? part.begin_recovery(p.key) : Status::OK();
      if (s.ok()) s = part.cancel();
      if (!s.ok() && first.ok()) first = s.WithContext("participant " + name);
    }
    TXJ_RETURN_IF_ERROR(first);
    return Clear();
  }

  // Finishes an interrupted session found in the catalog.
  Result<std::optional<std::string>> Finish(Progress& p) {
    TXJ_RETURN_IF_ERROR(AdoptParticipants(p));
    if (p.decided) {
      auto id = CompleteDecided(p, true);
      if (!id.ok()) return id.status();
      return std::optional<std::string>(*id);
    }
    TXJ_RETURN_IF_ERROR(RollBack(p, true));
    return std::optional<std::string>();
  }
};

MultiCommitter::MultiCommitter() : p_(std::make_unique<Impl>()) {}
MultiCommitter::~MultiCommitter() = default;

Result<std::unique_ptr<MultiCommitter>> MultiCommitter::open(Journal& journal) {
  auto m = std::unique_ptr<MultiCommitter>(new MultiCommitter());
  TXJ_RETURN_IF_ERROR(internal::ClaimUserTables(journal, &m->p_->tables));
  return m;
}

Status MultiCommitter::register_participant(const std::string& name, std::shared_ptr<Committable> participant) {
  if (p_->in_session) return Status::Busy("cannot register participant " + name + " during a session");
  if (name.empty() || !participant) return Status::InvalidArgument("participant needs a name and an object");
  if (!p_->parts.emplace(name, std::move(participant)).second) {
    return Status::InvalidArgument("participant " + name + " is already registered");
  }
  return Status::OK();
}

Status MultiCommitter::begin(std::string_view key) {
  Impl& m = *p_;
  if (m.in_session) return Status::Busy("already in a session (" + m.key + ")");
  if (key.empty()) return Status::InvalidArgument("empty idempotency key");
  auto cur = m.Load();
  if (!cur.ok()) return cur.status();
  std::optional<std::string> finished;
  if (cur->has_value()) {
    if ((*cur)->key != key) {
      return Status::InvalidArgument("key mismatch: session " + (*cur)->key +
                                     " was interrupted and must be finished first (begin with its key, or recover())");
    }
    auto done = m.Finish(**cur);
    if (!done.ok()) return done.status();
    finished = *done;
  }
  if (!finished) {
    auto prior = m.tables->Get(kMultiDone, key);
    if (!prior.ok()) return prior.status();
    finished = *prior;
  }
  m.key = std::string(key);
  if (finished) {  // completed before: commit() returns the original id, applies nothing
    m.replay = finished;
    m.in_session = true;
    return Status::OK();
  }
  // The key and the participants are durable before any participant begins.
  const Progress begun = Progress::Begun(m.key, m.parts);
  TXJ_RETURN_IF_ERROR(m.Store(begun).WithContext("session " + m.key + ": recording its start failed; nothing began"));
  for (const auto& [name, part] : m.parts) {
    Status s = part->begin(key);
    if (!s.ok()) {
      (void)m.RollBack(begun, false);
      return s.WithContext("participant " + name);
    }
  }
  m.replay.reset();
  m.in_session = true;
  return Status::OK();
}

Result<std::string> MultiCommitter::commit(std::string_view key) {
  Impl& m = *p_;
  if (!m.in_session) return Status::InvalidState("not in a session");
  if (key != m.key) return Status::InvalidArgument("key mismatch: the session in progress is " + m.key);
  m.in_session = false;
  if (m.replay) return *m.replay;
  for (const auto& [name, part] : m.parts) {
    Status s = part->prepare(key);
    if (!s.ok()) {
      (void)m.RollBack(Progress::Begun(m.key, m.parts), false);
      return s.WithContext("participant " + name + " failed to prepare; session " + m.key + " rolled back");
    }
  }
  Progress p = Progress::Begun(m.key, m.parts);
  p.decided = true;
  // The decision. Should recording it fail, the participants stay prepared:
  // what the catalog holds decides (a session recorded as begun is rolled
  // back by recover() or begin(key), one recorded as decided is completed).
  TXJ_RETURN_IF_ERROR(m.Store(p).WithContext("session " + m.key + ": recording the decision to commit failed, so "
                                             "it is not committed; recover() or begin(" + m.key +
                                             ") finishes it as the catalog says"));
  return m.CompleteDecided(p, false);
}

Status MultiCommitter::cancel() {
  Impl& m = *p_;
  if (!m.in_session) return Status::InvalidState("not in a session");
  m.in_session = false;
  if (m.replay) return Status::OK();
  return m.RollBack(Progress::Begun(m.key, m.parts), false);
}

Result<std::optional<std::string>> MultiCommitter::recover() {
  Impl& m = *p_;
  if (m.in_session) return Status::Busy("already in a session (" + m.key + ")");
  auto cur = m.Load();
  if (!cur.ok()) return cur.status();
  if (!cur->has_value()) return std::optional<std::string>();
  std::string key = (*cur)->key;
  auto done = m.Finish(**cur);
  if (!done.ok()) return done.status();
  return std::optional<std::string>(key);
}

Result<std::optional<std::string>> MultiCommitter::result_of(std::string_view key) {
  return p_->tables->Get(kMultiDone, key);
}

}  // namespace txj
