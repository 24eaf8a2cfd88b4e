#include "dump_tool.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

// journal-dump links the shared library and uses its public API only: the
// dump format (JSON lines, printable text) is txjournal/dump.h.
#include "cli_parse.h"
#include "tool_util.h"
#include "txjournal/dump.h"
#include "txjournal/inspect.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"

namespace txj::tools {

namespace {

using json = nlohmann::ordered_json;

struct DumpArgs {
  std::string dir;
  std::shared_ptr<FileSystem> fs;  // DumpEnv::file_system
  DumpEnv env;
  bool raw = false, verify = false, stats = false, snapshots = false, state_hash = false;
  std::string state_topic;
  std::string format = "text";
  std::string time = "iso";     // text output: iso, unix or none
  std::string color = "auto";   // --raw text markers: auto, always or never
  bool follow = false;
  std::vector<std::string> topics, types;
  std::uint64_t from = 0, to = std::numeric_limits<std::uint64_t>::max();
  std::optional<std::uint64_t> txn;
  bool filtered() const { return !topics.empty() || !types.empty() || txn.has_value(); }
};

// What --verify, --raw and --snapshots check beside the records: every
// snapshot file is sound, and every topic whose history was compacted away
// has a sound snapshot covering it.
struct SnapshotCheck {
  std::vector<SnapshotFile> sound;                    // sorted by topic, newest first
  std::map<std::string, std::uint64_t> marks;         // topic -> history below it may be gone
  std::vector<WalkReport::Problem> problems;
};

SnapshotCheck CheckSnapshots(const std::string& dir) {
  SnapshotCheck c;
  SnapshotDirectory d = ReadSnapshotDirectory(dir);
  for (const auto& e : d.errors) c.problems.push_back({d.dir, 0, 0, e});
  if (!d.errors.empty()) return c;
  for (auto& f : d.files) {
    if (f.damaged()) {
      c.problems.push_back({f.info.file, 0, 0, "damaged snapshot: " + f.problem});
      continue;
    }
    c.sound.push_back(std::move(f));
  }
  c.marks = std::move(d.marks);
  for (const auto& [topic, mark] : c.marks) {
    if (mark == 0) continue;
    bool covered = false;
    for (const auto& sn : c.sound) covered = covered || (sn.info.topic == topic && sn.info.covered_offset >= mark);
    if (!covered) {
      c.problems.push_back({d.mark_files[topic], 0, 0,
                            "the history of topic " + topic + " below offset " + std::to_string(mark) +
                                " was compacted away, but no sound snapshot covers it (snapshot file missing or "
                                "damaged in " + d.dir + ")"});
    }
  }
  return c;
}

void PrintProblems(const std::vector<WalkReport::Problem>& problems, std::ostream& err) {
  for (const auto& p : problems) {
    err << "journal-dump: DAMAGED: " << p.message;
    if (!p.file.empty()) err << " [" << p.file << " at byte " << p.file_offset << "]";
    err << "\n";
  }
}

std::string Printable(std::string_view s) { return PrintableText(s); }

// A timestamp in nanoseconds since the epoch as ISO-8601 UTC with
// nanoseconds (2026-11-30T17:41:14.123456789Z) or as seconds.nanoseconds.
std::string FormatTime(std::uint64_t ns, std::string_view how) {
  const std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  const unsigned frac = static_cast<unsigned>(ns % 1'000'000'000);
  char buf[64];
  if (how == "unix") {
    std::snprintf(buf, sizeof buf, "%llu.%09u", static_cast<unsigned long long>(secs), frac);
    return buf;
  }
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return std::to_string(ns);
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09uZ", frac);
  return buf;
}

// Set by SIGINT and SIGTERM while --follow runs.
volatile std::sig_atomic_t g_follow_stop = 0;
extern "C" void OnFollowSignal(int) { g_follow_stop = 1; }

// While it lives: SIGINT and SIGTERM end --follow cleanly (exit 0); SIGPIPE
// has its default action, so a reader that goes away (| head) ends the dump
// quietly, as with tail -f.
class FollowSignals {
 public:
  FollowSignals() {
    g_follow_stop = 0;
    struct sigaction sa {};
    sa.sa_handler = OnFollowSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, &old_pipe_);
  }
  ~FollowSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGPIPE, &old_pipe_, nullptr);
  }
  FollowSignals(const FollowSignals&) = delete;
  FollowSignals& operator=(const FollowSignals&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_pipe_ {};
};

// Opens the journal read-only; on failure says why and gives the exit code.
std::optional<int> OpenReadOnly(const DumpArgs& a, std::ostream& err, std::unique_ptr<Journal>* journal) {
  Options o;
  o.read_only = true;
  o.file_system = a.fs;
  auto j = Journal::open(a.dir, o);
  if (!j.ok()) {
    err << "journal-dump: " << j.status().ToString() << "\n";
    return j.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
  }
  *journal = std::move(j).value();
  return std::nullopt;
}

int Failed(const Status& st, std::ostream& err) {
  err << "journal-dump: " << st.ToString() << "\n";
  return st.IsCorruption() ? kDumpDamaged : kDumpUnreadable;
}

using Marks = std::map<std::string, std::uint64_t, std::less<>>;

// What exists of the committed view: a topic compacted into a snapshot is
// shown from its compaction mark on, with a note naming the snapshot. Returns
// the marks of the topics asked for that cut into [start, --to); sets `rc`
// to kDumpDamaged when one has no sound snapshot covering it.
Marks NoteCompactedTopics(const DumpArgs& a, Journal& j, std::uint64_t start, std::ostream& err, int* rc) {
  Marks marks;
  {
    auto m = CompactionMarks(j);
    marks.insert(m.begin(), m.end());
  }
  const bool match_all = a.topics.empty() && a.types.empty();
  for (auto it = marks.begin(); it != marks.end();) {
    const bool asked = match_all || a.topics.empty() ||
                       std::find(a.topics.begin(), a.topics.end(), it->first) != a.topics.end();
    if (!asked || it->second <= start || start >= a.to) {
      it = marks.erase(it);
      continue;
    }
    auto snaps = j.snapshots(it->first);
    std::string file;
    if (snaps.ok()) {
      for (const auto& sn : *snaps) {
        if (sn.covered_offset >= it->second && sn.state_hash.rfind("damaged", 0) != 0) {
          file = sn.file;
          break;
        }
      }
    }
    if (file.empty()) {
      err << "journal-dump: DAMAGED: the history of topic " << Printable(it->first) << " below offset "
          << it->second << " was compacted away, but no sound snapshot covers it\n";
      *rc = kDumpDamaged;
    } else {
      err << "journal-dump: note: events of topic " << Printable(it->first) << " below offset " << it->second
          << " were compacted into snapshot " << file << " (journal-dump " << a.dir << " --state "
          << Printable(it->first) << " prints its state)\n";
    }
    ++it;
  }
  return marks;
}

// Prints the committed events that pass the filters.
class EventPrinter {
 public:
  EventPrinter(const DumpArgs& a, std::uint64_t start, Marks marks, std::ostream& out)
      : a_(a), start_(start), marks_(std::move(marks)), out_(out), topics_(a.topics.begin(), a.topics.end()),
        types_(a.types.begin(), a.types.end()) {}

