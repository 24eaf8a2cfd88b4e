// libFuzzer target: loading arbitrary JSON lines into a fresh journal with
// the library's loader (txjournal/dump.h: ParseJsonlHeader, JsonlLoader,
// JsonlAppliedLine; import.h: ImportPositionOf), as journal-load does
// (tools/load_tool.cc) without its command line. Whatever the lines, it
// must not crash; every error must be the input's (kInvalidArgument: a
// journal that refuses a fresh, in-memory load is a finding, as journal-load
// exiting with kLoadJournal was); and what it committed must read back: a
// reopened journal's committed view has exactly as many offsets as the
// commits and gaps the loader reported.
//
// The journal lives in an in-memory file system (mem_fs.h; only its LOCK
// file is on disk, in a directory reused from input to input) and is opened
// without its LMDB catalog and without background threads
// (internal::OpenWithoutCatalog): an LMDB environment and three threads per
// input cost more than everything else. The catalog holds only derived data
// for what a load does (checkpoints, the offset index). The journal is not
// created per input: each input starts from a copy of the files of one
// created at the first input (MemFileSystem::Snapshot), and its writable
// open is the reopen of that fresh journal.
//
// With TXJ_FUZZ_FULL=1 (the corpus replays of CI and of the test suite) each
// input also goes through journal-load itself (tools/load_tool.h, RunLoad):
// a fresh journal on disk opened with its catalog and threads, read back by
// a read-only open; its exit code must be what the library's status says
// (0 for success, kLoadBadInput for kInvalidArgument) and its output the
// same commit lines.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_dir.h"
#include "journal_state.h"
#include "load_tool.h"
#include "mem_fs.h"
#include "txjournal/dump.h"
#include "txjournal/import.h"
#include "txjournal/journal.h"

namespace {

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  __builtin_trap();
}

// What a load did: its status (OK, or the first error) and the lines it
// reported (one per top-level commit or gap), as journal-load prints them.
struct Loaded {
  txj::Status status;
  std::string lines;
  std::uint64_t offsets = 0;  // offsets taken by the commits and gaps reported
};

// The lines of `data` into the journal `j` (fresh), as journal-load's Load
// does after opening it.
Loaded LoadLines(std::string_view data, txj::Journal& j, bool copy) {
  Loaded r;
  if (copy) {
    auto pos = txj::ImportPositionOf(j);
    if (!pos.ok() || !pos->empty) Finding("a fresh journal is not empty for a copy: " + pos.status().ToString());
  }
  txj::JsonlLoader loader(j, copy);
  std::uint64_t lineno = 0;
  std::size_t at = 0;
  while (at < data.size()) {
    std::size_t end = data.find('\n', at);
    const bool last = end == std::string_view::npos;
    if (last) end = data.size();
    const std::string_view line = data.substr(at, end - at);
    at = last ? end : end + 1;
    auto applied = loader.apply(line, ++lineno);
    if (!applied.ok()) {
      r.status = applied.status();
      return r;
    }
    if (applied->kind == txj::JsonlApplied::Kind::kNothing) continue;
    r.lines += txj::JsonlAppliedLine(*applied) + "\n";
    r.offsets += applied->count;
  }
  r.status = loader.finish(lineno + 1);
  return r;
}

// The first line with content, as journal-load reads it before opening the
// journal (a copy's header).
std::string_view FirstLine(std::string_view data) {
  std::size_t at = 0;
  while (at < data.size()) {
    std::size_t end = data.find('\n', at);
    if (end == std::string_view::npos) end = data.size();
    const std::string_view line = data.substr(at, end - at);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) return line;
    at = end + 1;
  }
  return {};
}

txj::Options LoadOptions() {
  txj::Options o;
  o.segment_size = 65536;  // small segments: loads roll
  o.durability = txj::Durability::kNone;
  return o;
}

