// What the fault_walk_* tests share: the test body (a clean run, then every
// file-system call of the same workload failing in turn, fault_walk.h), the
// end of every check (the journal closes and walks clean) and the errors a
// description shows.
#ifndef TXJOURNAL_TESTS_FAULT_WALK_COMMON_H_
#define TXJOURNAL_TESTS_FAULT_WALK_COMMON_H_

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