  // Prints `ev` when it passes the filters; false once --to is reached.
  bool operator()(const Event& ev) {
    if (ev.offset >= a_.to) return false;
    if (!Selected(ev)) return true;
    if (a_.format == "jsonl") {
      out_ << JsonlEventLine(ev) << "\n";
    } else {
      out_ << ev.offset;
      if (a_.time != "none") out_ << "  " << FormatTime(ev.timestamp_ns, a_.time);
      out_ << "  txn " << ev.txn_id << "  " << Printable(ev.topic) << "  " << Printable(ev.type);
      if (ev.key) out_ << "  key=" << Printable(*ev.key);
      out_ << "  " << Printable(ev.payload) << "\n";
    }
    return true;
  }

 private:
  bool Selected(const Event& ev) const {
    if (ev.offset < start_) return false;
    if (!topics_.empty() && !topics_.count(ev.topic)) return false;
    if (!types_.empty() && !types_.count(ev.type)) return false;
    if (a_.txn && ev.txn_id != *a_.txn) return false;
    if (!marks_.empty()) {
      auto m = marks_.find(ev.topic);
      if (m != marks_.end() && ev.offset < m->second) return false;  // compacted history still on disk
    }
    return true;
  }

  const DumpArgs& a_;
  const std::uint64_t start_;
  const Marks marks_;
  std::ostream& out_;
  const std::set<std::string, std::less<>> topics_, types_;
};

// Prints what the cursor has committed now. nullopt when the cursor is at
// the end; otherwise the exit code (--to reached, or an error).
std::optional<int> PrintCommitted(Cursor& cur, EventPrinter& print, int rc, std::ostream& out, std::ostream& err,
                                  bool until_signal) {
  while (out.good() && !(until_signal && g_follow_stop)) {
    auto e = cur.next();
    if (!e.ok()) return Failed(e.status(), err);
    if (!e->has_value()) break;
    if (!print(**e)) return rc;
  }
  return std::nullopt;
}

// --follow: print what is committed from now on, as it is committed (in
// this process or another), until SIGINT or SIGTERM (exit 0), --to, or a
// reader that went away (SIGPIPE).
int Follow(Cursor& cur, EventPrinter& print, int rc, std::ostream& out, std::ostream& err) {
  FollowSignals signals;
  while (!g_follow_stop) {
    out.flush();
    if (!out.good()) break;
    // Woken by a commit at once; the deadline only bounds how long a signal
    // waits to be noticed.
    auto e = cur.wait_next(std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    if (!e.ok()) {
      if (e.status().code() == Code::kTimedOut || e.status().code() == Code::kCancelled) continue;
      return Failed(e.status(), err);
    }
    if (!print(*e)) break;
    // Print what is already committed before flushing again.
    if (auto done = PrintCommitted(cur, print, rc, out, err, true)) return *done;
  }
  return rc;
}

// The plain dump: the committed view, filtered (and --follow).
int Committed(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  std::unique_ptr<Journal> j;
  if (auto failed = OpenReadOnly(a, err, &j)) return *failed;
  for (const auto& r : j->recovery_report().repairs) {
    err << "journal-dump: at the tail of " << r.file << " byte " << r.file_offset << ": " << r.reason << "\n";
  }
  int rc = kDumpOk;
  const std::uint64_t retention = j->first_offset();
  const std::uint64_t start = std::max(a.from, retention);
  if (a.from < retention && a.from < a.to) {
    err << "journal-dump: note: events below offset " << retention
        << " were removed by retention; printing from offset " << retention << "\n";
  }
  Marks marks = NoteCompactedTopics(a, *j, start, err, &rc);
  auto cur = OpenCursorThroughCompaction(*j, start);
  if (!cur.ok()) return Failed(cur.status(), err);
  EventPrinter print(a, start, std::move(marks), out);
  if (auto done = PrintCommitted(*cur, print, rc, out, err, false)) return *done;
  if (!a.follow) return rc;
  return Follow(*cur, print, rc, out, err);
}

// --color: auto colors the markers only when standard output is a terminal
// (and NO_COLOR is unset, TERM is not "dumb").
bool UseColor(const std::string& how, std::ostream& out) {
  if (how == "always") return true;
  if (how == "never" || &out != &std::cout || !::isatty(STDOUT_FILENO)) return false;
  const char* term = std::getenv("TERM");
  return std::getenv("NO_COLOR") == nullptr && term != nullptr && std::string_view(term) != "dumb";
}

// A record type name, in color when asked: begin markers cyan, commits
// green, rollbacks red, padding and segment ends dim, events plain.
std::string Colored(RecordType t, bool color) {
  std::string name(RecordTypeName(t));
  if (!color) return name;
  const char* code = nullptr;
  switch (t) {
    case RecordType::kBegin:
    case RecordType::kSubBegin: code = "36"; break;
    case RecordType::kCommit:
    case RecordType::kSubCommit: code = "32"; break;
    case RecordType::kRollback:
    case RecordType::kSubRollback: code = "31"; break;
    case RecordType::kPadding:
    case RecordType::kNames:
    case RecordType::kSegmentEnd: code = "2"; break;
    case RecordType::kEvent: return name;
  }
  return std::string("\x1b[") + code + "m" + name + "\x1b[0m";
}

// --raw: the records the filters select.
bool Selected(const DumpArgs& a, const RawRecord& r) {
  if (a.txn && r.txn_id != *a.txn) return false;
  if (r.type == RecordType::kEvent && (!a.topics.empty() || !a.types.empty())) {
    Filter f{false, a.topics, a.types};
    if (!f.matches(r.topic, r.type_name)) return false;
  }
  return true;
}

// --raw text output: one record.
void PrintRecordText(const RawRecord& r, bool color, std::ostream& out) {
  out << "lsn " << r.lsn << "  " << r.segment << "+" << r.file_offset << "  " << Colored(r.type, color) << "  txn "
      << r.txn_id << "  sub " << r.sub_id << "  depth " << r.depth;
  switch (r.type) {
    case RecordType::kSubBegin: out << "  parent " << r.parent_sub_id; break;
    case RecordType::kEvent:
      out << "  " << Printable(r.topic) << "/" << Printable(r.type_name);
      if (r.name_ref) out << " (names " << r.name_id << ")";
      if (r.key) out << "  key=" << Printable(*r.key);
      out << "  " << r.payload.size() << " bytes: " << Printable(r.payload.substr(0, 80));
      break;
    case RecordType::kCommit:
      out << "  offsets " << r.first_offset << "+" << r.count << (r.rewritten ? "  (rewritten by compaction)" : "");
      break;
    case RecordType::kSubCommit:
    case RecordType::kSubRollback: out << "  " << r.count << " events"; break;
    case RecordType::kNames: out << "  " << r.name_id << " = " << Printable(r.topic) << "/" << Printable(r.type_name); break;
    case RecordType::kPadding:
      out << "  stands for " << r.count << " compacted events";
      if (r.last_txn_id) out << " and transaction ids up to " << r.last_txn_id;
      break;
    default: break;
  }
  out << "\n";
}

// --stats: one JSON object (one line with --format jsonl).
void PrintStats(const WalkReport& report, std::size_t snapshots, bool damaged, bool jsonl, std::ostream& out) {
  json s;
  s["segments"] = report.segments;
  s["bytes"] = report.bytes;
  s["records"] = report.records;
  s["committed_transactions"] = report.committed_txns;
  s["rolled_back_transactions"] = report.rolled_back_txns;
  s["events"] = report.events;
  json per = json::object();
  for (const auto& [t, n] : report.events_per_topic) per[t] = n;
  s["events_per_topic"] = per;
  s["end_lsn"] = report.end_lsn;
  s["snapshots"] = snapshots;
  s["damaged"] = damaged;
  out << (jsonl ? s.dump(-1, ' ', false, json::error_handler_t::replace)
                : s.dump(2, ' ', false, json::error_handler_t::replace))
      << "\n";
}

// --raw, --verify, --stats: every record, through the walk.
int Walk(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  const bool print = a.raw;
  const bool jsonl = a.format == "jsonl";
  // An unfiltered raw JSON-lines dump is a copy journal-load reproduces
  // faithfully (txjournal/dump.h).
  const bool copy = print && jsonl && !a.filtered();
  const bool color = UseColor(a.color, out);
  std::optional<JsonlRecordWriter> writer;
  if (print && jsonl) writer.emplace(copy, [&out](const std::string& line) { out << line << "\n"; });
  auto on_start = [&](const WalkStart& st) {
    if (writer) writer->start(st);
    if (copy && st.catalog_holds_source_data) {
      err << "journal-dump: note: the catalog of " << a.dir
          << " holds consumer offsets, session keys or eventbox state, which this copy of the journal does not "
             "carry\n";
    }
  };
  auto visit = [&](const RawRecord& r) {
    const bool selected = print && out.good() && Selected(a, r);
    if (writer) {
      writer->record(r, selected);
    } else if (selected) {
      PrintRecordText(r, color, out);
    }
  };
  auto report = a.env.walk ? a.env.walk(a.dir, visit, on_start) : WalkJournal(a.dir, visit, on_start);
  if (!report.ok()) {
    err << "journal-dump: " << report.status().ToString() << "\n";
    return kDumpUnreadable;
  }
  if (writer) writer->end_of_records();
  SnapshotCheck snaps = CheckSnapshots(a.dir);
  for (const auto& t : report->tail) err << "journal-dump: tail: " << t << "\n";
  PrintProblems(report->problems, err);
  PrintProblems(snaps.problems, err);
  const bool damaged = report->damaged() || !snaps.problems.empty();
  if (copy && !damaged) writer->copy_trailer(*report, snaps.sound, snaps.marks);
  if (a.stats) PrintStats(*report, snaps.sound.size(), damaged, jsonl, out);
  if (a.verify && !damaged) {
    err << "journal-dump: verify: " << report->records << " records and " << snaps.sound.size()
        << " snapshots sound\n";
  }
  return damaged ? kDumpDamaged : kDumpOk;
}

// --snapshots: the list, and damage (a damaged snapshot, or a compacted
// topic without a sound snapshot covering it).
int ListSnapshots(const DumpArgs& a, Journal& j, std::ostream& out, std::ostream& err) {
  auto list = j.snapshots(a.topics.empty() ? std::string() : a.topics.front());
  if (!list.ok()) {
    err << "journal-dump: " << list.status().ToString() << "\n";
    return kDumpUnreadable;
  }
  int rc = kDumpOk;
  for (const auto& sn : *list) {
    const bool damaged = sn.state_hash.rfind("damaged", 0) == 0;
    if (damaged) {
      rc = kDumpDamaged;
      err << "journal-dump: DAMAGED: snapshot " << sn.file << ": " << sn.state_hash << "\n";
    }
    if (a.format == "jsonl") {
      out << json{{"topic", sn.topic}, {"compactor", sn.compactor}, {"version", sn.compactor_version},
                  {"covered_offset", sn.covered_offset}, {"events", sn.events_folded}, {"state_hash", sn.state_hash},
                  {"size", sn.size}, {"file", sn.file}}
                 .dump(-1, ' ', false, json::error_handler_t::replace)
          << "\n";
    } else {
      out << Printable(sn.topic) << "  " << sn.compactor << " v" << sn.compactor_version << "  covers offsets < "
          << sn.covered_offset << "  " << sn.events_folded << " events  state " << sn.state_hash << "  " << sn.size
          << " bytes  " << sn.file << "\n";
    }
  }
  // A topic whose history was compacted away needs a sound snapshot
  // covering it: one that is gone (or damaged) is damage.
  const std::map<std::string, std::uint64_t> marks = CompactionMarks(j);
  for (const auto& [topic, mark] : marks) {
    if (mark == 0 || (!a.topics.empty() && topic != a.topics.front())) continue;
    bool covered = false;
    for (const auto& sn : *list) {
      covered = covered || (sn.topic == topic && sn.covered_offset >= mark && sn.state_hash.rfind("damaged", 0) != 0);
    }
    if (!covered) {
      rc = kDumpDamaged;
      err << "journal-dump: DAMAGED: the history of topic " << Printable(topic) << " below offset " << mark
          << " was compacted away, but no sound snapshot covers it (snapshot file missing or damaged)\n";
    }
  }
  return rc;
}

// --state TOPIC (--state-hash): the topic rebuilt with the built-in
// compactor, latest-by-key (what journal-compact uses). nullopt when done.
std::optional<int> PrintState(const DumpArgs& a, Journal& j, std::ostream& out, std::ostream& err) {
  LatestByKeyCompactor c;
  auto r = j.rebuild(a.state_topic, c);
  if (!r.ok()) return Failed(r.status(), err);
  if (a.state_hash) {
    out << r->state_hash << "\n";
  } else {
    for (const auto& [k, v] : static_cast<const LatestByKeyCompactor::Map&>(*r->state).values) {
      out << JsonlKeyValueLine(k, v) << "\n";
    }
  }
  return std::nullopt;
}

// --snapshots, --state TOPIC, --state-hash: through a read-only journal.
int Snapshots(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  std::unique_ptr<Journal> j;
  if (auto failed = OpenReadOnly(a, err, &j)) return *failed;
  int rc = kDumpOk;
  if (a.snapshots) {
    rc = ListSnapshots(a, *j, out, err);
    if (rc == kDumpUnreadable) return rc;
  }
  if (!a.state_topic.empty()) {
    if (auto failed = PrintState(a, *j, out, err)) return *failed;
  }
  return rc;
}

constexpr const char* kDumpHelp =
    "Print the committed events of a txjournal journal, or every record (--raw), check it (--verify) or count "
    "it (--stats). Reads a journal being written without a lock and changes nothing.\n"
    "Exit status: 0 sound (a torn record or open transaction at the tail, which a crash leaves and the next "
    "writable open repairs, is reported on stderr but is not damage); 1 damaged data (what and where on "
    "stderr); 2 usage error; 3 cannot read (no journal, permissions, unsupported format version); 4 the output "
    "could not be written (write error on stderr; the output is incomplete).";

// The numeric options, as text until checked.
struct NumericOptions {
  std::string from, to, txn;
  Arg from_opt, to_opt, txn_opt;
};

void AddOptions(CommandLine& app, DumpArgs& a, NumericOptions& n) {
  app.option("dir", a.dir, "journal directory").required();
  app.flag("--raw", a.raw,
           "every record with its markers, LSN, transaction and sub-transaction ids, depth; with --format jsonl "
           "and no filter, a copy journal-load reproduces (gaps, snapshots, compaction marks, retention)");
  app.option("--format", a.format, "text or jsonl").one_of({"text", "jsonl"}).show_default();
  app.option("--time", a.time, "timestamps in text output: iso (ISO-8601 UTC), unix (seconds.nanoseconds) or none")
      .one_of({"iso", "unix", "none"})
      .show_default();
  app.option("--color", a.color, "color the record markers of --raw text output: auto (on a terminal), always, never")
      .one_of({"auto", "always", "never"})
      .show_default();
  app.flag("-f,--follow", a.follow,
           "after what is committed, print events as they are committed (by any process) until SIGINT or "
           "SIGTERM (exit 0) or --to; with every filter and format; not with --raw, --verify, --stats, "
           "--snapshots or --state");
  app.option("--topic", a.topics, "only this topic (repeatable)");
  app.option("--type", a.types, "only this event type (repeatable)");
  n.from_opt = app.option("--from", n.from, "first offset to print (inclusive; not with --raw)");
  n.to_opt = app.option("--to", n.to, "offset to stop at (exclusive; not with --raw)");
  n.txn_opt = app.option("--txn", n.txn, "only this transaction id");
  app.flag("--verify", a.verify, "check every record, the transaction structure and the snapshots");
  app.flag("--stats", a.stats, "segments, bytes, records, transactions, events per topic");
  app.flag("--snapshots", a.snapshots,
           "list snapshots (of --topic, or all): topic, compactor, covered offset, hash, size");
  app.option("--state", a.state_topic,
             "print the state of TOPIC rebuilt with latest-by-key, one JSON line per live key");
  app.flag("--state-hash", a.state_hash, "with --state: print only the XXH3-128 hash of the state");
}

// The numbers, and the options that do not go together: nullopt when the
// command line is usable, else why not.
std::optional<std::string> CheckOptions(DumpArgs& a, const NumericOptions& n) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (n.from_opt.given()) {
    if (auto e = ParseU64("--from", n.from, 0, kMax, &a.from)) return e;
  }
  if (n.to_opt.given()) {
    if (auto e = ParseU64("--to", n.to, 0, kMax, &a.to)) return e;
  }
  if (n.txn_opt.given()) {
    std::uint64_t txn = 0;
    if (auto e = ParseU64("--txn", n.txn, 0, kMax, &txn)) return e;
    a.txn = txn;
  }
  if (a.raw && (n.from_opt.given() || n.to_opt.given())) {
    return "--from and --to select committed offsets and --raw prints records, which have none: drop --raw, "
           "or select records with --txn, --topic or --type";
  }
  if (a.state_hash && a.state_topic.empty()) return "--state-hash needs --state TOPIC";
  if (a.follow && (a.raw || a.verify || a.stats || a.snapshots || !a.state_topic.empty())) {
    return "--follow prints committed events as they come: not with --raw, --verify, --stats, --snapshots "
           "or --state";
  }
  return std::nullopt;
}

int Dispatch(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  if (a.snapshots || !a.state_topic.empty()) return Snapshots(a, out, err);
  if (a.raw || a.verify || a.stats) return Walk(a, out, err);
  return Committed(a, out, err);
}

}  // namespace

int RunDump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err, const DumpEnv& env) {
  CommandLine app{kDumpHelp, "journal-dump"};
  DumpArgs a;
  a.fs = env.file_system;
  a.env = env;
  NumericOptions n;
  AddOptions(app, a, n);
  if (auto exit = ParseToolArgs(app, args, out, err, "journal-dump",
                                {.ok = kDumpOk, .usage = kDumpUsage, .write_error = kDumpWriteError})) {
    return *exit;
  }
  if (auto why = CheckOptions(a, n)) {
    err << "journal-dump: " << *why << "\nRun with --help for usage.\n";
    return kDumpUsage;
  }
  const int rc = Dispatch(a, out, err);
  if (!OutputOk(out, err, "journal-dump")) return kDumpWriteError;
  return rc;
}

}  // namespace txj::tools
