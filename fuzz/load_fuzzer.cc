// libFuzzer target: journal-load (tools/load_tool.h) on arbitrary input
// lines, into a fresh journal. It must not crash, must end with one of its
// documented exit codes, and what it committed must read back: the
// journal's committed view has exactly as many events as the commits it
// reported.
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "fuzz_dir.h"
#include "load_tool.h"
#include "txjournal/journal.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  txj::fuzz::CleanWorkDir();
  std::filesystem::create_directories(txj::fuzz::WorkDir());
  const std::string dir = txj::fuzz::WorkDir() + "/j";
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::ostringstream out, err;
  const int rc = txj::tools::RunLoad({dir, "-", "--durability", "none", "--segment-size", "65536"}, in, out, err);
  // kLoadJournal would mean the fresh journal could not be opened: not an
  // answer to any input.
  if (rc != txj::tools::kLoadOk && rc != txj::tools::kLoadBadInput) {
    std::fprintf(stderr, "journal-load exited %d: %s\n", rc, err.str().c_str());
    __builtin_trap();
  }
  // Count the events it says it committed.
  std::uint64_t reported = 0;
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    const auto p = line.find("\"count\":");
    if (p != std::string::npos) reported += std::strtoull(line.c_str() + p + 8, nullptr, 10);
  }
  {
    txj::Options o;
    o.read_only = true;
    auto j = txj::Journal::open(dir, o);
    if (j.ok() && (*j)->next_offset() != reported) {
      std::fprintf(stderr, "journal-load reported %llu events, the journal holds %llu\n",
                   static_cast<unsigned long long>(reported),
                   static_cast<unsigned long long>((*j)->next_offset()));
      __builtin_trap();
    }
  }
  txj::fuzz::CleanWorkDir();
  return 0;
}
