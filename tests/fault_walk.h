// The walk shared by the fault-injection tests over later capabilities
// (tests/fault_walk_*_test.cc): for every kind of file-system call and every
// N up to the clean run's count plus one, one run with the N-th call of that
// kind failing. By default one variant per call site, rotating (EIO once,
// EIO from then on, ENOSPC from then on for write/allocate/sync, a short
// write); TXJ_FAULT_VARIANTS=all runs every variant at every call. Below
// full TXJ_TEST_SCALE (the ThreadSanitizer run) a seeded sample of the calls,
// the first and last of each kind always (test_util.h, ScaledSample).
#ifndef TXJOURNAL_TESTS_FAULT_WALK_H_
#define TXJOURNAL_TESTS_FAULT_WALK_H_

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fault_fs.h"
#include "test_util.h"

namespace txj::test {

struct FaultVariant {
  const char* name;
  int error;
  bool sticky;
  bool short_write;
};

inline std::vector<FaultVariant> FaultVariantsFor(FsOp op) {
  std::vector<FaultVariant> v = {{"EIO once", EIO, false, false}, {"EIO from then on", EIO, true, false}};
  if (op == FsOp::kWrite || op == FsOp::kAllocate || op == FsOp::kSync) {
    v.push_back({"ENOSPC from then on", ENOSPC, true, false});
  }
  if (op == FsOp::kWrite) v.push_back({"short write", EIO, false, true});
  return v;
}

inline bool AllFaultVariants() {
  const char* s = std::getenv("TXJ_FAULT_VARIANTS");
  return s && std::strcmp(s, "all") == 0;
}

using FsOpCounts = std::array<std::uint64_t, kFsOpCount>;

// Calls `one(fs, where, variant)` once per fault: `fs` has the fault armed,
// `where` names it for INFO. `one` returns true if the run reported an error.
// Prints the figures under `what`.
template <typename OneRun>
void WalkFaults(const char* what, const FsOpCounts& clean, OneRun one) {
  const bool all = AllFaultVariants();
  const auto t0 = std::chrono::steady_clock::now();
  int runs = 0, injected = 0, reported = 0, rotation = 0, sampled_out = 0;
  ScaledSample sample(0xfa017);
  for (FsOp op : AllFsOps()) {
    const auto variants = FaultVariantsFor(op);
    const std::uint64_t n_max = clean[static_cast<std::size_t>(op)] + 1;
    for (std::uint64_t n = 1; n <= n_max; ++n) {
      if (n != 1 && n != n_max && !sample.Keep()) {
        ++sampled_out;
        continue;
      }
      std::vector<FaultVariant> chosen;
      if (all) {
        chosen = variants;
      } else {
        chosen.push_back(variants[static_cast<std::size_t>(rotation++) % variants.size()]);
      }
      for (const FaultVariant& v : chosen) {
        auto fs = std::make_shared<FaultFileSystem>();
        if (v.short_write) {
          fs->ArmShortWrite(n, v.sticky);
        } else {
          fs->Arm(op, n, v.error, v.sticky);
        }
        const std::string where = std::string(FsOpName(op)) + " call " + std::to_string(n) + " of " +
                                  std::to_string(n_max - 1) + ", " + v.name;
        reported += one(fs, where, v) ? 1 : 0;
        ++runs;
        injected += fs->Injected() > 0 ? 1 : 0;
      }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string per;
  for (FsOp op : AllFsOps()) per += " " + std::string(FsOpName(op)) + "=" + std::to_string(clean[static_cast<std::size_t>(op)]);
  std::printf("fault injection (%s): clean run calls:%s\n", what, per.c_str());
  std::printf("fault injection (%s): %d runs (%s), %d with a failure injected, %d reported an error, %.1f s\n", what,
              runs, all ? "all variants" : "rotating variants", injected, reported, secs);
  if (!sample.full()) {
    std::printf("fault injection (%s): scale %d%%: %d fault sites sampled out, each kept with probability %.2f\n", what,
                Scaled(100), sampled_out, sample.probability());
  }
}

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_FAULT_WALK_H_
