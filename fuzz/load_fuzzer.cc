// libFuzzer target: journal-load (tools/load_tool.h, a thin program over
// the library's JsonlLoader, txjournal/dump.h) on arbitrary input lines,
// into a fresh journal. It must not crash, must end with one of its
// documented exit codes, and what it committed must read back: the
// journal's committed view has exactly as many events as the commits it
// reported.
//
// The journal lives in an in-memory file system (mem_fs.h; only its LOCK
// file is on disk, in a directory reused from input to input) and is opened
// without its LMDB catalog (internal::OpenWithoutCatalog): an LMDB
// environment per input cost more than everything else. The catalog holds
// only derived data for what journal-load does (checkpoints, the offset
// index); the journal itself is written as by journal-load.
//
// With TXJ_FUZZ_FULL=1 (the corpus replays of CI and of the test suite) each
// input also goes through the original path: a fresh journal on disk, opened
// by journal-load with its catalog, read back by a read-only open.
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "fuzz_dir.h"
#include "journal_state.h"
#include "load_tool.h"
#include "mem_fs.h"
#include "txjournal/journal.h"

namespace {

// Runs journal-load on `data` into `dir`; checks its exit code and that the
// journal (opened by `open`) holds as many events as the commits it reported.
void LoadAndCheck(const std::uint8_t* data, std::size_t size, const std::string& dir, const txj::tools::LoadEnv& env,
                  const std::shared_ptr<txj::FileSystem>& fs, txj::fuzz::MemFileSystem* mem) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::ostringstream out, err;
  const int rc = txj::tools::RunLoad({dir, "-", "--durability", "none", "--segment-size", "65536"}, in, out, err, env);
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
  if (mem) mem->Resync();  // the load wrote through its mappings
  txj::Options o;
  o.read_only = true;
  o.file_system = fs;
  auto j = mem ? txj::internal::OpenWithoutCatalog(dir, o) : txj::Journal::open(dir, o);
  if (j.ok() && (*j)->next_offset() != reported) {
    std::fprintf(stderr, "journal-load reported %llu events, the journal holds %llu\n",
                 static_cast<unsigned long long>(reported), static_cast<unsigned long long>((*j)->next_offset()));
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    static const std::string dir = txj::fuzz::SideDir("load");
    static auto* mem = new txj::fuzz::MemFileSystem();
    static const std::shared_ptr<txj::FileSystem> fs(mem, [](txj::FileSystem*) {});
    static const txj::tools::LoadEnv env = [] {
      txj::tools::LoadEnv e;
      e.open = [](const std::string& d, const txj::Options& options) {
        txj::Options o = options;
        o.file_system = fs;
        return txj::internal::OpenWithoutCatalog(d, o);
      };
      return e;
    }();
    mem->Reset();
    mem->AddDir(dir);
    LoadAndCheck(data, size, dir, env, fs, mem);
    mem->Reset();
  }
  if (txj::fuzz::FullChecks()) {
    txj::fuzz::CleanWorkDir();
    std::filesystem::create_directories(txj::fuzz::WorkDir());
    LoadAndCheck(data, size, txj::fuzz::WorkDir() + "/j", {}, nullptr, nullptr);
    txj::fuzz::CleanWorkDir();
  }
  return 0;
}
