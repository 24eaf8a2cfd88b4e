#include "txjournal/walk.h"

#include <algorithm>

#include "dir_lock.h"
#include "log_reader.h"
#include "manifest.h"
#include "name_table.h"
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
      raw.name_ref = f.name_ref;
      raw.name_id = f.name_id;
      break;
    }
    case RecordType::kNames: {
      const auto b = ReadBody<format::NamesBody>(r);
      const char* s = reinterpret_cast<const char*>(r.body) + sizeof b;
      raw.name_id = b.id;
      raw.topic = std::string_view(s, b.topic_length);
      raw.type_name = std::string_view(s + b.topic_length, b.type_length);
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

namespace {

// The steps of a walk, in order; each returns false once the report is
// final (a problem found, or nothing more to read).
class Walker {
 public:
  Walker(const std::shared_ptr<FileSystem>& fs, const std::string& dir) : fs_(fs), dir_(dir) {}

  Result<WalkReport> Run(const std::function<void(const RawRecord&)>& visit,
                         const std::function<void(const WalkStart&)>& on_start);

 private:
  Status ListSegments();
  // The manifest; false when its absence or damage is the report.
  Result<bool> ReadJournalManifest();
  // Each segment file on its own, so that each bad one is named, then their
  // continuity. False when the report is final.
  Result<bool> CheckSegments();
  // Opens the segment set from where the manifest says the journal starts.
  Result<bool> OpenFromStart(SegmentSet& segs);
  // One pass with the judgement of an open (recovery.cc), visiting records.
  Status Scan(SegmentSet& segs, const std::function<void(const RawRecord&)>& visit,
              const std::function<void(const WalkStart&)>& on_start);
  void ReportTail(SegmentSet& segs);
  void CountRecord(const RawRecord& r, TxnChecker::Effect effect);
  void Problem(std::string file, std::uint64_t file_offset, std::uint64_t lsn, const Status& s) {
    report_.problems.push_back(ProblemAt(std::move(file), file_offset, lsn, s));
  }
  static bool Fatal(const Status& s) { return s.code() == Code::kIOError || s.code() == Code::kNotSupported; }

  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
  WalkReport report_;
  bool writer_before_ = false;
  std::vector<std::pair<std::uint64_t, std::string>> seg_names_;
  ManifestData m_;
  std::uint64_t start_ = 0;  // where the manifest says the journal starts (retention moves it on)
  TailScan t_;
  std::vector<std::string> open_topics_;  // events of the open transaction, counted at its commit
  std::vector<std::size_t> levels_;       // open_topics_ size at each open sub-transaction's begin
  NameTable names_;                       // format 5: the names events refer to by id
};

// Called once per Walker: the report is moved out, not copied.
Result<WalkReport> Walker::Run(const std::function<void(const RawRecord&)>& visit,
                               const std::function<void(const WalkStart&)>& on_start) {
  // Before anything is read: a writer that has the journal open appends
  // while we read (its tail is moving, not torn).
  writer_before_ = DirLock::IsHeld(*fs_, dir_);
  TXJ_RETURN_IF_ERROR(ListSegments());
  auto go = ReadJournalManifest();
  if (!go.ok()) return go.status();
  if (!*go) return std::move(report_);
  go = CheckSegments();
  if (!go.ok()) return go.status();
  if (!*go) return std::move(report_);
  SegmentSet segs(fs_, dir_, m_, false);
  go = OpenFromStart(segs);
  if (!go.ok()) return go.status();
  if (!*go) return std::move(report_);
  TXJ_RETURN_IF_ERROR(Scan(segs, visit, on_start));
  return std::move(report_);
}

Status Walker::ListSegments() {
  std::vector<std::string> names;
  if (int e = fs_->ListDir(dir_, &names)) {
    if (e == ENOENT || e == ENOTDIR) return Status::NotFound("no journal at " + dir_);
    return Status::FromErrno(e, "list journal directory " + dir_);
  }
  for (const auto& n : names) {
    std::uint64_t base = 0;
    if (ParseSegmentFileName(n, &base)) seg_names_.emplace_back(base, n);
  }
  std::sort(seg_names_.begin(), seg_names_.end());
  return Status::OK();
}

Result<bool> Walker::ReadJournalManifest() {
  const std::string manifest_path = JoinPath(dir_, format::kManifestName);
  Status ms = ReadManifest(*fs_, dir_, &m_);
  if (ms.IsNotFound()) {
    if (seg_names_.empty()) return ms;
    Problem(manifest_path, 0, 0,
            Status::Corruption(dir_ + " holds segment files but no JOURNAL manifest (missing " + manifest_path + ")"));
    return false;
  }
  if (Fatal(ms)) return ms;
  if (!ms.ok()) {
    Problem(manifest_path, 0, 0, ms);
    return false;
  }
  report_.start = WalkStart{m_.segment_size, m_.first_offset, m_.last_txn_id_before, m_.retention_offset,
                            (m_.flags & format::kManifestCatalogHoldsSourceData) != 0};
  start_ = m_.first_lsn ? m_.first_lsn : format::kSegmentHeaderSize;
  return true;
}

Result<bool> Walker::CheckSegments() {
  std::vector<std::shared_ptr<Segment>> opened;
  for (const auto& [base, name] : seg_names_) {
    auto seg = Segment::Open(fs_, dir_, name, m_, false);
    if (seg.ok()) {
      // The walk reads mappings only: no descriptor per sealed segment (a
      // long journal would run out of them, see SegmentSet).
      (*seg)->KeepMappingOnly();
      opened.push_back(std::move(seg).value());
      continue;
    }
    if (Fatal(seg.status())) return seg.status();
    Problem(JoinPath(dir_, name), 0, base, seg.status());
  }
  for (const auto& seg : opened) {
    ++report_.segments;
    report_.bytes += seg->size();
  }
  if (report_.damaged()) return false;
  // Continuity: each segment starts where the one before it ends.
  for (std::size_t i = 1; i < opened.size(); ++i) {
    const std::uint64_t expect = opened[i - 1]->end();
    if (opened[i]->base() == expect) continue;
    const std::string missing = JoinPath(dir_, SegmentFileName(expect));
    const bool gap = opened[i]->base() > expect;
    Problem(gap ? missing : opened[i]->path(), 0, expect,
            Status::Corruption(gap ? "missing segment " + missing + ": segments jump from LSN " + Num(expect) +
                                         " to " + Num(opened[i]->base()) + " (" + opened[i]->path() + ")"
                                   : "segment " + opened[i]->path() + " overlaps " + opened[i - 1]->path()));
    return false;
  }
  return true;
}

Result<bool> Walker::OpenFromStart(SegmentSet& segs) {
  if (Status rs = segs.Refresh(); !rs.ok()) {  // files changed since the listing
    if (Fatal(rs)) return rs;
    Problem("", 0, 0, rs);
    return false;
  }
  if (!segs.First()) {
    report_.tail.push_back("no segment yet (a new journal whose first open did not finish)");
    return false;
  }
  for (;;) {
    auto first = segs.First();
    const std::string missing = JoinPath(dir_, SegmentFileName(start_ - format::kSegmentHeaderSize));
    if (!first) {
      Problem(missing, 0, start_,
              Status::Corruption("the manifest says the journal starts at LSN " + Num(start_) +
                                 " but every segment ends before it"));
      return false;
    }
    if (first->first_record_lsn() == start_) return true;
    if (first->first_record_lsn() > start_) {
      Problem(missing, 0, start_,
              Status::Corruption("missing segment " + missing + ": the manifest says the journal starts at LSN " +
                                 Num(start_) + " but the first segment is " + first->path()));
      return false;
    }
    if (first->end() > start_) {
      Problem(first->path(), 0, start_,
              Status::Corruption("segment " + first->path() + " straddles the journal start LSN " + Num(start_) +
                                 " recorded in the manifest"));
      return false;
    }
    // Left over from retention (a writer removes it): not part of the journal.
    --report_.segments;
    report_.bytes -= first->size();
    segs.DropBefore(first->end());
  }
}

void Walker::CountRecord(const RawRecord& r, TxnChecker::Effect effect) {
  ++report_.records;
  switch (r.type) {
    case RecordType::kBegin:
      open_topics_.clear();
      levels_.clear();
      break;
    case RecordType::kSubBegin: levels_.push_back(open_topics_.size()); break;
    case RecordType::kEvent: open_topics_.emplace_back(r.topic); break;
    case RecordType::kSubCommit:
      if (!levels_.empty()) levels_.pop_back();
      break;
    case RecordType::kSubRollback:
      if (!levels_.empty()) {
        open_topics_.resize(levels_.back());  // its events and its descendants' are gone
        levels_.pop_back();
      }
      break;
    default: break;
  }
  if (effect == TxnChecker::Effect::kCommitted) {
    ++report_.committed_txns;
    for (const auto& t : open_topics_) ++report_.events_per_topic[t];
    report_.events += open_topics_.size();
    open_topics_.clear();
  } else if (effect == TxnChecker::Effect::kRolledBack) {
    ++report_.rolled_back_txns;
    open_topics_.clear();
  }
}

Status Walker::Scan(SegmentSet& segs, const std::function<void(const RawRecord&)>& visit,
                    const std::function<void(const WalkStart&)>& on_start) {
  std::shared_ptr<Segment> held;  // the segment of the last record (for names_)
  auto on_record = [&](const RecordView& r, const Segment& seg, const TxnChecker&, TxnChecker::Effect effect) {
    RawRecord raw = ToRaw(r, seg);
    if (r.type == RecordType::kNames || raw.name_ref) {
      if (held.get() != &seg) held = segs.Find(r.lsn);
      Status ns = !held ? Status::Corruption("no segment holds LSN " + Num(r.lsn))
                  : r.type == RecordType::kNames
                      ? names_.Define(held, r)
                      : names_.Resolve(held, m_.salt(), r.lsn, r.epoch, raw.name_id, &raw.topic, &raw.type_name);
      if (!ns.ok()) Problem(seg.path(), seg.file_offset(r.lsn), r.lsn, ns);
    }
    if (visit) visit(raw);
    CountRecord(raw, effect);
  };
  if (on_start) on_start(report_.start);
  Checkpoint cp{start_, m_.first_offset, m_.last_txn_id_before, 0, 0, 0};
  Status ts = ScanToTail(segs, cp, &t_, writer_before_, on_record);
  // A file truncated while the walk had it mapped read as zeros past its
  // new end: that, not what the zeros looked like, is the problem.
  for (const auto& seg : segs.All()) {
    if (Status mc = seg->CheckMapping(); !mc.ok()) {
      Problem(seg->path(), 0, seg->base(), mc);
      return Status::OK();
    }
  }
  if (!ts.ok()) {
    report_.end_lsn = t_.problem_lsn;
    Problem(t_.problem_file, t_.problem_offset, t_.problem_lsn, ts);
    return Status::OK();
  }
  report_.end_lsn = t_.end_lsn;
  report_.next_offset = t_.next_offset;
  report_.writer_active = writer_before_ || DirLock::IsHeld(*fs_, dir_);
  ReportTail(segs);
  return Status::OK();
}

void Walker::ReportTail(SegmentSet& segs) {
  if (!writer_before_) {
    if (t_.crash_tail) {
      report_.tail.push_back(t_.tail_reason + " at LSN " + Num(t_.end_lsn) + ", " + Num(t_.tail_bytes) +
                             " bytes after it (the next writable open cuts them)");
    }
    if (t_.open_txn) {
      report_.tail.push_back("transaction " + Num(t_.open_txn_id) +
                             " is open at the tail (being written, or left by a crash: the next writable open rolls "
                             "it back)");
    }
    return;
  }
  // A live writer: the first position that is not a complete record is where
  // it appends. It is damage only if the writer had synced past it: read the
  // durable watermark first, then the bytes again (a record being written
  // meanwhile is complete by the time the watermark covers it).
  const std::uint64_t p = t_.end_lsn;
  auto seg = segs.Find(p);
  if (!seg) {
    const std::string missing = JoinPath(dir_, SegmentFileName(p - format::kSegmentHeaderSize));
    Problem(missing, 0, p, Status::Corruption("missing segment " + missing + ": the log continues at LSN " + Num(p)));
    return;
  }
  const std::uint64_t salt = m_.salt();
  const std::uint64_t watermark = seg->watermark(salt);
  RecordView r;
  DecodeError e = DecodeRecord(seg->at(p), seg->end() - p, p, salt, &r);
  if (e == DecodeError::kNone && r.epoch < t_.last_epoch) e = DecodeError::kStaleEpoch;
  if (e != DecodeError::kNone && p < watermark) {
    Problem(seg->path(), seg->file_offset(p), p,
            Status::Corruption(std::string(DecodeErrorName(e)) + " in " + seg->path() + " at byte " +
                               Num(seg->file_offset(p)) + " (LSN " + Num(p) + "), below the synced watermark LSN " +
                               Num(watermark) + " (damage a crash cannot explain)"));
    return;
  }
  report_.tail.push_back("a writer has the journal open: read up to LSN " + Num(p) + " (" + seg->path() +
                         " at byte " + Num(seg->file_offset(p)) + "), where it is appending" +
                         (t_.open_txn ? "; transaction " + Num(t_.open_txn_id) + " is being written" : std::string()));
}

}  // namespace

Result<WalkReport> internal::WalkJournalOn(const std::shared_ptr<FileSystem>& fs, const std::string& dir,
                                           const std::function<void(const RawRecord&)>& visit,
                                           const std::function<void(const WalkStart&)>& on_start) {
  Walker w(fs, dir);
  return w.Run(visit, on_start);
}

}  // namespace txj
