#include "txjournal/walk.h"

#include "log_reader.h"
#include "manifest.h"
#include "recovery.h"
#include "txn_checker.h"

namespace txj {

using namespace internal;

namespace {

WalkReport::Problem ProblemFrom(const Status& s) {
  WalkReport::Problem p;
  p.message = s.ToString();
  return p;
}

}  // namespace

Result<WalkReport> WalkJournal(const std::string& dir, const std::function<void(const RawRecord&)>& visit) {
  auto fs = DefaultFileSystem();
  ManifestData m;
  Status ms = ReadManifest(*fs, dir, &m);
  if (ms.IsNotFound() || ms.code() == Code::kIOError || ms.code() == Code::kNotSupported) return ms;
  WalkReport report;
  if (!ms.ok()) {
    report.problems.push_back(ProblemFrom(ms));
    return report;
  }
  SegmentSet segs(fs, dir, m, false);
  Status rs = segs.Refresh();
  for (const auto& seg : segs.All()) {
    ++report.segments;
    report.bytes += seg->size();
  }
  if (!rs.ok()) {
    report.problems.push_back(ProblemFrom(rs));
    return report;
  }
  auto first = segs.First();
  if (!first) {
    report.tail.push_back("no segment yet (a new journal whose first open did not finish)");
    return report;
  }
  const std::uint64_t start = m.first_lsn ? m.first_lsn : first->first_record_lsn();
  if (first->first_record_lsn() != start) {
    report.problems.push_back(ProblemFrom(Status::Corruption(
        "the manifest says the journal starts at LSN " + std::to_string(start) + " but the first segment is " +
        first->path())));
    return report;
  }
  LogReader reader(&segs, start);
  TxnChecker checker;
  checker.Reset(m.first_offset, 0);
  RecordView r;
  std::vector<std::string> open_topics;  // events of the open transaction (counted at commit)
  std::vector<std::pair<std::uint32_t, std::size_t>> levels;  // sub id -> open_topics size at its begin
  while (reader.Next(&r) == LogReader::Stop::kRecord) {
    ++report.records;
    TxnChecker::Effect effect;
    Status st = checker.Feed(r, &effect);
    auto seg = reader.segment() && r.lsn >= reader.segment()->base() && r.lsn < reader.segment()->end()
                   ? reader.segment()
                   : segs.Find(r.lsn);
    if (!st.ok()) {
      WalkReport::Problem p{seg ? seg->path() : "", seg ? seg->file_offset(r.lsn) : 0, r.lsn,
                            st.message() + " in " + reader.Where(r.lsn)};
      report.problems.push_back(p);
      return report;
    }
    RawRecord raw;
    raw.lsn = r.lsn;
    std::string path = seg ? seg->path() : std::string();
    raw.segment = path;
    raw.file_offset = seg ? seg->file_offset(r.lsn) : 0;
    raw.type = r.type;
    raw.length = r.length;
    raw.depth = r.depth;
    raw.txn_id = r.txn_id;
    raw.sub_id = r.sub_id;
    raw.epoch = r.epoch;
    switch (r.type) {
      case RecordType::kBegin:
        raw.timestamp_ns = ReadBody<format::BeginBody>(r).timestamp_ns;
        open_topics.clear();
        levels.clear();
        break;
      case RecordType::kSubBegin:
        raw.parent_sub_id = ReadBody<format::SubBeginBody>(r).parent_sub_id;
        levels.emplace_back(r.sub_id, open_topics.size());
        break;
      case RecordType::kEvent: {
        EventFields f = DecodeEventBody(r);
        raw.topic = f.topic;
        raw.type_name = f.type;
        raw.payload = f.payload;
        raw.key = f.key;
        raw.timestamp_ns = f.timestamp_ns;
        open_topics.emplace_back(f.topic);
        break;
      }
      case RecordType::kSubCommit:
        raw.count = ReadBody<format::SubCommitBody>(r).event_count;
        if (!levels.empty()) levels.pop_back();
        break;
      case RecordType::kSubRollback:
        raw.count = ReadBody<format::SubRollbackBody>(r).discarded_count;
        if (!levels.empty()) {
          open_topics.resize(levels.back().second);  // its events and its descendants' are gone
          levels.pop_back();
        }
        break;
      case RecordType::kCommit: {
        auto c = ReadBody<format::CommitBody>(r);
        raw.first_offset = c.first_offset;
        raw.count = c.event_count;
        raw.timestamp_ns = c.timestamp_ns;
        raw.rewritten = (r.flags & format::kFlagRewritten) != 0;
        break;
      }
      case RecordType::kPadding:
        raw.count = ReadBody<format::PaddingBody>(r).skipped_events;
        break;
      default: break;
    }
    if (visit) visit(raw);
    if (effect == TxnChecker::Effect::kCommitted) {
      ++report.committed_txns;
      report.events += checker.committed_count();
      for (const auto& t : open_topics) ++report.events_per_topic[t];
      open_topics.clear();
    } else if (effect == TxnChecker::Effect::kRolledBack) {
      ++report.rolled_back_txns;
      open_topics.clear();
    }
  }
  report.end_lsn = reader.position();
  // How it ends: the same judgement as a writer's open, without repairing.
  Checkpoint cp{start, m.first_offset, 0, 0, 0, 0};
  TailScan t;
  Status ts = ScanToTail(segs, cp, &t);
  if (!ts.ok()) {
    WalkReport::Problem p = ProblemFrom(ts);
    if (auto seg = segs.Find(report.end_lsn)) {
      p.file = seg->path();
      p.file_offset = seg->file_offset(report.end_lsn);
    }
    p.lsn = report.end_lsn;
    report.problems.push_back(p);
    return report;
  }
  if (t.crash_tail) {
    report.tail.push_back(t.tail_reason + " at LSN " + std::to_string(t.end_lsn) + ", " + std::to_string(t.tail_bytes) +
                          " bytes after it (the next writable open cuts them)");
  }
  if (t.open_txn) {
    report.tail.push_back("transaction " + std::to_string(t.open_txn_id) +
                          " is open at the tail (being written, or left by a crash: the next writable open rolls it back)");
  }
  return report;
}

}  // namespace txj
