// libFuzzer target: journal-dump (tools/dump_tool.h, a thin program over
// the library's dump format, txjournal/dump.h: JsonlRecordWriter,
// JsonlEventLine, PrintableText) on an arbitrary journal directory built
// from the input by fuzz_dir.h (raw mode: arbitrary JOURNAL and segment
// files). Whatever the bytes, it must not crash, and it must end with one of
// its documented exit codes.
//
// Each input runs one of journal-dump's modes, chosen by bits 3..5 of its
// first byte (unused by the journal layout of fuzz_dir.h), so the fuzzer
// explores them all at the cost of one, on the journal built in an
// in-memory file system (mem_fs.h, given to journal-dump as DumpEnv). With
// TXJ_FUZZ_FULL=1 (the corpus replays) every input also runs every mode on
// the directory written on disk (sparse, in a directory reused from input
// to input), as before.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <utility>

#include "dump_tool.h"
#include "fuzz_dir.h"
#include "journal_mutator.h"  // the custom mutator, in the libFuzzer build
#include "mem_fs.h"
#include "walk_fs.h"

namespace {

// Runs journal-dump in `mode` on `dir`; returns its exit code and its
// output with `dir` replaced by "DIR".
std::pair<int, std::string> Dump(const std::vector<std::string>& mode, const std::string& dir,
                                 const txj::tools::DumpEnv& env) {
  std::vector<std::string> args = mode;
  args.push_back(dir);
  std::ostringstream out, err;
  int rc;
  try {
    rc = txj::tools::RunDump(args, out, err, env);
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
  std::string text = out.str() + err.str();
  for (std::size_t p; (p = text.find(dir)) != std::string::npos;) text.replace(p, dir.size(), "DIR");
  return {rc, text};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::vector<std::string>> kModes = {
      {"--raw"}, {"--verify"}, {"--stats"}, {"--format", "jsonl"}, {"--raw", "--format", "jsonl"}};
  {
    // In memory (mem_fs.h); the directory exists on disk too, empty, for
    // what the tool and an open look up by path (stat, lstat, snapshots).
    static const std::string dir = txj::fuzz::SideDir("dump");
    static auto* mem = new txj::fuzz::MemFileSystem();
    static const txj::tools::DumpEnv env = [] {
      txj::tools::DumpEnv e;
      e.file_system = std::shared_ptr<txj::FileSystem>(mem, [](txj::FileSystem*) {});
      e.walk = [fs = e.file_system](const std::string& d, const std::function<void(const txj::RawRecord&)>& visit,
                                    const std::function<void(const txj::WalkStart&)>& on_start) {
        return txj::internal::WalkJournalOn(fs, d, visit, on_start);
      };
      return e;
    }();
    txj::fuzz::BuildJournalInMemory(data, size, *mem, dir);
    const std::size_t pick = (size ? (data[0] >> 3) & 7u : 0u) % kModes.size();
    const auto in_memory = Dump(kModes[pick], dir, env);
    mem->Reset();
    if (txj::fuzz::FullChecks()) {
      // The original path: sparse files on disk, every mode; the picked one
      // must say what it said in memory.
      const std::string disk_dir = txj::fuzz::BuildJournalDirReused(data, size);
      for (std::size_t m = 0; m < kModes.size(); ++m) {
        const auto on_disk = Dump(kModes[m], disk_dir, {});
        if (m == pick && on_disk != in_memory) {
          std::fprintf(stderr, "journal-dump in memory (exit %d):\n%s\non disk (exit %d):\n%s\n", in_memory.first,
                       in_memory.second.c_str(), on_disk.first, on_disk.second.c_str());
          __builtin_trap();
        }
      }
    }
  }
  return 0;
}
