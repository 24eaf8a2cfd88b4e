// libFuzzer target: journal-dump (tools/dump_tool.h) on an arbitrary
// journal directory built from the input by fuzz_dir.h (raw mode: arbitrary
// JOURNAL and segment files). Whatever the bytes, it must not crash, and it
// must end with one of its documented exit codes.
//
// Each input runs one of journal-dump's modes, chosen by bits 3..5 of its
// first byte (unused by the journal layout of fuzz_dir.h), so the fuzzer
// explores them all at the cost of one; the directory is written sparse in
// a directory reused from input to input. With TXJ_FUZZ_FULL=1 (the corpus
// replays) every input runs every mode.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>

#include "dump_tool.h"
#include "fuzz_dir.h"
#include "journal_mutator.h"  // the custom mutator, in the libFuzzer build

namespace {

void Dump(const std::vector<std::string>& mode, const std::string& dir) {
  std::vector<std::string> args = mode;
  args.push_back(dir);
  std::ostringstream out, err;
  int rc;
  try {
    rc = txj::tools::RunDump(args, out, err);
  } catch (const std::exception& e) {
    // journal-dump reports every problem as a status and an exit code:
    // anything thrown out of it is a finding (an event name that is not
    // UTF-8 once was: it is printed as topic_b64 / type_b64 now).
    std::fprintf(stderr, "journal-dump threw: %s\n", e.what());
    __builtin_trap();
  }
  if (rc != txj::tools::kDumpOk && rc != txj::tools::kDumpDamaged && rc != txj::tools::kDumpUnreadable) {
    std::fprintf(stderr, "journal-dump exited %d: %s\n", rc, err.str().c_str());
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::vector<std::string>> kModes = {
      {"--raw"}, {"--verify"}, {"--stats"}, {"--format", "jsonl"}, {"--raw", "--format", "jsonl"}};
  const std::string dir = txj::fuzz::BuildJournalDirReused(data, size);
  if (txj::fuzz::FullChecks()) {
    for (const auto& mode : kModes) Dump(mode, dir);
  } else {
    Dump(kModes[(size ? (data[0] >> 3) & 7u : 0u) % kModes.size()], dir);
  }
  return 0;
}
