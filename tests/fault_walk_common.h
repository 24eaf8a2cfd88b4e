// What the fault_walk_* tests share: the test body (a clean run, then every
// file-system call of the same workload failing in turn, fault_walk.h), the
// end of every check (the journal closes and walks clean) and the errors a
// description shows.
#ifndef TXJOURNAL_TESTS_FAULT_WALK_COMMON_H_
#define TXJOURNAL_TESTS_FAULT_WALK_COMMON_H_

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include "fault_fs.h"
#include "fault_walk.h"
#include "reliability_workload.h"
#include "test_util.h"
#include "txjournal/journal.h"

namespace txj::test {

// " [e1] [e2] [e3]": the first three errors of a run.
inline std::string FirstErrors(const std::vector<std::string>& errors) {
  std::string s;
  for (std::size_t e = 0; e < errors.size() && e < 3; ++e) s += " [" + errors[e] + "]";
  return s;
}

// The last step of every check after a reopen: the journal closes and its
// directory walks without damage. Empty when so, else what went wrong.
inline std::string ClosesSound(Journal& j, const std::string& dir) {
  if (Status c = j.close(); !c.ok()) return "close after reopen: " + c.ToString();
  if (std::string p = WalkProblems(dir, /*allow_tail=*/false); !p.empty()) return "after reopen: " + p;
  return std::string();
}

// The options of a workload under faults: SmallOptions with every commit
// synced, on `fs`.
inline Options OnFaults(std::shared_ptr<FileSystem> fs) {
  Options o = SmallOptions(Durability::kCommit);
  o.file_system = std::move(fs);
  return o;
}

// Opens `dir` with OnFaults(fs); null, with "open: <error>" added to
// `errors`, when it cannot.
inline std::unique_ptr<Journal> OpenOnFaults(const std::string& dir, std::shared_ptr<FileSystem> fs,
                                             std::vector<std::string>* errors) {
  auto j = Journal::open(dir, OnFaults(std::move(fs)));
  if (!j.ok()) {
    errors->push_back("open: " + j.status().ToString());
    return nullptr;
  }
  return std::move(j).value();
}

// The start of every check: a directory without a manifest is sound unless
// the run was promised something, when `if_absent` says what (empty when
// nothing was promised); a directory with one must walk (a torn tail
// allowed) and reopen. Sets *j when the check goes on; else returns the
// problem, or empty when there is nothing to check.
inline std::string ReopenForCheck(const std::string& dir, const std::string& if_absent, std::unique_ptr<Journal>* j) {
  std::error_code ec;
  if (!std::filesystem::exists(dir + "/JOURNAL", ec)) return if_absent;
  if (std::string p = WalkProblems(dir, /*allow_tail=*/true); !p.empty()) return "before reopening: " + p;
  auto opened = Journal::open(dir, SmallOptions(Durability::kCommit));
  if (!opened.ok()) return "reopen: " + opened.status().ToString();
  *j = std::move(opened).value();
  return std::string();
}

// One fault walk. `Run` holds what a workload did, with its `errors`.
template <class Run>
struct FaultWalkCase {
  const char* name;  // for the walk's messages
  // Runs the workload in `dir` on `fs`.
  std::function<void(const TempDir& dir, const std::shared_ptr<FaultFileSystem>& fs, Run* run)> work;
  // Reopens what the workload left: empty when every promise held.
  std::function<std::string(const TempDir& dir, const Run& run)> check;
  std::function<std::string(const Run& run)> describe;
  // The clean run did all its work.
  std::function<bool(const Run& run)> complete;
};

// A walk whose workload and check use one journal directory, "j" in the
// run's temporary directory.
template <class Run>
FaultWalkCase<Run> OneJournalWalk(const char* name,
                                  void (*work)(const std::string& dir, const std::shared_ptr<FileSystem>& fs, Run* run),
                                  std::string (*check)(const std::string& dir, const Run& run),
                                  std::string (*describe)(const Run& run), bool (*complete)(const Run& run)) {
  return {
      name,
      [work](const TempDir& d, const std::shared_ptr<FaultFileSystem>& fs, Run* run) { work(d.sub("j"), fs, run); },
      [check](const TempDir& d, const Run& run) { return check(d.sub("j"), run); },
      describe,
      complete,
  };
}

// The workload once without faults (it must succeed and check clean, and
// counts the calls), then once per call failing (fault_walk.h).
template <class Run>
void RunFaultWalk(const FaultWalkCase<Run>& c) {
  FsOpCounts counts{};
  {
    TempDir d;
    auto fs = std::make_shared<FaultFileSystem>();
    Run run;
    c.work(d, fs, &run);
    INFO(c.describe(run));
    REQUIRE(run.errors.empty());
    REQUIRE(c.complete(run));
    counts = fs->Counts();
    CHECK(c.check(d, run) == "");
  }
  WalkFaults(c.name, counts,
             [&](const std::shared_ptr<FaultFileSystem>& fs, const std::string& where, const FaultVariant&) {
               TempDir d;
               Run run;
               c.work(d, fs, &run);
               INFO("fault: ", where, "; ", c.describe(run));
               CHECK(c.check(d, run) == "");
               return !run.errors.empty();
             });
}

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_FAULT_WALK_COMMON_H_
