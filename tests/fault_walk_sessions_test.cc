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
#include "test_util.h"
#include "txjournal/committable.h"

using namespace txj;
using txj::test::FaultFileSystem;
using txj::test::FsOp;
using txj::test::TempDir;

namespace {

constexpr int kSessions = 8;

std::string Key(int s) { return "s" + std::to_string(s); }

struct Run {
  std::map<std::string, std::string> ids;  // sessions whose commit() returned an id
  std::vector<std::string> errors;
};

// One process lifetime: the journal (through `fs`) and the kv store in
// `kv_dir`, kSessions sessions; a failed session is cancelled (or left for
// recovery) and the next one goes on.
void RunSessions(const std::string& dir, const std::string& kv_dir, const std::shared_ptr<FileSystem>& fs, Run* run) {
  Options o = test::SmallOptions(Durability::kCommit);
  o.file_system = fs;
  auto j = Journal::open(dir, o);
  if (!j.ok()) {
    run->errors.push_back("open: " + j.status().ToString());
    return;
  }
  auto kv = KvParticipant::open(kv_dir);
  REQUIRE(kv.ok());
  std::shared_ptr<KvParticipant> kvp = std::move(kv).value();
  auto jp = std::make_shared<JournalParticipant>(**j);
  auto mc = MultiCommitter::open(**j);
  if (!mc.ok()) {
    run->errors.push_back("committer: " + mc.status().ToString());
    (void)(*j)->close();
    return;
  }
  REQUIRE((*mc)->register_participant("a-journal", jp).ok());
  REQUIRE((*mc)->register_participant("z-kv", kvp).ok());
  for (int s = 0; s < kSessions; ++s) {
    const std::string key = Key(s);
    Status st = (*mc)->begin(key);
    if (st.ok()) st = jp->append("orders", "placed", "order " + key + " " + std::string(3000, 'o'), {.key = key});
    if (st.ok()) st = jp->append("orders", "paid", "payment " + key, {.key = key});
    if (st.ok()) st = kvp->put("balance/" + key, std::to_string(100 + s));
    if (st.ok()) {
      auto id = (*mc)->commit(key);
      if (id.ok()) {
        run->ids[key] = *id;
        continue;
      }
      st = id.status();
    }
    run->errors.push_back(key + ": " + st.ToString());
    (void)(*mc)->cancel();  // before the decision it rolls back; after it, recovery completes
  }
  Status c = (*j)->close();
  if (!c.ok()) run->errors.push_back("close: " + c.ToString());
}

std::string Check(const std::string& dir, const std::string& kv_dir, const Run& run) {
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/JOURNAL", ec)) {
    return run.ids.empty() ? std::string() : "no manifest, but sessions committed";
  }
  if (std::string p = test::WalkProblems(dir, /*allow_tail=*/true); !p.empty()) return "before reopening: " + p;
  auto j = Journal::open(dir, test::SmallOptions(Durability::kCommit));
  if (!j.ok()) return "reopen: " + j.status().ToString();
  auto kv = KvParticipant::open(kv_dir);
  if (!kv.ok()) return "kv reopen: " + kv.status().ToString();
  std::shared_ptr<KvParticipant> kvp = std::move(kv).value();
  auto jp = std::make_shared<JournalParticipant>(**j);
  auto mc = MultiCommitter::open(**j);
  if (!mc.ok()) return "committer: " + mc.status().ToString();
  if (!(*mc)->register_participant("a-journal", jp).ok() || !(*mc)->register_participant("z-kv", kvp).ok()) {
    return "register failed";
  }
  auto rec = (*mc)->recover();
  if (!rec.ok()) return "recover: " + rec.status().ToString();
  // The journal's side: events per session key, whole transactions only.
  std::map<std::string, int> events;
  {
    auto view = test::ReadView(**j, 0, Filter::for_topics({"orders"}));
    if (!view.ok()) return "read: " + view.status().ToString();
    for (const auto& e : *view) events[e.key.value_or("")]++;
  }
  for (int s = 0; s < kSessions; ++s) {
    const std::string key = Key(s);
    const int n = events.count(key) ? events[key] : 0;
    auto bal = kvp->get("balance/" + key);
    if (!bal.ok()) return "kv get: " + bal.status().ToString();
    const bool in_kv = bal->has_value();
    if (n != 0 && n != 2) return "session " + key + " has " + std::to_string(n) + " of its 2 events in the journal";
    if ((n == 2) != in_kv) {
      return "session " + key + " is in " + (in_kv ? "the kv store only" : "the journal only");
    }
    if (in_kv && **bal != std::to_string(100 + s)) return "session " + key + " has a wrong balance";
    auto it = run.ids.find(key);
    if (it != run.ids.end()) {
      if (!in_kv) return "session " + key + " committed (id " + it->second + ") but is in neither store";
      auto again = (*mc)->result_of(key);
      if (!again.ok() || !again->has_value() || **again != it->second) {
        return "session " + key + ": its key no longer answers id " + it->second;
      }
    }
  }
  // A new session commits.
  if (Status b = (*mc)->begin("after"); !b.ok()) return "begin after reopen: " + b.ToString();
  if (Status a = jp->append("orders", "placed", "after", {.key = "after"}); !a.ok()) return "append: " + a.ToString();
  if (auto id = (*mc)->commit("after"); !id.ok()) return "commit after reopen: " + id.status().ToString();
  return test::ClosesSound(**j, dir);
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
