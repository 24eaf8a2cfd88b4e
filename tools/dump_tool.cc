#include "dump_tool.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <limits>
#include <optional>

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
};

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
  Filter f = a.topics.empty() && a.types.empty() ? Filter::all() : Filter{false, a.topics, a.types};
  auto cur = (*j)->open_cursor(std::max(a.from, (*j)->first_offset()), f);
  if (!cur.ok()) {
    err << "journal-dump: " << cur.status().ToString() << "\n";
    return cur.status().code() == Code::kTruncated ? kDumpUsage : kDumpDamaged;
  }
  for (;;) {
    auto e = cur->next();
    if (!e.ok()) {
      err << "journal-dump: " << e.status().ToString() << "\n";
      return e.status().IsCorruption() ? kDumpDamaged : kDumpUnreadable;
    }
    if (!e->has_value()) break;
    const Event& ev = **e;
    if (ev.offset >= a.to) break;
    if (a.txn && ev.txn_id != *a.txn) continue;
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
  return kDumpOk;
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
  std::uint64_t open_txn = 0;
  std::uint32_t open_depth = 0;
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
    if (!print) return;
    if (a.txn && r.txn_id != *a.txn) return;
    if (r.type == RecordType::kEvent && (!a.topics.empty() || !a.types.empty())) {
      Filter f{false, a.topics, a.types};
      if (!f.matches(r.topic, r.type_name)) return;
    }
    if (a.format == "jsonl") {
      json o;
      o["op"] = std::string(Op(r.type));
      if (r.type == RecordType::kEvent) {
        o["topic"] = std::string(r.topic);
        o["type"] = std::string(r.type_name);
        if (r.key) PutData(o, "key", *r.key);
        PutData(o, "data", r.payload);
        o["ts"] = r.timestamp_ns;
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
      if (r.type == RecordType::kPadding) o["events"] = r.count;
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
        case RecordType::kPadding: out << "  stands for " << r.count << " compacted events"; break;
        default: break;
      }
      out << "\n";
    }
  };
  auto report = WalkJournal(a.dir, visit);
  if (!report.ok()) {
    err << "journal-dump: " << report.status().ToString() << "\n";
    return kDumpUnreadable;
  }
  if (print && a.format == "jsonl" && open_txn != 0) {
    // What the next writable open does to a transaction left open: say it,
    // so that loading this dump gives the same committed events.
    for (std::uint32_t d = open_depth; d > 0; --d) out << json{{"op", "rollback"}, {"recovered", true}}.dump() << "\n";
    out << json{{"op", "rollback"}, {"txn", open_txn}, {"recovered", true}}.dump() << "\n";
  }
  for (const auto& t : report->tail) err << "journal-dump: tail: " << t << "\n";
  for (const auto& p : report->problems) {
    err << "journal-dump: DAMAGED: " << p.message;
    if (!p.file.empty()) err << " [" << p.file << " at byte " << p.file_offset << "]";
    err << "\n";
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
    s["damaged"] = report->damaged();
    out << (a.format == "jsonl" ? s.dump() : s.dump(2)) << "\n";
  }
  if (a.verify && !report->damaged()) err << "journal-dump: verify: " << report->records << " records sound\n";
  return report->damaged() ? kDumpDamaged : kDumpOk;
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
      if (damaged) rc = kDumpDamaged;
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

}  // namespace

int RunDump(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Print the committed events of a txjournal journal, or every record (--raw), check it (--verify) or count "
      "it (--stats). Reads a journal being written without a lock and changes nothing.\n"
      "Exit status: 0 sound (a torn record or open transaction at the tail, which a crash leaves and the next "
      "writable open repairs, is reported on stderr but is not damage); 1 damaged data (what and where on "
      "stderr); 2 usage error; 3 cannot read (no journal, permissions, unsupported format version).",
      "journal-dump"};
  DumpArgs a;
  std::uint64_t txn = 0;
  app.add_option("dir", a.dir, "journal directory")->required();
  app.add_flag("--raw", a.raw, "every record with its markers, LSN, transaction and sub-transaction ids, depth");
  app.add_option("--format", a.format, "text or jsonl")->check(CLI::IsMember({"text", "jsonl"}))->capture_default_str();
  app.add_option("--topic", a.topics, "only this topic (repeatable)");
  app.add_option("--type", a.types, "only this event type (repeatable)");
  app.add_option("--from", a.from, "first offset to print (inclusive)");
  app.add_option("--to", a.to, "offset to stop at (exclusive)");
  auto* txn_opt = app.add_option("--txn", txn, "only this transaction id");
  app.add_flag("--verify", a.verify, "check every record and the transaction structure");
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
    return kDumpOk;
  } catch (const CLI::ParseError& e) {
    err << "journal-dump: " << e.what() << "\nRun with --help for usage.\n";
    return kDumpUsage;
  }
  if (*txn_opt) a.txn = txn;
  if (a.state_hash && a.state_topic.empty()) {
    err << "journal-dump: --state-hash needs --state TOPIC\n";
    return kDumpUsage;
  }
  if (a.snapshots || !a.state_topic.empty()) return Snapshots(a, out, err);
  if (a.raw || a.verify || a.stats) {
    int rc = Walk(a, out, err);
    if (rc != kDumpOk || a.raw) return rc;
    if (a.verify || a.stats) return rc;
  }
  return Committed(a, out, err);
}

}  // namespace txj::tools
