// libFuzzer target: what journal-dump does (tools/dump_tool.cc) on an
// arbitrary journal directory built from the input by fuzz_dir.h (raw mode:
// arbitrary JOURNAL and segment files), through the library it is a thin
// program over (txjournal/dump.h: JsonlRecordWriter, JsonlEventLine,
// PrintableText; txjournal/walk.h; txjournal/inspect.h), without building
// its command line per input. Whatever the bytes, nothing may crash or
// throw, and every failure must be a status with a message.
//
// Each input runs one of journal-dump's modes, chosen by bits 3..5 of its
// first byte (unused by the journal layout of fuzz_dir.h), so the fuzzer
// explores them all at the cost of one, on the journal built in an
// in-memory file system (mem_fs.h):
//   --raw                 the walk, every record's fields as printable text
//   --verify, --stats     the walk
//   --format jsonl        a read-only open, the committed view through
//                         compaction as JSON lines (JsonlEventLine)
//   --raw --format jsonl  the walk through JsonlRecordWriter (a copy)
// Each gives a verdict as journal-dump's exit code does: sound, damaged, or
// unreadable.
//
// With TXJ_FUZZ_FULL=1 (the corpus replays) every input also runs
// journal-dump itself (tools/dump_tool.h, RunDump) in every mode on the
// directory written on disk (sparse, in a directory reused from input to
// input), and in the picked mode on the in-memory journal: the two must
// print the same, its exit code must be one of the documented ones and be
// the library's verdict, and for the JSON-lines modes its output must be the
// library's lines.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "dump_tool.h"
#include "fuzz_dir.h"
#include "journal_mutator.h"  // the custom mutator, in the libFuzzer build
#include "mem_fs.h"
#include "txjournal/dump.h"
#include "txjournal/inspect.h"
#include "txjournal/journal.h"
#include "txjournal/record_type.h"
#include "txjournal/walk.h"
#include "walk_fs.h"

namespace {

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  __builtin_trap();
}

enum class Mode { kRawText, kVerify, kStats, kCommittedJsonl, kCopyJsonl };
constexpr int kModes = 5;
const std::vector<std::string>& ToolArgs(Mode m) {
  static const std::vector<std::vector<std::string>> args = {
      {"--raw"}, {"--verify"}, {"--stats"}, {"--format", "jsonl"}, {"--raw", "--format", "jsonl"}};
  return args[static_cast<int>(m)];
}

// What a mode found: journal-dump's exit code for it, and, for the
// JSON-lines modes, the lines it prints on standard output.
struct Outcome {
  int verdict = txj::tools::kDumpOk;  // kDumpOk, kDumpDamaged or kDumpUnreadable
  std::string lines;
};

// A failed call: the exit code journal-dump gives it.
int Failed(const txj::Status& s, const char* what) {
  if (s.ok() || s.message().empty()) Finding(std::string(what) + " failed without a message: " + s.ToString());
  return s.IsCorruption() ? txj::tools::kDumpDamaged : txj::tools::kDumpUnreadable;
}

// --raw (text), --verify, --stats, --raw --format jsonl: the walk.
Outcome WalkMode(Mode mode, const std::shared_ptr<txj::FileSystem>& fs, const std::string& dir) {
  Outcome o;
  std::optional<txj::JsonlRecordWriter> writer;
  if (mode == Mode::kCopyJsonl) {
    writer.emplace(true, [&o](const std::string& line) {
      o.lines += line;
      o.lines += '\n';
    });
  }
  std::size_t text = 0;
  auto on_start = [&](const txj::WalkStart& st) {
    if (writer) writer->start(st);
  };
  auto visit = [&](const txj::RawRecord& r) {
    if (writer) {
      writer->record(r, true);
    } else if (mode == Mode::kRawText) {
      // What --raw prints of a record, as text for people.
      text += txj::RecordTypeName(r.type).size() + r.segment.size();
      if (r.type == txj::RecordType::kEvent) {
        text += txj::PrintableText(r.topic).size() + txj::PrintableText(r.type_name).size() +
                txj::PrintableText(r.payload.substr(0, 80)).size();
        if (r.key) text += txj::PrintableText(*r.key).size();
      }
    }
  };
  auto report = txj::internal::WalkJournalOn(fs, dir, visit, on_start);
  if (!report.ok()) {
    (void)Failed(report.status(), "the walk");
    o.verdict = txj::tools::kDumpUnreadable;  // journal-dump says so whatever the code
    return o;
  }
  if (writer) writer->end_of_records();
  for (const auto& p : report->problems) {
    if (p.message.empty()) Finding("the walk reported a problem without a message");
  }
  const bool damaged = report->damaged();
  // No snapshot files in memory: a sound copy ends with its trailer.
  if (writer && !damaged) writer->copy_trailer(*report, {}, {});
  o.verdict = damaged ? txj::tools::kDumpDamaged : txj::tools::kDumpOk;
  volatile std::size_t sink = text;
  (void)sink;
  return o;
}

