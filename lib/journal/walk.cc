#include "txjournal/walk.h"

#include <algorithm>

#include "dir_lock.h"
#include "log_reader.h"
#include "manifest.h"
#include "recovery.h"
#include "txn_checker.h"
#include "walk_fs.h"

namespace txj {

using namespace internal;

namespace {

std::string Num(std::uint64_t v) { return std::to_string(v); }

WalkReport::Problem ProblemAt(std::string file, std::uint64_t file_offset, std::uint64_t lsn, const Status& s) {
  return WalkReport::Problem{std::move(file), file_offset, lsn, s.ToString()};
}

// Builds the RawRecord of `r` (in `seg`) for the visitor.
RawRecord ToRaw(const RecordView& r, const Segment& seg) {
  RawRecord raw;
  raw.lsn = r.lsn;
  raw.segment = seg.path();
  raw.file_offset = seg.file_offset(r.lsn);
  raw.type = r.type;
  raw.length = r.length;
  raw.depth = r.depth;
  raw.txn_id = r.txn_id;
  raw.sub_id = r.sub_id;
  raw.epoch = r.epoch;
  switch (r.type) {
    case RecordType::kBegin: raw.timestamp_ns = ReadBody<format::BeginBody>(r).timestamp_ns; break;
    case RecordType::kSubBegin: raw.parent_sub_id = ReadBody<format::SubBeginBody>(r).parent_sub_id; break;
    case RecordType::kEvent: {
      EventFields f = DecodeEventBody(r);
      raw.topic = f.topic;
      raw.type_name = f.type;
      raw.payload = f.payload;
      raw.key = f.key;
      raw.timestamp_ns = f.timestamp_ns;
      break;
    }
    case RecordType::kSubCommit: raw.count = ReadBody<format::SubCommitBody>(r).event_count; break;
    case RecordType::kSubRollback: raw.count = ReadBody<format::SubRollbackBody>(r).discarded_count; break;
    case RecordType::kCommit: {
      auto c = ReadBody<format::CommitBody>(r);
      raw.first_offset = c.first_offset;
      raw.count = c.event_count;
      raw.record_count = c.record_count;
      raw.timestamp_ns = c.timestamp_ns;
      raw.rewritten = (r.flags & format::kFlagRewritten) != 0;
      break;
    }
    case RecordType::kRollback: raw.record_count = ReadBody<format::RollbackBody>(r).record_count; break;
    case RecordType::kPadding: {
      const auto body = ReadBody<format::PaddingBody>(r);
      raw.count = body.skipped_events;
      raw.last_txn_id = body.last_txn_id;
      break;
    }
    case RecordType::kSegmentEnd: break;
  }
  return raw;
}

}  // namespace

Result<WalkReport> WalkJournal(const std::string& dir, const std::function<void(const RawRecord&)>& visit,
                               const std::function<void(const WalkStart&)>& on_start) {
  return internal::WalkJournalOn(DefaultFileSystem(), dir, visit, on_start);
}

Result<WalkReport> internal::WalkJournalOn(const std::shared_ptr<FileSystem>& fs, const std::string& dir,
                                           const std::function<void(const RawRecord&)>& visit,
                                           const std::function<void(const WalkStart&)>& on_start) {
  WalkReport report;
  // Before anything is read: a writer that has the journal open appends
  // while we read (its tail is moving, not torn).
  const bool writer_before = DirLock::IsHeld(*fs, dir);

  std::vector<std::string> names;
  if (int e = fs->ListDir(dir, &names)) {
    if (e == ENOENT || e == ENOTDIR) return Status::NotFound("no journal at " + dir);
    return Status::FromErrno(e, "list journal directory " + dir);
  }
  std::vector<std::pair<std::uint64_t, std::string>> seg_names;
  for (const auto& n : names) {
    std::uint64_t base = 0;
    if (ParseSegmentFileName(n, &base)) seg_names.emplace_back(base, n);
  }
  std::sort(seg_names.begin(), seg_names.end());

  const std::string manifest_path = JoinPath(dir, format::kManifestName);
  ManifestData m;
  Status ms = ReadManifest(*fs, dir, &m);
  if (ms.IsNotFound()) {
    if (seg_names.empty()) return ms;
    report.problems.push_back(ProblemAt(
        manifest_path, 0, 0,
        Status::Corruption(dir + " holds segment files but no JOURNAL manifest (missing " + manifest_path + ")")));
    return report;
  }
  if (ms.code() == Code::kIOError || ms.code() == Code::kNotSupported) return ms;
  if (!ms.ok()) {
    report.problems.push_back(ProblemAt(manifest_path, 0, 0, ms));
    return report;
  }

  report.start = WalkStart{m.segment_size, m.first_offset, m.last_txn_id_before, m.retention_offset,
                           (m.flags & format::kManifestCatalogHoldsSourceData) != 0};

  // Every segment file on its own, so that each bad one is named.
  std::vector<std::shared_ptr<Segment>> opened;
  for (const auto& [base, name] : seg_names) {
    auto seg = Segment::Open(fs, dir, name, m, false);
    if (seg.ok()) {
      opened.push_back(std::move(seg).value());
      continue;
    }
    if (seg.status().code() == Code::kIOError || seg.status().code() == Code::kNotSupported) return seg.status();
    report.problems.push_back(ProblemAt(JoinPath(dir, name), 0, base, seg.status()));
  }
  for (const auto& seg : opened) {
    ++report.segments;
    report.bytes += seg->size();
  }
  if (!report.damaged()) {
    // Continuity: each segment starts where the one before it ends.
    for (std::size_t i = 1; i < opened.size(); ++i) {
      const std::uint64_t expect = opened[i - 1]->end();
      if (opened[i]->base() == expect) continue;
      const std::string missing = JoinPath(dir, SegmentFileName(expect));
      report.problems.push_back(ProblemAt(
          opened[i]->base() > expect ? missing : opened[i]->path(), 0, expect,
          Status::Corruption(opened[i]->base() > expect
                                 ? "missing segment " + missing + ": segments jump from LSN " + Num(expect) + " to " +
                                       Num(opened[i]->base()) + " (" + opened[i]->path() + ")"
                                 : "segment " + opened[i]->path() + " overlaps " + opened[i - 1]->path())));
      break;
    }
  }
  if (report.damaged()) return report;
  opened.clear();

  SegmentSet segs(fs, dir, m, false);
  if (Status rs = segs.Refresh(); !rs.ok()) {  // files changed since the listing
    if (rs.code() == Code::kIOError || rs.code() == Code::kNotSupported) return rs;
    report.problems.push_back(ProblemAt("", 0, 0, rs));
    return report;
  }
  if (!segs.First()) {
    report.tail.push_back("no segment yet (a new journal whose first open did not finish)");
    return report;
  }
  // Where the manifest says the journal starts (retention moves it on).
  const std::uint64_t start = m.first_lsn ? m.first_lsn : format::kSegmentHeaderSize;
  for (;;) {
    auto first = segs.First();
    if (!first) {
      report.problems.push_back(ProblemAt(
          JoinPath(dir, SegmentFileName(start - format::kSegmentHeaderSize)), 0, start,
          Status::Corruption("the manifest says the journal starts at LSN " + Num(start) +
                             " but every segment ends before it")));
      return report;
    }
    if (first->first_record_lsn() == start) break;
    if (first->first_record_lsn() > start) {
      const std::string missing = JoinPath(dir, SegmentFileName(start - format::kSegmentHeaderSize));
      report.problems.push_back(ProblemAt(missing, 0, start,
                                          Status::Corruption("missing segment " + missing +
                                                             ": the manifest says the journal starts at LSN " +
                                                             Num(start) + " but the first segment is " +
                                                             first->path())));
      return report;
    }
    if (first->end() > start) {
      report.problems.push_back(ProblemAt(first->path(), 0, start,
                                          Status::Corruption("segment " + first->path() +
                                                             " straddles the journal start LSN " + Num(start) +
                                                             " recorded in the manifest")));
      return report;
    }
    // Left over from retention (a writer removes it): not part of the journal.
    --report.segments;
    report.bytes -= first->size();
    segs.DropBefore(first->end());
  }

  // One pass with the judgement of an open (recovery.cc), visiting records.
  std::vector<std::string> open_topics;  // events of the open transaction, counted at its commit
  std::vector<std::size_t> levels;       // open_topics size at each open sub-transaction's begin
  auto on_record = [&](const RecordView& r, const Segment& seg, const TxnChecker& checker, TxnChecker::Effect effect) {
    ++report.records;
    switch (r.type) {
      case RecordType::kBegin:
        open_topics.clear();
        levels.clear();
        break;
      case RecordType::kSubBegin: levels.push_back(open_topics.size()); break;
      case RecordType::kEvent: open_topics.emplace_back(DecodeEventBody(r).topic); break;
      case RecordType::kSubCommit:
        if (!levels.empty()) levels.pop_back();
        break;
      case RecordType::kSubRollback:
        if (!levels.empty()) {
          open_topics.resize(levels.back());  // its events and its descendants' are gone
          levels.pop_back();
        }
        break;
      default: break;
    }
    if (visit) visit(ToRaw(r, seg));
    if (effect == TxnChecker::Effect::kCommitted) {
      ++report.committed_txns;
      for (const auto& t : open_topics) ++report.events_per_topic[t];
      report.events += open_topics.size();
      open_topics.clear();
    } else if (effect == TxnChecker::Effect::kRolledBack) {
      ++report.rolled_back_txns;
      open_topics.clear();
    }
    (void)checker;
  };
  if (on_start) on_start(report.start);
  Checkpoint cp{start, m.first_offset, m.last_txn_id_before, 0, 0, 0};
  TailScan t;
  Status ts = ScanToTail(segs, cp, &t, writer_before, on_record);
  // A file truncated while the walk had it mapped read as zeros past its
  // new end: that, not what the zeros looked like, is the problem.
  for (const auto& seg : segs.All()) {
    if (Status mc = seg->CheckMapping(); !mc.ok()) {
      report.problems.push_back(ProblemAt(seg->path(), 0, seg->base(), mc));
      return report;
    }
  }
  if (!ts.ok()) {
    report.end_lsn = t.problem_lsn;
    report.problems.push_back(ProblemAt(t.problem_file, t.problem_offset, t.problem_lsn, ts));
    return report;
  }
  report.end_lsn = t.end_lsn;
  report.next_offset = t.next_offset;
  report.writer_active = writer_before || DirLock::IsHeld(*fs, dir);
  if (!writer_before) {
    if (t.crash_tail) {
      report.tail.push_back(t.tail_reason + " at LSN " + Num(t.end_lsn) + ", " + Num(t.tail_bytes) +
                            " bytes after it (the next writable open cuts them)");
    }
    if (t.open_txn) {
      report.tail.push_back("transaction " + Num(t.open_txn_id) +
                            " is open at the tail (being written, or left by a crash: the next writable open rolls "
                            "it back)");
    }
    return report;
  }
  // A live writer: the first position that is not a complete record is where
  // it appends. It is damage only if the writer had synced past it: read the
  // durable watermark first, then the bytes again (a record being written
  // meanwhile is complete by the time the watermark covers it).
  const std::uint64_t p = t.end_lsn;
  auto seg = segs.Find(p);
  if (!seg) {
    const std::string missing = JoinPath(dir, SegmentFileName(p - format::kSegmentHeaderSize));
    report.problems.push_back(ProblemAt(
        missing, 0, p, Status::Corruption("missing segment " + missing + ": the log continues at LSN " + Num(p))));
    return report;
  }
  const std::uint64_t salt = m.salt();
  const std::uint64_t watermark = seg->watermark(salt);
  RecordView r;
  DecodeError e = DecodeRecord(seg->at(p), seg->end() - p, p, salt, &r);
  if (e == DecodeError::kNone && r.epoch < t.last_epoch) e = DecodeError::kStaleEpoch;
  if (e != DecodeError::kNone && p < watermark) {
    report.problems.push_back(ProblemAt(
        seg->path(), seg->file_offset(p), p,
        Status::Corruption(std::string(DecodeErrorName(e)) + " in " + seg->path() + " at byte " +
                           Num(seg->file_offset(p)) + " (LSN " + Num(p) + "), below the synced watermark LSN " +
                           Num(watermark) + " (damage a crash cannot explain)")));
    return report;
  }
  report.tail.push_back("a writer has the journal open: read up to LSN " + Num(p) + " (" + seg->path() + " at byte " +
                        Num(seg->file_offset(p)) + "), where it is appending" +
                        (t.open_txn ? "; transaction " + Num(t.open_txn_id) + " is being written" : std::string()));
  return report;
}

}  // namespace txj
