// Fault injection over multi-store commits: every file-system call of the
// journal during a run of sessions (a journal participant and a key-value
// participant, tests/committer_test.cc) is failed in turn. Afterwards the
// journal is reopened with the default file system, the committer recovers
// whatever session was interrupted, and every session must be all or
// nothing across the two stores; a session whose commit() returned an id is
// in both, and its key still answers that id.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fault_fs.h"
#include "fault_walk.h"
#include "fault_walk_common.h"
#include "reliability_workload.h"
#include "session_stores.h"
#include "test_util.h"
#include "txjournal/committable.h"

using namespace txj;
using txj::test::FaultFileSystem;
using txj::test::TempDir;

namespace {

constexpr int kSessions = 8;

struct Run {
  std::map<std::string, std::string> ids;  // sessions whose commit() returned an id
  std::vector<std::string> errors;
};

// One process lifetime: the journal (through `fs`) and the kv store in
// `kv_dir`, kSessions sessions; a failed session is cancelled (or left for
// recovery) and the next one goes on.
void RunSessions(const std::string& dir, const std::string& kv_dir, const std::shared_ptr<FileSystem>& fs, Run* run) {
  auto j = test::OpenOnFaults(dir, fs, &run->errors);
  if (!j) return;
  test::SessionStores st;
  if (!test::OpenSessionStoresForRun(*j, kv_dir, &st, &run->errors)) {
    (void)j->close();
    return;
  }
  for (int s = 0; s < kSessions; ++s) {
    const std::string key = test::SessionKey(s);
    auto id = test::CommitSession(st, key, [&] {
      Status a = st.jp->append("orders", "placed", "order " + key + " " + std::string(3000, 'o'), {.key = key});
      if (a.ok()) a = st.jp->append("orders", "paid", "payment " + key, {.key = key});
      return a.ok() ? st.kvp->put("balance/" + key, std::to_string(100 + s)) : a;
    });
    if (id.ok()) {
      run->ids[key] = *id;
    } else {
      run->errors.push_back(key + ": " + id.status().ToString());
    }
  }
  Status c = j->close();
  if (!c.ok()) run->errors.push_back("close: " + c.ToString());
}

std::string Check(const std::string& dir, const std::string& kv_dir, const Run& run) {
  std::unique_ptr<Journal> j;
  if (std::string p = test::ReopenForCheck(dir, run.ids.empty() ? "" : "no manifest, but sessions committed", &j); !j) {
    return p;
  }
  test::SessionStores st;
  std::vector<test::SessionSeen> seen;
  if (std::string e = test::RecoverSessions(*j, kv_dir, kSessions, &st, &seen); !e.empty()) return e;
  // Each session whole on both sides: its 2 events (one transaction) and its
  // balance, or neither.
  for (int s = 0; s < kSessions; ++s) {
    const test::SessionSeen& x = seen[static_cast<std::size_t>(s)];
    const bool in_kv = x.balance.has_value();
    if (x.events != 0 && x.events != 2) {
      return "session " + x.key + " has " + std::to_string(x.events) + " of its 2 events in the journal";
    }
    if ((x.events == 2) != in_kv) {
      return "session " + x.key + " is in " + (in_kv ? "the kv store only" : "the journal only");
    }
    if (in_kv && *x.balance != std::to_string(100 + s)) return "session " + x.key + " has a wrong balance";
    auto it = run.ids.find(x.key);
    if (it != run.ids.end()) {
      if (!in_kv) return "session " + x.key + " committed (id " + it->second + ") but is in neither store";
      if (x.result != it->second) return "session " + x.key + ": its key no longer answers id " + it->second;
    }
  }
  // A new session commits.
  if (Status b = st.mc->begin("after"); !b.ok()) return "begin after reopen: " + b.ToString();
  if (Status a = st.jp->append("orders", "placed", "after", {.key = "after"}); !a.ok()) {
    return "append: " + a.ToString();
  }
  if (auto id = st.mc->commit("after"); !id.ok()) return "commit after reopen: " + id.status().ToString();
  return test::ClosesSound(*j, dir);
}

std::string Describe(const Run& run) {
  std::string s = std::to_string(run.ids.size()) + " of " + std::to_string(kSessions) + " sessions committed; errors:";
  return s + test::FirstErrors(run.errors);
}

}  // namespace

TEST_CASE("every file-system call of a run of multi-store sessions can fail and each session stays all or nothing") {
  test::RunFaultWalk<Run>({
      "sessions",
      [](const TempDir& d, const std::shared_ptr<FaultFileSystem>& fs, Run* run) { RunSessions(d.sub("j"), d.sub("kv"), fs, run); },
      [](const TempDir& d, const Run& run) { return Check(d.sub("j"), d.sub("kv"), run); },
      Describe,
      [](const Run& run) { return run.ids.size() == kSessions; },
  });
}