// --format jsonl: the committed view, through compaction, as journal-dump's
// Committed prints it.
Outcome CommittedMode(const std::shared_ptr<txj::FileSystem>& fs, const std::string& dir) {
  Outcome o;
  auto j = txj::fuzz::OpenReadOnlyInMemory(fs, dir);
  if (!j.ok()) {
    o.verdict = Failed(j.status(), "a read-only open");
    return o;
  }
  const std::uint64_t start = (*j)->first_offset();
  std::map<std::string, std::uint64_t> marks = txj::CompactionMarks(**j);
  for (auto it = marks.begin(); it != marks.end();) {
    if (it->second <= start) {
      it = marks.erase(it);
      continue;
    }
    bool covered = false;
    if (auto snaps = (*j)->snapshots(it->first); snaps.ok()) {
      for (const auto& sn : *snaps) {
        covered = covered || (sn.covered_offset >= it->second && sn.state_hash.rfind("damaged", 0) != 0);
      }
    }
    if (!covered) o.verdict = txj::tools::kDumpDamaged;
    ++it;
  }
  auto cur = txj::OpenCursorThroughCompaction(**j, start);
  if (!cur.ok()) {
    o.verdict = Failed(cur.status(), "a cursor");
    return o;
  }
  for (;;) {
    auto e = cur->next();
    if (!e.ok()) {
      o.verdict = Failed(e.status(), "a cursor's next");
      return o;
    }
    if (!e->has_value()) break;
    const txj::Event& ev = **e;
    if (ev.offset < start) continue;
    if (auto m = marks.find(std::string(ev.topic)); m != marks.end() && ev.offset < m->second) continue;
    o.lines += txj::JsonlEventLine(ev);
    o.lines += '\n';
  }
  return o;
}

Outcome Library(Mode mode, const std::shared_ptr<txj::FileSystem>& fs, const std::string& dir) {
  try {
    return mode == Mode::kCommittedJsonl ? CommittedMode(fs, dir) : WalkMode(mode, fs, dir);
  } catch (const std::exception& e) {
    // The library reports every problem as a status: anything thrown out
    // of it is a finding (an event name that is not UTF-8 once was).
    Finding(std::string("the dump threw: ") + e.what());
  }
}

// Runs journal-dump in `mode` on `dir`; returns its exit code and its
// standard output and error with `dir` replaced by "DIR".
struct ToolRun {
  int rc;
  std::string out, text;
};
ToolRun Tool(Mode mode, const std::string& dir, const txj::tools::DumpEnv& env) {
  std::vector<std::string> args = ToolArgs(mode);
  args.push_back(dir);
  std::ostringstream out, err;
  int rc;
  try {
    rc = txj::tools::RunDump(args, out, err, env);
  } catch (const std::exception& e) {
    Finding(std::string("journal-dump threw: ") + e.what());
  }
  if (rc != txj::tools::kDumpOk && rc != txj::tools::kDumpDamaged && rc != txj::tools::kDumpUnreadable) {
    Finding("journal-dump exited " + std::to_string(rc) + ": " + err.str());
  }
  std::string text = out.str() + err.str();
  for (std::size_t p; (p = text.find(dir)) != std::string::npos;) text.replace(p, dir.size(), "DIR");
  return {rc, out.str(), text};
}

// journal-dump itself: in memory in the picked mode (its answer must be the
// library's), on disk in every mode (the picked one must say what it said
// in memory).
void FullChecks(const std::uint8_t* data, std::size_t size, Mode pick, const Outcome& library,
                txj::fuzz::MemFileSystem& mem, const std::shared_ptr<txj::FileSystem>& fs, const std::string& dir) {
  static const txj::tools::DumpEnv env = [&fs] {
    txj::tools::DumpEnv e;
    e.file_system = fs;
    e.walk = [fs](const std::string& d, const std::function<void(const txj::RawRecord&)>& visit,
                  const std::function<void(const txj::WalkStart&)>& on_start) {
      return txj::internal::WalkJournalOn(fs, d, visit, on_start);
    };
    return e;
  }();
  txj::fuzz::BuildJournalInMemory(data, size, mem, dir);
  const ToolRun in_memory = Tool(pick, dir, env);
  mem.Reset();
  const bool jsonl = pick == Mode::kCommittedJsonl || pick == Mode::kCopyJsonl;
  if (in_memory.rc != library.verdict || (jsonl && in_memory.out != library.lines)) {
    Finding("journal-dump (exit " + std::to_string(in_memory.rc) + ") and the library (verdict " +
            std::to_string(library.verdict) + ") differ:\n" + in_memory.text + "\nthe library's lines:\n" +
            library.lines);
  }
  const std::string disk_dir = txj::fuzz::BuildJournalDirReused(data, size);
  for (int m = 0; m < kModes; ++m) {
    const ToolRun on_disk = Tool(static_cast<Mode>(m), disk_dir, {});
    if (static_cast<Mode>(m) == pick && (on_disk.rc != in_memory.rc || on_disk.text != in_memory.text)) {
      Finding("journal-dump in memory (exit " + std::to_string(in_memory.rc) + "):\n" + in_memory.text +
              "\non disk (exit " + std::to_string(on_disk.rc) + "):\n" + on_disk.text);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // In memory (mem_fs.h); the directory exists on disk too, empty, for
  // what an open looks up by path (stat, lstat, the catalog).
  static const std::string dir = txj::fuzz::SideDir("dump");
  static auto* mem = new txj::fuzz::MemFileSystem();
  static const std::shared_ptr<txj::FileSystem> fs(mem, [](txj::FileSystem*) {});
  txj::fuzz::BuildJournalInMemory(data, size, *mem, dir);
  const Mode pick = static_cast<Mode>((size ? (data[0] >> 3) & 7u : 0u) % kModes);
  const Outcome library = Library(pick, fs, dir);
  mem->Reset();
  if (txj::fuzz::FullChecks()) FullChecks(data, size, pick, library, *mem, fs, dir);
  return 0;
}