// The in-memory load through the library.
Loaded LoadInMemory(std::string_view data, const std::string& dir, const std::shared_ptr<txj::FileSystem>& fs,
                    txj::fuzz::MemFileSystem& mem) {
  const bool copy = txj::ParseJsonlHeader(FirstLine(data)).copy;
  txj::Options o = LoadOptions();
  o.file_system = fs;
  auto j = txj::internal::OpenWithoutCatalog(dir, o, /*without_threads=*/true);
  if (!j.ok()) Finding("a fresh in-memory journal could not be opened: " + j.status().ToString());
  Loaded r = LoadLines(data, **j, copy);
  // Only the input is at fault: any other code means the journal refused.
  if (!r.status.ok() && r.status.code() != txj::Code::kInvalidArgument) {
    Finding("the journal refused a load (not the input's fault): " + r.status.ToString());
  }
  if (txj::Status c = (*j)->close(); !c.ok()) Finding("close after a load: " + c.ToString());
  j->reset();
  mem.Resync();  // the load wrote through its mappings
  // What was reported committed reads back.
  txj::Options ro;
  ro.read_only = true;
  ro.file_system = fs;
  auto back = txj::internal::OpenWithoutCatalog(dir, ro);
  if (!back.ok()) Finding("reopen after a load: " + back.status().ToString());
  if ((*back)->next_offset() != r.offsets) {
    Finding("the loader reported " + std::to_string(r.offsets) + " offsets, the journal holds " +
            std::to_string((*back)->next_offset()));
  }
  return r;
}

// journal-load itself, on disk, with its catalog and threads: the same
// answer as the library's.
void LoadWithTool(std::string_view data, const Loaded& in_memory) {
  txj::fuzz::CleanWorkDir();
  std::filesystem::create_directories(txj::fuzz::WorkDir());
  const std::string dir = txj::fuzz::WorkDir() + "/j";
  std::istringstream in{std::string(data)};
  std::ostringstream out, err;
  const int rc = txj::tools::RunLoad({dir, "-", "--durability", "none", "--segment-size", "65536"}, in, out, err);
  const int expect = in_memory.status.ok() ? txj::tools::kLoadOk : txj::tools::kLoadBadInput;
  if (rc != expect || out.str() != in_memory.lines) {
    Finding("journal-load exited " + std::to_string(rc) + " (the library said " + in_memory.status.ToString() +
            ", exit " + std::to_string(expect) + "): " + err.str() + "\njournal-load printed:\n" + out.str() +
            "the library reported:\n" + in_memory.lines);
  }
  txj::Options o;
  o.read_only = true;
  auto j = txj::Journal::open(dir, o);
  if (j.ok() && (*j)->next_offset() != in_memory.offsets) {
    Finding("journal-load committed " + std::to_string((*j)->next_offset()) + " offsets, the library " +
            std::to_string(in_memory.offsets));
  }
  txj::fuzz::CleanWorkDir();
}

// The files of a fresh journal in `dir` (created once, closed): every
// input's load starts from a copy of them, as creating one per input would
// give the same files (the creation does not depend on the input).
const txj::fuzz::MemFileSystem::Snapshot& FreshJournal(const std::string& dir,
                                                       const std::shared_ptr<txj::FileSystem>& fs,
                                                       txj::fuzz::MemFileSystem& mem) {
  static const txj::fuzz::MemFileSystem::Snapshot fresh = [&] {
    mem.Reset();
    mem.AddDir(dir);
    txj::Options o = LoadOptions();
    o.file_system = fs;
    auto j = txj::internal::OpenWithoutCatalog(dir, o, /*without_threads=*/true);
    if (!j.ok()) Finding("a fresh in-memory journal could not be created: " + j.status().ToString());
    if (txj::Status c = (*j)->close(); !c.ok()) Finding("close of a fresh journal: " + c.ToString());
    j->reset();
    mem.Resync();
    return mem.Take();
  }();
  return fresh;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = txj::fuzz::SideDir("load");
  static auto* mem = new txj::fuzz::MemFileSystem();
  static const std::shared_ptr<txj::FileSystem> fs(mem, [](txj::FileSystem*) {});
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  mem->Restore(FreshJournal(dir, fs, *mem));
  const Loaded loaded = LoadInMemory(text, dir, fs, *mem);
  mem->Reset();
  if (txj::fuzz::FullChecks()) LoadWithTool(text, loaded);
  return 0;
}
