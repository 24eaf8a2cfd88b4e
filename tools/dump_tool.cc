#include "dump_tool.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <limits>
#include <map>
#include <optional>
#include <set>

#include "cursor_impl.h"
#include "journal_state.h"
#include "snapshot_store.h"
#include "tool_util.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"
#include "utf8.h"

namespace txj::tools {

namespace {

using json = nlohmann::ordered_json;

struct DumpArgs {
  std::string dir;
  bool raw = false, verify = false, stats = false, snapshots = false, state_hash = false;
  std::string state_topic;
  std::string format = "text";
  std::vector<std::string> topics, types;
  std::uint64_t from = 0, to = std::numeric_limits<std::uint64_t>::max();
  std::optional<std::uint64_t> txn;
  bool filtered() const { return !topics.empty() || !types.empty() || txn.has_value(); }
};

// What --verify, --raw and --snapshots check beside the records: every
// snapshot file is sound, and every topic whose history was compacted away
// has a sound snapshot covering it.
struct SnapshotCheck {
  std::vector<internal::StoredSnapshot> sound;        // sorted by topic, newest first
  std::map<std::string, std::uint64_t> marks;         // topic -> history below it may be gone
  std::vector<WalkReport::Problem> problems;
};

SnapshotCheck CheckSnapshots(const std::string& dir) {
  SnapshotCheck c;
  auto fs = DefaultFileSystem();
  internal::SnapshotStore store(fs.get(), dir, 0600);
  auto list = store.List("");
  if (!list.ok()) {
    c.problems.push_back({store.dir(), 0, 0, list.status().ToString()});
    return c;
  }
  for (const auto& l : *list) {
    if (l.damaged) {
      c.problems.push_back({l.info.file, 0, 0, "damaged snapshot: " + l.problem});
      continue;
    }
    auto s = store.Read(l.info.file);  // listed a moment ago: gone now is damage too
    if (!s.ok()) {
      c.problems.push_back({l.info.file, 0, 0, "damaged snapshot: " + s.status().ToString()});
      continue;
    }
    c.sound.push_back(std::move(s).value());
  }
  auto marks = store.CompactedMarks();
  if (!marks.ok()) {
    c.problems.push_back({store.dir(), 0, 0, marks.status().ToString()});
    return c;
  }
  c.marks = std::move(marks).value();
  for (const auto& [topic, mark] : c.marks) {
    if (mark == 0) continue;
    bool covered = false;
    for (const auto& sn : c.sound) covered = covered || (sn.info.topic == topic && sn.info.covered_offset >= mark);
    if (!covered) {
      c.problems.push_back({store.dir() + "/" + internal::SnapshotStore::TopicId(topic) + ".compacted", 0, 0,
                            "the history of topic " + topic + " below offset " + std::to_string(mark) +
                                " was compacted away, but no sound snapshot covers it (snapshot file missing or "
                                "damaged in " + store.dir() + ")"});
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

void PutData(json& o, std::string_view name, std::string_view bytes) {
  if (internal::IsValidUtf8(bytes)) {
    o[std::string(name)] = std::string(bytes);
  } else {
    o[std::string(name) + "_b64"] = Base64Encode(bytes);
  }
}

std::string Printable(std::string_view s) {
  if (internal::IsValidUtf8(s)) {
    bool plain = true;
    for (unsigned char c : s) plain = plain && c >= 0x20 && c != 0x7f;
    if (plain) return std::string(s);
  }
  return "base64:" + Base64Encode(s);
}

int Committed(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  Options o;
  o.read_only = true;
  auto j = Journal::open(a.dir, o);
  if (!j.ok()) {
    err << "journal-dump: " << j.status().ToString() << "\n";
    return j.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
  }
  for (const auto& r : (*j)->recovery_report().repairs) {
    err << "journal-dump: at the tail of " << r.file << " byte " << r.file_offset << ": " << r.reason << "\n";
  }
  int rc = kDumpOk;
  internal::JournalState& s = internal::JournalAccess::state(**j);
  const std::uint64_t retention = (*j)->first_offset();
  const std::uint64_t start = std::max(a.from, retention);
  if (a.from < retention && a.from < a.to) {
    err << "journal-dump: note: events below offset " << retention
        << " were removed by retention; printing from offset " << retention << "\n";
  }
  Filter f = a.topics.empty() && a.types.empty() ? Filter::all() : Filter{false, a.topics, a.types};
  // What exists of the committed view: a topic compacted into a snapshot is
  // shown from its compaction mark on, with a note naming the snapshot.
  std::map<std::string, std::uint64_t, std::less<>> marks;
  {
    std::lock_guard<std::mutex> lock(s.topics_mu);
    marks.insert(s.compacted.begin(), s.compacted.end());
  }
  for (auto it = marks.begin(); it != marks.end();) {
    const bool asked = f.match_all || a.topics.empty() ||
                       std::find(a.topics.begin(), a.topics.end(), it->first) != a.topics.end();
    if (!asked || it->second <= start || start >= a.to) {
      it = marks.erase(it);
      continue;
    }
    auto snaps = (*j)->snapshots(it->first);
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
      rc = kDumpDamaged;
    } else {
      err << "journal-dump: note: events of topic " << Printable(it->first) << " below offset " << it->second
          << " were compacted into snapshot " << file << " (journal-dump " << a.dir << " --state "
          << Printable(it->first) << " prints its state)\n";
    }
    ++it;
  }
  auto cur = internal::CursorImpl::OpenInternal(&s, start);
  if (!cur.ok()) {
    err << "journal-dump: " << cur.status().ToString() << "\n";
    return cur.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
  }
  std::set<std::string, std::less<>> topics(a.topics.begin(), a.topics.end()), types(a.types.begin(), a.types.end());
  while (out.good()) {
    auto e = (*cur)->Next();
    if (!e.ok()) {
      err << "journal-dump: " << e.status().ToString() << "\n";
      return e.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
    }
    if (!e->has_value()) break;
    const Event& ev = **e;
    if (ev.offset >= a.to) break;
    if (ev.offset < start) continue;
    if (!topics.empty() && !topics.count(ev.topic)) continue;
    if (!types.empty() && !types.count(ev.type)) continue;
    if (a.txn && ev.txn_id != *a.txn) continue;
    if (!marks.empty()) {
      auto m = marks.find(ev.topic);
      if (m != marks.end() && ev.offset < m->second) continue;  // compacted history still on disk
    }
    if (a.format == "jsonl") {
      json o;
      o["offset"] = ev.offset;
      o["txn"] = ev.txn_id;
      o["topic"] = std::string(ev.topic);
      o["type"] = std::string(ev.type);
      if (ev.key) PutData(o, "key", *ev.key);
      PutData(o, "data", ev.payload);
      o["ts"] = ev.timestamp_ns;
      out << o.dump() << "\n";
    } else {
      out << ev.offset << "  txn " << ev.txn_id << "  " << Printable(ev.topic) << "  " << Printable(ev.type);
      if (ev.key) out << "  key=" << Printable(*ev.key);
      out << "  " << Printable(ev.payload) << "\n";
    }
  }
  return rc;
}

std::string_view Op(RecordType t) {
  switch (t) {
    case RecordType::kBegin:
    case RecordType::kSubBegin: return "begin";
    case RecordType::kEvent: return "event";
    case RecordType::kSubCommit:
    case RecordType::kCommit: return "commit";
    case RecordType::kSubRollback:
    case RecordType::kRollback: return "rollback";
    case RecordType::kSegmentEnd: return "segment_end";
    case RecordType::kPadding: return "padding";
  }
  return "unknown";
}

int Walk(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  const bool print = a.raw;
  const bool jsonl = a.format == "jsonl";
  // An unfiltered raw JSON-lines dump is a copy journal-load reproduces
  // faithfully: a header, the gaps compaction and retention left, the
  // snapshots and compaction marks, retention, and an end line.
  const bool copy = print && jsonl && !a.filtered();
  std::uint64_t open_txn = 0;
  std::uint32_t open_depth = 0;
  auto on_start = [&](const WalkStart& st) {
    if (!copy) return;
    out << json{{"op", "journal"}, {"version", 1}, {"segment_size", st.segment_size}}.dump() << "\n";
    if (st.catalog_holds_source_data) {
      err << "journal-dump: note: the catalog of " << a.dir
          << " holds consumer offsets, session keys or eventbox state, which this copy of the journal does not "
             "carry\n";
    }
    if (st.first_offset > 0 || st.last_txn_id_before > 0) {
      // What retention (or compaction) removed with the front segments.
      out << json{{"op", "gap"}, {"events", st.first_offset}, {"last_txn_id", st.last_txn_id_before}}.dump() << "\n";
    }
  };
  auto visit = [&](const RawRecord& r) {
    if (r.type == RecordType::kBegin) {
      open_txn = r.txn_id;
      open_depth = 0;
    } else if (r.type == RecordType::kSubBegin) {
      open_depth = r.depth;
    } else if (r.type == RecordType::kCommit || r.type == RecordType::kRollback) {
      open_txn = 0;
    } else if (r.type == RecordType::kSubCommit || r.type == RecordType::kSubRollback) {
      open_depth = r.depth - 1;
    }
    if (!print || !out.good()) return;
    if (a.txn && r.txn_id != *a.txn) return;
    if (r.type == RecordType::kEvent && (!a.topics.empty() || !a.types.empty())) {
      Filter f{false, a.topics, a.types};
      if (!f.matches(r.topic, r.type_name)) return;
    }
    if (jsonl) {
      json o;
      // A padding that keeps offsets or transaction ids taken is a gap; one
      // that only fills a page is kept as "padding" (journal-load skips it).
      const bool gap = r.type == RecordType::kPadding && (r.count > 0 || r.last_txn_id > 0);
      o["op"] = gap ? std::string("gap") : std::string(Op(r.type));
      if (r.type == RecordType::kEvent) {
        o["topic"] = std::string(r.topic);
        o["type"] = std::string(r.type_name);
        if (r.key) PutData(o, "key", *r.key);
        PutData(o, "data", r.payload);
        o["ts"] = r.timestamp_ns;
      }
      if (r.type == RecordType::kPadding) {
        o["events"] = r.count;
        if (r.txn_id == 0) o["last_txn_id"] = r.last_txn_id;
      }
      o["lsn"] = r.lsn;
      o["txn"] = r.txn_id;
      o["sub"] = r.sub_id;
      o["depth"] = r.depth;
      if (r.type == RecordType::kSubBegin) o["parent"] = r.parent_sub_id;
      if (r.type == RecordType::kCommit) {
        o["first_offset"] = r.first_offset;
        o["count"] = r.count;
      }
      out << o.dump() << "\n";
    } else {
      out << "lsn " << r.lsn << "  " << r.segment << "+" << r.file_offset << "  " << RecordTypeName(r.type)
          << "  txn " << r.txn_id << "  sub " << r.sub_id << "  depth " << r.depth;
      switch (r.type) {
        case RecordType::kSubBegin: out << "  parent " << r.parent_sub_id; break;
        case RecordType::kEvent:
          out << "  " << Printable(r.topic) << "/" << Printable(r.type_name);
          if (r.key) out << "  key=" << Printable(*r.key);
          out << "  " << r.payload.size() << " bytes: " << Printable(r.payload.substr(0, 80));
          break;
        case RecordType::kCommit:
          out << "  offsets " << r.first_offset << "+" << r.count << (r.rewritten ? "  (rewritten by compaction)" : "");
          break;
        case RecordType::kSubCommit:
        case RecordType::kSubRollback: out << "  " << r.count << " events"; break;
        case RecordType::kPadding:
          out << "  stands for " << r.count << " compacted events";
          if (r.last_txn_id) out << " and transaction ids up to " << r.last_txn_id;
          break;
        default: break;
      }
      out << "\n";
    }
  };
  auto report = WalkJournal(a.dir, visit, on_start);
  if (!report.ok()) {
    err << "journal-dump: " << report.status().ToString() << "\n";
    return kDumpUnreadable;
  }
  if (print && jsonl && open_txn != 0) {
    // What the next writable open does to a transaction left open: say it,
    // so that loading this dump gives the same committed events.
    for (std::uint32_t d = open_depth; d > 0; --d) out << json{{"op", "rollback"}, {"recovered", true}}.dump() << "\n";
    out << json{{"op", "rollback"}, {"txn", open_txn}, {"recovered", true}}.dump() << "\n";
  }
  SnapshotCheck snaps = CheckSnapshots(a.dir);
  for (const auto& t : report->tail) err << "journal-dump: tail: " << t << "\n";
  PrintProblems(report->problems, err);
  PrintProblems(snaps.problems, err);
  const bool damaged = report->damaged() || !snaps.problems.empty();
  if (copy && !damaged) {
    for (const auto& sn : snaps.sound) {
      out << json{{"op", "snapshot"},           {"topic", sn.info.topic},
                  {"compactor", sn.info.compactor}, {"version", sn.info.compactor_version},
                  {"covered_offset", sn.info.covered_offset}, {"events", sn.info.events_folded},
                  {"state_hash", sn.info.state_hash},         {"state_b64", Base64Encode(sn.state)}}
                 .dump()
          << "\n";
    }
    for (const auto& [topic, mark] : snaps.marks) {
      out << json{{"op", "compacted"}, {"topic", topic}, {"offset", mark}}.dump() << "\n";
    }
    if (report->start.retention_offset > 0) {
      out << json{{"op", "retention"}, {"offset", report->start.retention_offset}}.dump() << "\n";
    }
    // Absent from a dump cut short (or of a damaged journal): journal-load
    // then refuses the copy as incomplete.
    out << json{{"op", "end"}, {"next_offset", report->next_offset}}.dump() << "\n";
  }
  if (a.stats) {
    json s;
    s["segments"] = report->segments;
    s["bytes"] = report->bytes;
    s["records"] = report->records;
    s["committed_transactions"] = report->committed_txns;
    s["rolled_back_transactions"] = report->rolled_back_txns;
    s["events"] = report->events;
    json per = json::object();
    for (const auto& [t, n] : report->events_per_topic) per[t] = n;
    s["events_per_topic"] = per;
    s["end_lsn"] = report->end_lsn;
    s["snapshots"] = snaps.sound.size();
    s["damaged"] = damaged;
    out << (jsonl ? s.dump() : s.dump(2)) << "\n";
  }
  if (a.verify && !damaged) {
    err << "journal-dump: verify: " << report->records << " records and " << snaps.sound.size()
        << " snapshots sound\n";
  }
  return damaged ? kDumpDamaged : kDumpOk;
}

// --snapshots, --state TOPIC, --state-hash: through a read-only journal.
int Snapshots(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  Options o;
  o.read_only = true;
  auto j = Journal::open(a.dir, o);
  if (!j.ok()) {
    err << "journal-dump: " << j.status().ToString() << "\n";
    return j.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
  }
  int rc = kDumpOk;
  if (a.snapshots) {
    auto list = (*j)->snapshots(a.topics.empty() ? std::string() : a.topics.front());
    if (!list.ok()) {
      err << "journal-dump: " << list.status().ToString() << "\n";
      return kDumpUnreadable;
    }
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
                   .dump()
            << "\n";
      } else {
        out << Printable(sn.topic) << "  " << sn.compactor << " v" << sn.compactor_version << "  covers offsets < "
            << sn.covered_offset << "  " << sn.events_folded << " events  state " << sn.state_hash << "  " << sn.size
            << " bytes  " << sn.file << "\n";
      }
    }
    // A topic whose history was compacted away needs a sound snapshot
    // covering it: one that is gone (or damaged) is damage.
    std::map<std::string, std::uint64_t> marks;
    {
      internal::JournalState& s = internal::JournalAccess::state(**j);
      std::lock_guard<std::mutex> lock(s.topics_mu);
      marks = s.compacted;
    }
    for (const auto& [topic, mark] : marks) {
      if (mark == 0 || (!a.topics.empty() && topic != a.topics.front())) continue;
      bool covered = false;
      for (const auto& sn : *list) {
        covered = covered ||
                  (sn.topic == topic && sn.covered_offset >= mark && sn.state_hash.rfind("damaged", 0) != 0);
      }
      if (!covered) {
        rc = kDumpDamaged;
        err << "journal-dump: DAMAGED: the history of topic " << Printable(topic) << " below offset " << mark
            << " was compacted away, but no sound snapshot covers it (snapshot file missing or damaged)\n";
      }
    }
  }
  if (!a.state_topic.empty()) {
    // The built-in compactor: latest-by-key (what journal-compact uses).
    LatestByKeyCompactor c;
    auto r = (*j)->rebuild(a.state_topic, c);
    if (!r.ok()) {
      err << "journal-dump: " << r.status().ToString() << "\n";
      return r.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
    }
    if (a.state_hash) {
      out << r->state_hash << "\n";
    } else {
      for (const auto& [k, v] : static_cast<const LatestByKeyCompactor::Map&>(*r->state).values) {
        json o2;
        PutData(o2, "key", k);
        PutData(o2, "data", v);
        out << o2.dump() << "\n";
      }
    }
  }
  return rc;
}

int Dispatch(const DumpArgs& a, std::ostream& out, std::ostream& err);

}  // namespace

int RunDump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Print the committed events of a txjournal journal, or every record (--raw), check it (--verify) or count "
      "it (--stats). Reads a journal being written without a lock and changes nothing.\n"
      "Exit status: 0 sound (a torn record or open transaction at the tail, which a crash leaves and the next "
      "writable open repairs, is reported on stderr but is not damage); 1 damaged data (what and where on "
      "stderr); 2 usage error; 3 cannot read (no journal, permissions, unsupported format version); 4 the output "
      "could not be written (write error on stderr; the output is incomplete).",
      "journal-dump"};
  DumpArgs a;
  std::string from_s, to_s, txn_s;
  app.add_option("dir", a.dir, "journal directory")->required();
  app.add_flag("--raw", a.raw,
               "every record with its markers, LSN, transaction and sub-transaction ids, depth; with --format jsonl "
               "and no filter, a copy journal-load reproduces (gaps, snapshots, compaction marks, retention)");
  app.add_option("--format", a.format, "text or jsonl")->check(CLI::IsMember({"text", "jsonl"}))->capture_default_str();
  app.add_option("--topic", a.topics, "only this topic (repeatable)");
  app.add_option("--type", a.types, "only this event type (repeatable)");
  auto* from_opt = app.add_option("--from", from_s, "first offset to print (inclusive; not with --raw)");
  auto* to_opt = app.add_option("--to", to_s, "offset to stop at (exclusive; not with --raw)");
  auto* txn_opt = app.add_option("--txn", txn_s, "only this transaction id");
  app.add_flag("--verify", a.verify, "check every record, the transaction structure and the snapshots");
  app.add_flag("--stats", a.stats, "segments, bytes, records, transactions, events per topic");
  app.add_flag("--snapshots", a.snapshots, "list snapshots (of --topic, or all): topic, compactor, covered offset, hash, size");
  app.add_option("--state", a.state_topic, "print the state of TOPIC rebuilt with latest-by-key, one JSON line per live key");
  app.add_flag("--state-hash", a.state_hash, "with --state: print only the XXH3-128 hash of the state");
  std::vector<std::string> argv_s = {"journal-dump"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& s : argv_s) argv.push_back(s.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return OutputOk(out, err, "journal-dump") ? kDumpOk : kDumpWriteError;
  } catch (const CLI::ParseError& e) {
    err << "journal-dump: " << e.what() << "\nRun with --help for usage.\n";
    return kDumpUsage;
  }
  auto usage = [&](const std::string& why) {
    err << "journal-dump: " << why << "\nRun with --help for usage.\n";
    return kDumpUsage;
  };
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (*from_opt) {
    if (auto e = ParseU64("--from", from_s, 0, kMax, &a.from)) return usage(*e);
  }
  if (*to_opt) {
    if (auto e = ParseU64("--to", to_s, 0, kMax, &a.to)) return usage(*e);
  }
  if (*txn_opt) {
    std::uint64_t txn = 0;
    if (auto e = ParseU64("--txn", txn_s, 0, kMax, &txn)) return usage(*e);
    a.txn = txn;
  }
  if (a.raw && (*from_opt || *to_opt)) {
    return usage("--from and --to select committed offsets and --raw prints records, which have none: drop --raw, "
                 "or select records with --txn, --topic or --type");
  }
  if (a.state_hash && a.state_topic.empty()) return usage("--state-hash needs --state TOPIC");
  const int rc = Dispatch(a, out, err);
  if (!OutputOk(out, err, "journal-dump")) return kDumpWriteError;
  return rc;
}

namespace {

int Dispatch(const DumpArgs& a, std::ostream& out, std::ostream& err) {
  if (a.snapshots || !a.state_topic.empty()) return Snapshots(a, out, err);
  if (a.raw || a.verify || a.stats) return Walk(a, out, err);
  return Committed(a, out, err);
}

}  // namespace

}  // namespace txj::tools
