// The two stores the multi-store session tests commit to (a journal
// participant and a key-value participant, registered with a committer on
// the journal as "a-journal" and "z-kv"), and one session over them: what
// fault_walk_sessions_test and catalog_fault_test run under faults.
#ifndef TXJOURNAL_TESTS_SESSION_STORES_H_
#define TXJOURNAL_TESTS_SESSION_STORES_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "txjournal/committable.h"
#include "txjournal/journal.h"
#include "txn_model.h"

namespace txj::test {

// The key of the s-th session of a run: "s0", "s1", …
inline std::string SessionKey(int s) { return "s" + std::to_string(s); }

struct SessionStores {
  std::shared_ptr<KvParticipant> kvp;
  std::shared_ptr<JournalParticipant> jp;
  std::unique_ptr<MultiCommitter> mc;
};

// Opens the kv store in `kv_dir`, the committer on `j` and registers both
// participants. Empty when all went well, else what failed ("kv reopen: …",
// "committer: …", "register failed"); the members opened so far are set.
inline std::string OpenSessionStores(Journal& j, const std::string& kv_dir, SessionStores* s) {
  auto kv = KvParticipant::open(kv_dir);
  if (!kv.ok()) return "kv reopen: " + kv.status().ToString();
  s->kvp = std::move(kv).value();
  s->jp = std::make_shared<JournalParticipant>(j);
  auto mc = MultiCommitter::open(j);
  if (!mc.ok()) return "committer: " + mc.status().ToString();
  s->mc = std::move(mc).value();
  if (!s->mc->register_participant("a-journal", s->jp).ok() || !s->mc->register_participant("z-kv", s->kvp).ok()) {
    return "register failed";
  }
  return std::string();
}

// For a run under faults, which reach the journal only: OpenSessionStores,
// REQUIRing that the kv store opens and the participants register. A
// committer that cannot open is added to `errors` and false returned.
inline bool OpenSessionStoresForRun(Journal& j, const std::string& kv_dir, SessionStores* s,
                                    std::vector<std::string>* errors) {
  const std::string opened = OpenSessionStores(j, kv_dir, s);
  REQUIRE(s->kvp);
  if (!s->mc) {
    errors->push_back(opened);
    return false;
  }
  REQUIRE(opened.empty());
  return true;
}

// One session `key`: begin, `stage` (the participants' writes), commit.
// The session's id, or the first error; then the session is cancelled
// (before the decision that rolls it back; after it, recovery completes it).
inline Result<std::string> CommitSession(SessionStores& s, const std::string& key,
                                         const std::function<Status()>& stage) {
  Status st = s.mc->begin(key);
  if (st.ok()) st = stage();
  if (st.ok()) {
    auto id = s.mc->commit(key);
    if (id.ok()) return id;
    st = id.status();
  }
  (void)s.mc->cancel();
  return st;
}

// Where one session stands after recovery.
struct SessionSeen {
  std::string key;                     // "s0", "s1", …
  int events = 0;                      // its events in topic "orders"
  std::optional<std::string> balance;  // its "balance/<key>" in the kv store
  std::optional<std::string> result;   // what the committer's result_of answers
};

// Opens the stores on the reopened `j` (OpenSessionStores), lets the
// committer recover, and reads where each of the sessions 0 to
// `sessions` - 1 (SessionKey) stands into `seen`. Empty, or what failed.
inline std::string RecoverSessions(Journal& j, const std::string& kv_dir, int sessions, SessionStores* st,
                                   std::vector<SessionSeen>* seen) {
  if (std::string e = OpenSessionStores(j, kv_dir, st); !e.empty()) return e;
  if (auto rec = st->mc->recover(); !rec.ok()) return "recover: " + rec.status().ToString();
  auto view = ReadView(j, 0, Filter::for_topics({"orders"}));
  if (!view.ok()) return "read: " + view.status().ToString();
  std::map<std::string, int> events;
  for (const auto& e : *view) events[e.key.value_or("")]++;
  for (int s = 0; s < sessions; ++s) {
    SessionSeen x{SessionKey(s)};
    x.events = events.count(x.key) ? events[x.key] : 0;
    auto bal = st->kvp->get("balance/" + x.key);
    if (!bal.ok()) return "kv get: " + bal.status().ToString();
    x.balance = *bal;
    auto done = st->mc->result_of(x.key);
    if (!done.ok()) return "result_of: " + done.status().ToString();
    x.result = *done;
    seen->push_back(std::move(x));
  }
  return std::string();
}

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_SESSION_STORES_H_
