// libFuzzer target: journal-dump (tools/dump_tool.h) on an arbitrary
// journal directory built from the input by fuzz_dir.h (raw mode: arbitrary
// JOURNAL and segment files). Whatever the bytes, it must not crash, and it
// must end with one of its documented exit codes.
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "dump_tool.h"
#include "fuzz_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string dir = txj::fuzz::BuildJournalDir(data, size);
  static const std::vector<std::vector<std::string>> kArgs = {
      {"--raw"}, {"--verify"}, {"--stats"}, {"--format", "jsonl"}, {"--raw", "--format", "jsonl"}};
  for (const auto& a : kArgs) {
    std::vector<std::string> args = a;
    args.push_back(dir);
    std::ostringstream out, err;
    const int rc = txj::tools::RunDump(args, out, err);
    if (rc != txj::tools::kDumpOk && rc != txj::tools::kDumpDamaged && rc != txj::tools::kDumpUnreadable) {
      std::fprintf(stderr, "journal-dump exited %d: %s\n", rc, err.str().c_str());
      __builtin_trap();
    }
  }
  txj::fuzz::CleanWorkDir();
  return 0;
}
