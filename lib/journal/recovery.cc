#include "recovery.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "checksum.h"
#include "head_page.h"
#include "name_table.h"
#include "txn_checker.h"

namespace txj::internal {

namespace {

std::string Num(std::uint64_t v) { return std::to_string(v); }

// True if some valid, non-stale record starts at an 8-aligned position in
// (from, limit) of `seg`. A record's header is never all zeros, so `limit`
// may be the segment's non-zero end (NonZeroEnd).
bool ValidRecordAfter(const Segment& seg, std::uint64_t from, std::uint64_t limit, std::uint64_t salt,
                      std::uint32_t min_epoch) {
  for (std::uint64_t lsn = from + format::kRecordAlign; lsn < limit && lsn + format::kRecordHeaderSize <= seg.end();
       lsn += format::kRecordAlign) {
    const std::uint8_t* p = seg.at(lsn);
    std::uint32_t len;
    std::memcpy(&len, p + 8, 4);
    if (len < format::kRecordHeaderSize) continue;  // fast reject (zeroed space)
    RecordView r;
    if (DecodeRecord(p, seg.end() - lsn, lsn, salt, &r) == DecodeError::kNone && r.epoch >= min_epoch) return true;
  }
  return false;
}

// True if nothing was written to `seg` at its LSNs: zeros after its header,
// or, in a recycled segment (old bytes after the header), no record that
// verifies where its first one would start.
bool Unwritten(const Segment& seg, std::uint64_t salt) {
  const std::uint64_t first = seg.first_record_lsn();
  if (!seg.recycled()) return NonZeroEnd(seg, first) == first;
  RecordView r;
  return DecodeRecord(seg.at(first), seg.end() - first, first, salt, &r) != DecodeError::kNone;
}

// True if the checkpoint position `lsn` follows the record `r` it names:
// right after it, or after the page padding that ends a durable commit's
// page and the segment-end marker a padding may leave for (both written
// with the commit, before the checkpoint that names it).
bool CheckpointFollows(SegmentSet& segs, std::uint64_t salt, RecordView r, std::uint64_t lsn) {
  for (int hops = 0;; ++hops) {
    auto seg = segs.Find(r.lsn);
    if (!seg) return false;
    const std::uint64_t after =
        r.type == RecordType::kSegmentEnd ? seg->end() + format::kSegmentHeaderSize : r.next_lsn();
    if (after == lsn) return true;
    if (hops == 2 || after > lsn || r.type == RecordType::kSegmentEnd || after + format::kRecordHeaderSize > seg->end()) {
      return false;
    }
    RecordView next;
    if (DecodeRecord(seg->at(after), seg->end() - after, after, salt, &next) != DecodeError::kNone) return false;
    const bool filler = (next.type == RecordType::kPadding && next.txn_id == 0 && next.depth == 0) ||
                        next.type == RecordType::kSegmentEnd;
    if (!filler) return false;
    r = next;
  }
}

// Notes where the damage is, for callers that report it (tools).
Status DamageAt(TailScan* out, const Segment* seg, std::uint64_t lsn, Status st) {
  out->problem_file = seg ? seg->path() : std::string();
  out->problem_offset = seg ? seg->file_offset(lsn) : 0;
  out->problem_lsn = lsn;
  return st;
}

// Reads and checks every valid record from the reader's position, noting
// boundaries and index entries; returns why it stopped in *stop.
Status ScanRecords(LogReader& reader, TxnChecker& checker, std::uint64_t salt, TailScan* out, const ScanVisitor& visit,
                   LogReader::Stop* stop) {
  std::uint64_t last_index_offset = 0, last_index_lsn = 0;
  bool index_any = false;
  RecordView r;
  // Format 5: every event named by id names a pair a names record before
  // it binds (one the scan passed, or, from a checkpoint inside a segment,
  // one before it: NameTable reads those then). No crash leaves one that
  // does not: the names record comes first in the log.
  NameTable names;
  while ((*stop = reader.Next(&r)) == LogReader::Stop::kRecord) {
    TxnChecker::Effect effect;
    Status st = checker.Feed(r, &effect);
    if (st.ok() && r.type == RecordType::kNames) {
      st = names.Define(reader.segment(), r);
    } else if (st.ok() && r.type == RecordType::kEvent && (r.flags & format::kFlagNameRef) != 0) {
      std::string_view topic, type;
      st = names.Resolve(reader.segment(), salt, r.lsn, r.epoch, DecodeEventBody(r).name_id, &topic, &type);
    }
    if (!st.ok()) {
      return DamageAt(out, reader.segment().get(), r.lsn,
                      Status::Corruption(st.message() + ", in " + reader.Where(r.lsn)));
    }
    if (visit) visit(r, *reader.segment(), checker, effect);
    if (effect != TxnChecker::Effect::kCommitted && effect != TxnChecker::Effect::kRolledBack) continue;
    out->last_boundary =
        Boundary{reader.position(), checker.next_offset(), checker.last_txn_id(), r.epoch, r.lsn, r.checksum};
    if (effect != TxnChecker::Effect::kCommitted || checker.committed_count() == 0) continue;
    const std::uint64_t f = checker.committed_first_offset();
    if (!index_any || f >= last_index_offset + 1024 || checker.begin_lsn() >= last_index_lsn + (256u << 10)) {
      out->index.emplace_back(f, checker.begin_lsn());
      last_index_offset = f;
      last_index_lsn = checker.begin_lsn();
      index_any = true;
    }
  }
  return Status::OK();
}

// What lies at the reader's stop position: the clean end, a crash tail
// (noted in *out), or damage a crash cannot explain (kCorruption).
Status JudgeTail(SegmentSet& segs, LogReader& reader, LogReader::Stop stop, TailScan* out) {
  const std::uint64_t salt = segs.manifest().salt();
  const std::uint64_t p = reader.position();
  if (stop == LogReader::Stop::kNoSegment) {
    // A read-only open lists the directory for segments a live writer
    // added: a file it could not open (too many open files, say) is an
    // error of this open, not damage.
    Status why = segs.WhyMissing(p);
    if (!why.ok() && why.code() != Code::kCorruption) return why;
    const std::string missing = JoinPath(segs.dir(), SegmentFileName(p - format::kSegmentHeaderSize));
    Status st = DamageAt(out, nullptr, p,
                         Status::Corruption("missing segment " + missing +
                                            ": the previous segment ends with a segment-end marker (LSN " + Num(p) +
                                            ")"));
    out->problem_file = missing;
    return st;
  }
  std::shared_ptr<Segment> seg = reader.segment() ? reader.segment() : segs.Find(p);
  if (!seg) return DamageAt(out, nullptr, p, Status::Corruption("no segment holds the journal tail at LSN " + Num(p)));
  const bool invalid = stop == LogReader::Stop::kInvalid;
  if (invalid && (reader.error() == DecodeError::kBadType || reader.error() == DecodeError::kBadBody)) {
    // The record verifies (checksum bound to this journal, position and
    // session): no crash writes one the writer would not have written.
    return DamageAt(out, seg.get(), p,
                    Status::Corruption(std::string(DecodeErrorName(reader.error())) + " in " + reader.Where(p) +
                                       " (the record verifies, so no crash explains it; nothing was changed)"));
  }
  if (invalid && reader.error() == DecodeError::kTooShort) {
    // The record before p verified, and a writer ends none closer to the
    // segment's end than a segment-end marker needs: no crash leaves this,
    // and no repair could (a writer could neither append nor roll here).
    return DamageAt(out, seg.get(), p,
                    Status::Corruption("the record before " + reader.Where(p) + " ends " + Num(seg->end() - p) +
                                       " bytes before the end of its segment, too close for the segment-end marker "
                                       "a writer always leaves room for (no crash explains it; nothing was changed)"));
  }
  const std::uint32_t min_epoch = reader.last_epoch();
  // The segments after the tail's: synced data there is damage; anything
  // written there is part of the crash tail.
  bool later_valid = false;
  std::uint64_t later_bytes = 0;
  for (const auto& later : segs.All()) {
    if (later->base() <= seg->base()) continue;
    if (later->watermark(salt) > later->first_record_lsn()) {
      return DamageAt(out, seg.get(), p,
                      Status::Corruption("segment " + later->path() + " holds synced data after damage in " +
                                         reader.Where(p) + ": " + std::string(DecodeErrorName(reader.error()))));
    }
    const std::uint64_t first = later->first_record_lsn();
    RecordView lr;
    DecodeError e = DecodeRecord(later->at(first), later->end() - first, first, salt, &lr);
    if (later->recycled()) {
      // Old bytes after the header: only a record that verifies at its
      // first position was written in its new life (its extent is not
      // known; the bytes counted are that record's).
      if (e != DecodeError::kNone) continue;
      if (lr.epoch >= min_epoch) later_valid = true;
      later_bytes += format::AlignUp(lr.length);
      continue;
    }
    const std::uint64_t later_end = NonZeroEnd(*later, first);
    if (later_end == first) continue;  // all zeros (a prepared segment)
    if (e == DecodeError::kNone || ValidRecordAfter(*later, first, later_end, salt, min_epoch)) later_valid = true;
    later_bytes += later_end - first;
  }
  const std::uint64_t watermark = seg->watermark(salt);
  if (seg->recycled()) {
    // After the records of a recycled segment lie the file's old bytes, or
    // records an earlier session left past a crash tail: neither reads as a
    // record of this position and epoch, so the first position that is not
    // one is the end, and nothing after it is read or cut. Below the synced
    // watermark it is damage; a close leaves the watermark at the end.
    const std::string what = invalid ? std::string(DecodeErrorName(reader.error()))
                                     : std::string("zeroed bytes");
    if (p < watermark) {
      return DamageAt(out, seg.get(), p,
                      Status::Corruption(what + " in " + reader.Where(p) + ", below the synced watermark LSN " +
                                         Num(watermark) + " (damage a crash cannot explain; nothing was changed)"));
    }
    if (p == watermark && later_bytes == 0) return Status::OK();  // clean end
    out->crash_tail = true;
    out->tail_reason = "the records of recycled segment " + seg->path() + " end past its synced watermark LSN " +
                       Num(watermark) + " (" + what + " there; the writer did not close)";
    out->tail_bytes = later_bytes;
    return Status::OK();
  }
  const std::uint64_t nonzero_end = NonZeroEnd(*seg, p);
  const bool valid_after = later_valid || ValidRecordAfter(*seg, p, nonzero_end, salt, min_epoch);
  // A clean end has only zeros after it. Stray bytes after a zeroed header
  // (a later page of a torn write reached the disk, the header's did not)
  // are a crash tail too: left in place, the writer would append up to them
  // and the next open would find them after its records.
  const std::uint64_t stray = invalid || valid_after ? 0 : (nonzero_end - p) + later_bytes;
  // Zero space after the last record is the clean end only where no sync
  // covered it: below the watermark the segment held synced records, so
  // zeroes there are lost data (a device or a person zeroed synced pages),
  // exactly like garbage there.
  if (!invalid && !valid_after && stray == 0 && p >= watermark) return Status::OK();  // clean end
  const std::string what = invalid       ? std::string(DecodeErrorName(reader.error()))
                           : valid_after ? std::string("zeroed bytes with valid records after them")
                           : stray != 0  ? std::string("zeroed bytes with stray non-zero bytes after them")
                                         : std::string("zeroed bytes where synced records were");
  if (p < watermark) {
    return DamageAt(out, seg.get(), p,
                    Status::Corruption(what + " in " + reader.Where(p) + ", below the synced watermark LSN " +
                                       Num(watermark) + " (damage a crash cannot explain; nothing was changed)"));
  }
  out->crash_tail = true;
  out->tail_reason = invalid ? "torn record (" + what + ")" : what;
  out->tail_bytes = (nonzero_end - p) + later_bytes;
  return Status::OK();
}

}  // namespace

Status ScanToTail(SegmentSet& segs, const Checkpoint& start, TailScan* out, bool tail_moving,
                  const ScanVisitor& visit) {
  LogReader reader(&segs, start.lsn);
  reader.set_min_epoch(static_cast<std::uint32_t>(start.epoch));
  TxnChecker checker;
  checker.Reset(start.next_offset, start.last_txn_id);
  out->start_lsn = start.lsn;
  out->last_boundary = Boundary{start.lsn, start.next_offset, start.last_txn_id, start.epoch, start.prev_lsn,
                                start.prev_checksum};
  LogReader::Stop stop;
  TXJ_RETURN_IF_ERROR(ScanRecords(reader, checker, segs.manifest().salt(), out, visit, &stop));
  const std::uint64_t p = reader.position();
  out->end_lsn = p;
  out->scanned_bytes = p - start.lsn;
  out->next_offset = checker.next_offset();
  out->last_txn_id = checker.last_txn_id();
  out->last_epoch = reader.last_epoch();
  out->open_txn = checker.in_txn();
  if (out->open_txn) {
    out->open_txn_id = checker.txn_id();
    out->open_begin_lsn = checker.begin_lsn();
    out->open_records = checker.record_count();
  }
  if (tail_moving) return Status::OK();
  return JudgeTail(segs, reader, stop, out);
}

namespace {

// Where the scan starts: the catalog's checkpoint when it matches the
// journal, else the first record. Sets *clear_catalog when the catalog's
// derived tables must be rebuilt (once the scan succeeded).
Result<Checkpoint> ScanStart(JournalState& s, bool* clear_catalog) {
  SegmentSet& segs = *s.segments;
  Checkpoint start{segs.First()->first_record_lsn(), s.first_offset, s.manifest.last_txn_id_before, 0, 0, 0};
  if (!s.catalog) return start;
  auto cp = s.catalog->GetCheckpoint();
  if (!cp.ok()) {
    s.report.catalog_rebuilt = !s.read_only;
    s.report.notes.push_back("catalog unreadable (" + cp.status().ToString() + "); scanned from the start");
    return start;
  }
  if (!cp->has_value()) return start;
  const Checkpoint& c = **cp;
  auto last = segs.Last();
  if (s.read_only && c.lsn > last->end()) {
    // A live writer moved on to new segments since this reader listed them.
    TXJ_RETURN_IF_ERROR(segs.Refresh());
    last = segs.Last();
  }
  if (c.lsn > last->end()) {
    return Status::Corruption("the catalog records data up to LSN " + Num(c.lsn) + " but the last segment " +
                              last->path() + " ends at LSN " + Num(last->end()) + " (missing segment " +
                              JoinPath(s.dir, SegmentFileName(last->end())) + ")");
  }
  bool usable = false;
  if (auto seg = segs.Find(c.prev_lsn)) {
    RecordView r;
    if (DecodeRecord(seg->at(c.prev_lsn), seg->end() - c.prev_lsn, c.prev_lsn, s.salt, &r) == DecodeError::kNone &&
        r.checksum == c.prev_checksum) {
      usable = CheckpointFollows(segs, s.salt, r, c.lsn);
    }
  }
  if (usable) {
    s.last_checkpoint_prev_lsn = c.prev_lsn;
    return c;
  }
  s.report.catalog_rebuilt = !s.read_only;  // a reader only scans; it changes nothing
  s.report.notes.push_back("catalog checkpoint at LSN " + Num(c.lsn) + " does not match the journal; scanned from the start");
  *clear_catalog = !s.read_only;  // once the scan succeeded: a failed open changes nothing
  return start;
}

// What the scan found goes into the state and the report.
void TakeScan(JournalState& s, const TailScan& t) {
  s.report.start_lsn = t.start_lsn;
  s.report.scanned_bytes = t.scanned_bytes;
  s.report.end_lsn = t.end_lsn;
  s.report.next_offset = t.next_offset;
  s.report.next_txn_id = t.last_txn_id + 1;
  s.next_offset = t.next_offset;
  s.next_txn_id = t.last_txn_id + 1;
  s.last_boundary = t.last_boundary;
  {
    std::lock_guard<std::mutex> lock(s.index_mu);
    for (const auto& e : t.index) {
      s.index[e.first] = e.second;
      s.index_pending.push_back(e);
    }
    if (!t.index.empty()) {
      s.index_any = true;
      s.last_index_offset = t.index.back().first;
      s.last_index_lsn = t.index.back().second;
    }
  }
  auto tail_seg = s.segments->Find(t.end_lsn);
  if (t.crash_tail) {
    s.report.repairs.push_back({tail_seg->path(), tail_seg->file_offset(t.end_lsn), t.end_lsn, t.tail_bytes,
                                t.tail_reason + (s.read_only ? " (not repaired: read-only)" : "")});
  }
  if (t.open_txn) {
    s.report.repairs.push_back({tail_seg->path(), tail_seg->file_offset(t.end_lsn), t.end_lsn, 0,
                                "transaction " + Num(t.open_txn_id) + " left open at the tail" +
                                    (s.read_only ? " (not rolled back: read-only)" : " rolled back")});
  }
}

// The new epoch must be above every record's, or the next open would read
// this session's records as stale bytes of an older one and cut them. A
// manifest restored from an older copy is below: take the records' epoch as
// the base instead. The epoch becomes durable before any record of it.
// The highest epoch, at least `floor`, of a record that verifies at its own
// position at or after `from` in a recycled segment, or 0. A recycled
// segment keeps what a crashed session wrote past its tail (nothing zeroes
// it), and a new writer's records must read as newer than all of it.
// Records below `floor` are skipped before their checksum is computed.
std::uint32_t EpochPastTail(SegmentSet& segs, std::uint64_t from, std::uint64_t salt, std::uint32_t floor) {
  std::uint32_t best = 0;
  for (const auto& seg : segs.All()) {
    if (!seg->recycled() || seg->end() <= from) continue;
    const std::uint64_t end = seg->end();
    for (std::uint64_t lsn = std::max(from, seg->first_record_lsn()); lsn + format::kRecordHeaderSize <= end;
         lsn += format::kRecordAlign) {
      format::RecordHeader h;
      std::memcpy(&h, seg->at(lsn), sizeof h);
      if (h.epoch < floor || h.epoch <= best || h.length < format::kRecordHeaderSize || h.length > end - lsn) continue;
      // Any record that verifies at its position counts, whatever its type.
      RecordView r;
      const DecodeError e = DecodeRecord(seg->at(lsn), end - lsn, lsn, salt, &r);
      if (e == DecodeError::kNone || e == DecodeError::kBadType || e == DecodeError::kBadBody) best = h.epoch;
    }
  }
  return best;
}

// Whether the head page's last begun id `head_id` names ids the journal
// does not hold, which recovery then keeps taken with a padding record
// (KeepLostIdTaken). A head page naming an id far ahead is not believed.
bool HeadNamesLostIds(const JournalState& s, std::uint64_t head_id) {
  return head_id >= s.next_txn_id && head_id - s.next_txn_id <= (1u << 20);
}

// `writes`: recovery will write a record at the tail (a padding record
// keeping lost ids taken).
Status TakeNewEpoch(JournalState& s, const TailScan& t, bool writes) {
  std::uint32_t top = t.last_epoch;
  // After the tail of a recycled segment lies what earlier sessions left
  // there, never zeroed. Their epochs are below the manifest's, unless the
  // manifest was restored from an older copy: look, unless a writer of an
  // epoch below this one closed the journal cleanly right there (its
  // close left the watermark at the end, so nothing after it is newer).
  auto tail_seg = s.segments->Find(t.end_lsn);
  const bool closed_cleanly = !t.crash_tail && !t.open_txn && tail_seg &&
                              tail_seg->watermark(s.salt) == t.end_lsn &&
                              tail_seg->watermark_epoch(s.salt) != 0 && tail_seg->watermark_epoch(s.salt) < s.epoch;
  // A record that recovery writes after a clean end makes the bytes after
  // it the next ones read: they must read as older too, whatever a clean
  // close promises (the recovery fuzzer built such a journal: a padding
  // record followed by a record of a newer epoch it had placed there).
  if (t.last_epoch >= s.epoch || (tail_seg && tail_seg->recycled() && (!closed_cleanly || writes))) {
    top = std::max(top, EpochPastTail(*s.segments, t.end_lsn, s.salt, s.epoch));
  }
  if (top >= s.epoch) {
    if (top == std::numeric_limits<std::uint32_t>::max()) {
      return Status::Corruption("records of " + s.dir + " carry epoch " + Num(top) +
                                ", the highest there is: no writer can follow them");
    }
    s.report.notes.push_back("the manifest " + JoinPath(s.dir, "JOURNAL") + " had epoch " + Num(s.manifest.epoch) +
                             ", not above the epoch " + Num(top) +
                             " of the journal's records (restored from an older copy?): this writer takes epoch " +
                             Num(top + 1));
    s.epoch = top + 1;
  }
  if (s.manifest.epoch == s.epoch) return Status::OK();
  s.manifest.epoch = s.epoch;
  return WriteManifest(*s.fs, s.dir, s.manifest, s.options.file_mode);
}

// Cuts a crash tail and removes the segments past the tail (keeping an
// empty prepared one), then makes what the scan read durable.
Status CutTail(JournalState& s, const TailScan& t, std::uint64_t start_lsn) {
  SegmentSet& segs = *s.segments;
  auto tail_seg = segs.Find(t.end_lsn);
  if (!tail_seg->writable()) {
    // Sealed (durable to its end, its descriptor closed at the open), yet
    // the scan ended inside it: its next segment is where a writer goes on.
    return Status::Corruption("the journal ends inside " + tail_seg->path() + " at byte " +
                              Num(tail_seg->file_offset(t.end_lsn)) +
                              ", a segment sealed as complete and durable to its end (no crash explains it)");
  }
  if (t.crash_tail) {
    // Only the bytes up to the last non-zero one: the rest is zero already,
    // and writing it would dirty (and sync) the whole unwritten rest. A
    // recycled segment keeps its bytes: what follows its records never
    // reads as a record of a later session (ValidRecordAfter's epoch bound,
    // the checksums' LSN seed).
    if (!tail_seg->recycled()) std::memset(tail_seg->at(t.end_lsn), 0, NonZeroEnd(*tail_seg, t.end_lsn) - t.end_lsn);
    TXJ_RETURN_IF_ERROR(tail_seg->Sync());
    // Index entries past the cut would point new offsets at old positions.
    if (s.catalog) {
      TXJ_RETURN_IF_ERROR(s.catalog->DropFrom(t.end_lsn).WithContext(
          "removing the catalog's entries past the cut tail at LSN " + Num(t.end_lsn)));
    }
  }
  for (const auto& later : segs.All()) {
    if (later->base() <= tail_seg->base()) continue;
    // The segment prepared before the crash or close, still empty: keep it
    // as the next one to write.
    if (later->base() == tail_seg->end() && !s.prepared && Unwritten(*later, s.salt)) {
      s.prepared = later;
      continue;
    }
    if (int e = s.fs->Unlink(later->path())) return Status::FromErrno(e, "remove " + later->path());
    s.report.notes.push_back("removed segment " + later->path() + " past the tail");
  }
  segs.DropFrom(tail_seg->end());
  if (int e = s.fs->SyncDir(s.dir)) return Status::FromErrno(e, "sync directory " + s.dir);
  s.active = tail_seg;
  // A durable writer writes no zeros ahead where the blocks are written
  // already (JournalState::ZeroAhead): a reused file's, and the zeros the
  // last writer wrote ahead of this tail in a new one; and writes into
  // pages of its own past the tail (Segment::PrepareOverwrite).
  if (s.stage_always) {
    s.active->PrepareOverwrite(t.end_lsn);
    if (s.prepared) s.prepared->PrepareOverwrite(s.prepared->first_record_lsn());
  }
  s.pos = t.end_lsn;
  s.stage_lsn = s.pos;
  // What is there may hold acknowledged commits (and is synced below): the
  // first write goes past the tail's page (Flush).
  s.written_end = s.frozen_end = s.pos;
  // What the scan read may still be only in the page cache (the writer died,
  // the machine did not): make it durable before building on it.
  // A sealed segment kept without descriptor (SegmentSet) was durable to
  // its end before it was sealed.
  for (const auto& seg : segs.All()) {
    if (seg->end() > start_lsn && seg->fd() >= 0) TXJ_RETURN_IF_ERROR(seg->Sync());
  }
  // The segments before the tail are complete and durable now: sealed, as
  // the sealing thread would have sealed them had the writer not stopped
  // first (a crash before their seal). Left unsealed, no later session
  // would seal them, and retention could drop neither them nor anything
  // after them (DropFront stops at the first segment not sealed), nor
  // compaction rewrite them.
  for (const auto& seg : segs.All()) {
    if (seg->end() > s.active->base() || seg->known_sealed() || seg->fd() < 0) continue;
    seg->raise_watermark(seg->end(), s.epoch, s.salt);
    TXJ_RETURN_IF_ERROR(seg->Sync());
    seg->set_known_sealed();
  }
  return Status::OK();
}

// Closes the transaction left open at the tail with a durable rollback
// marker.
Status RollBackOpenTransaction(JournalState& s, const TailScan& t) {
  // A writer keeps the end of every segment for this marker (and the
  // segment-end marker after it). Records of the open transaction in that
  // reserve were not written by this library's writer: refuse, rather than
  // roll to a new segment here (its background threads do not run yet).
  const std::uint64_t need = kTailReserve;
  if (s.pos + need > s.active->end()) {
    return Status::Corruption("transaction " + std::to_string(t.open_txn_id) + " was left open at the tail of " +
                              s.active->path() + " with records up to byte " +
                              std::to_string(s.active->file_offset(s.pos)) + ", inside the " + std::to_string(need) +
                              " bytes a writer keeps free at the end of a segment for " +
                              "its rollback marker: the segment was not written by txjournal's writer or is "
                              "damaged (open it read-only to read what was committed)");
  }
  format::RollbackBody body{t.open_records, t.open_begin_lsn};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn, sum;
  TXJ_RETURN_IF_ERROR(s.Append(RecordType::kRollback, 0, 0, t.open_txn_id, 0, &part, 1, true, &lsn, &sum));
  TXJ_RETURN_IF_ERROR(s.Flush());
  TXJ_RETURN_IF_ERROR(s.active->Sync());
  // Flush may have moved the marker past a gap.
  s.last_boundary = Boundary{s.pos, s.next_offset, t.last_txn_id, s.epoch, s.last_record_lsn, s.last_record_checksum};
  return Status::OK();
}

// A transaction whose records were all still in the dead writer's stage
// left nothing in the file, but its id was handed out; so did transactions
// whose pages a power loss took. The head page names the last id the
// writer handed out (HeadPage::NoteBegun): a padding record keeps the ids
// up to it taken, as compaction's do, so that no later transaction gets
// one of them. (A head page that names an id far ahead is not believed.)
Status KeepLostIdTaken(JournalState& s, std::uint64_t id) {
  if (!HeadNamesLostIds(s, id)) return Status::OK();
  const std::string ids =
      id == s.next_txn_id ? "transaction " + Num(id) : "transactions " + Num(s.next_txn_id) + " to " + Num(id);
  std::string what = ids +
                     " left open or lost by the writer that stopped, with no record in the file"
                     " (its records still in the writer's memory, or its pages lost):";
  if (s.pos + kTailReserve > s.active->end()) {
    // No room before the segment's end markers (not left by this library's
    // writer): this session does not give the id out.
    s.next_txn_id = id + 1;
    s.report.next_txn_id = s.next_txn_id;
    s.report.notes.push_back(what + " not handed out again");
    return Status::OK();
  }
  format::PaddingBody body{0, id};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn, sum;
  TXJ_RETURN_IF_ERROR(s.Append(RecordType::kPadding, 0, 0, 0, 0, &part, 1, true, &lsn, &sum));
  TXJ_RETURN_IF_ERROR(s.Flush());
  TXJ_RETURN_IF_ERROR(s.active->Sync());
  lsn = s.last_record_lsn;  // Flush may have moved it past a gap
  s.next_txn_id = id + 1;
  s.report.next_txn_id = s.next_txn_id;
  s.last_boundary = Boundary{s.pos, s.next_offset, id, s.epoch, s.last_record_lsn, s.last_record_checksum};
  s.report.repairs.push_back({s.active->path(), s.active->file_offset(lsn), lsn, 0,
                              what + " treated as rolled back, kept taken by a padding record"});
  return Status::OK();
}

}  // namespace

Status Recover(JournalState& s) {
  bool clear_catalog = false;
  auto start = ScanStart(s, &clear_catalog);
  if (!start.ok()) return start.status();
  TailScan t;
  // A reader next to a live writer sees the tail being written: not damage,
  // and an open transaction there is not left over.
  const bool writer_alive = s.read_only && DirLock::IsHeld(*s.fs, s.dir);
  TXJ_RETURN_IF_ERROR(ScanToTail(*s.segments, *start, &t, writer_alive));
  if (writer_alive) t.open_txn = false;
  TakeScan(s, t);
  if (s.read_only) {
    s.pos = t.end_lsn;
    return Status::OK();
  }
  // ---- repair (writable): nothing was written so far ----
  const std::uint64_t head_id = HeadPage::LastBegun(*s.fs, s.dir);
  TXJ_RETURN_IF_ERROR(TakeNewEpoch(s, t, HeadNamesLostIds(s, head_id)));
  if (clear_catalog) {
    TXJ_RETURN_IF_ERROR(s.catalog->ClearDerived().WithContext(
        "clearing the catalog's checkpoint and index, which do not match the journal"));
  }
  TXJ_RETURN_IF_ERROR(CutTail(s, t, start->lsn));
  if (t.open_txn) TXJ_RETURN_IF_ERROR(RollBackOpenTransaction(s, t));
  TXJ_RETURN_IF_ERROR(KeepLostIdTaken(s, head_id));
  if (s.active->recycled() && s.active->watermark(s.salt) < s.pos) {
    // A recycled segment's clean end is its watermark (its tail is never
    // zeroed): everything below the position is durable now (CutTail and
    // the rollback synced it), so the next open finds the end clean.
    s.active->raise_watermark(s.pos, s.epoch, s.salt);
    TXJ_RETURN_IF_ERROR(s.active->Sync());
  }
  s.report.end_lsn = s.pos;
  return Status::OK();
}

}  // namespace txj::internal
