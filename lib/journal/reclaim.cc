#include "reclaim.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "journal_state.h"
#include "log_reader.h"
#include "record.h"
#include "segment_rewriter.h"

namespace txj::internal {

namespace {

// True while the catalog's last checkpoint names a record in `seg`: the
// segment must stay as it is. 0: no checkpoint yet (no record has LSN 0,
// the first segment's header is there). REQUIRES: checkpoint_mu held.
bool NamedByCheckpoint(const JournalState& j, const Segment& seg) {
  const std::uint64_t cp_prev = j.last_checkpoint_prev_lsn.load();
  return cp_prev != 0 && cp_prev >= seg.base() && cp_prev < seg.end();
}

// Rewrites each sealed segment without the events `covered` says may go
// (those that would free fewer than `min_freed` bytes stay as they are).
Status RewriteSealed(JournalState& j, const CoveredFn& covered, std::uint64_t min_freed) {
  auto all = j.segments->All();
  for (auto& seg : all) {
    if (!seg->known_sealed()) continue;  // the active segment, or one not yet sealed
    // No checkpoint is written while this segment is rewritten, and none
    // names a record in it: the catalog's checkpoint stays valid.
    std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
    if (NamedByCheckpoint(j, *seg)) continue;
    auto r = RewriteSegment(j.fs, j.dir, j.manifest, seg, covered, j.options.file_mode, min_freed);
    if (!r.ok()) return r.status();
    if (!r->segment) continue;
    // Index entries into the old version may now point inside a padding:
    // drop them (cursors start from an earlier entry), before readers can
    // find the new version.
    {
      std::lock_guard<std::mutex> lock(j.index_mu);
      std::erase_if(j.index, [&](const auto& e) { return e.second >= seg->base() && e.second < seg->end(); });
      std::erase_if(j.index_pending, [&](const auto& e) { return e.second >= seg->base() && e.second < seg->end(); });
    }
    if (j.catalog) TXJ_RETURN_IF_ERROR(j.catalog->DropIndexRange(seg->base(), seg->end()));
    j.segments->Replace(r->segment);
    j.ReleaseLater(std::move(seg));  // the old version: its file was renamed over
  }
  return Status::OK();
}

// What a sealed segment holds, for dropping it whole.
struct WholeSegment {
  std::uint64_t end_offset = 0;  // the offset after its last event (or what its paddings replace)
  std::uint64_t last_txn = 0;    // the highest transaction id in it
  bool open = false;             // it ends inside a transaction (whose end lies in the next segment)
  bool only_padding = true;      // nothing but top-level paddings
};

// Reads `seg` whole: what it holds whatever the segments before it hold.
// nullopt when a record does not decode.
std::optional<SealedSummary> ReadWhole(const Segment& seg, std::uint64_t salt) {
  SealedSummary w;
  for (std::uint64_t lsn = seg.first_record_lsn(); lsn < seg.end();) {
    RecordView v;
    if (DecodeAcrossGap(seg, &lsn, salt, seg.end(), 0, &v) != DecodeError::kNone) return std::nullopt;
    if (v.type == RecordType::kSegmentEnd) break;
    const bool top_padding = v.type == RecordType::kPadding && v.depth == 0 && v.txn_id == 0;
    if (!top_padding) w.only_padding = false;
    if (v.type == RecordType::kBegin) {
      w.boundary_seen = true;
      w.open = true;
      w.last_txn = std::max(w.last_txn, v.txn_id);
    } else if (v.type == RecordType::kCommit) {
      const auto body = ReadBody<format::CommitBody>(v);
      w.anchored = true;
      w.end = body.first_offset + body.event_count;
      w.boundary_seen = true;
      w.open = false;
    } else if (v.type == RecordType::kRollback) {
      w.boundary_seen = true;
      w.open = false;
    } else if (top_padding) {  // whole transactions removed
      const auto body = ReadBody<format::PaddingBody>(v);
      w.end += body.skipped_events;
      w.last_txn = std::max(w.last_txn, body.last_txn_id);
    }
    lsn = v.next_lsn();
  }
  return w;
}

// What `seg` holds, whose first event (if any) has offset `first_offset`
// and which `starts_open` inside a transaction begun in the segment before
// it: from what the sealing thread or an earlier call read of this version
// of it (a sealed segment is never written again), else read now and kept.
std::optional<WholeSegment> Whole(JournalState& j, const std::shared_ptr<Segment>& seg, std::uint64_t first_offset,
                                  bool starts_open) {
  std::optional<SealedSummary> w;
  {
    std::lock_guard<std::mutex> lock(j.summary_mu);
    auto it = j.sealed_summaries.find(seg->base());
    if (it != j.sealed_summaries.end() && it->second.first.lock() == seg) w = it->second.second;
  }
  if (!w) {
    w = ReadWhole(*seg, j.salt);
    if (!w) return std::nullopt;
    std::lock_guard<std::mutex> lock(j.summary_mu);
    j.sealed_summaries[seg->base()] = {seg, *w};
  }
  WholeSegment out;
  out.end_offset = w->anchored ? w->end : first_offset + w->end;
  out.last_txn = w->last_txn;
  out.open = w->boundary_seen ? w->open : starts_open;
  out.only_padding = w->only_padding;
  return out;
}

// What DropFront does: segs[0, count) go, the manifest becomes `m`.
struct FrontPlan {
  std::vector<std::shared_ptr<Segment>> segs;
  std::size_t count = 0;
  ManifestData m;
  bool at_checkpoint = false;  // stopped at a segment the catalog's checkpoint names
};

// Reads the front segments as far as they go whole. REQUIRES: checkpoint_mu
// held.
FrontPlan PlanFront(JournalState& j, std::uint64_t retention) {
  FrontPlan p;
  p.segs = j.segments->All();
  p.m = j.manifest;
  p.m.retention_offset = std::max(p.m.retention_offset, retention);
  std::uint64_t offset = j.first_offset;
  std::uint64_t last_txn = p.m.last_txn_id_before;
  bool open = false;
  for (std::size_t k = 0; k + 1 < p.segs.size(); ++k) {  // never the last segment
    const Segment& seg = *p.segs[k];
    if (!seg.known_sealed()) break;
    const std::optional<WholeSegment> w = Whole(j, p.segs[k], offset, open);
    if (!w || (w->end_offset > p.m.retention_offset && !w->only_padding)) break;
    // Only a segment that would go otherwise asks for a newer checkpoint.
    if (NamedByCheckpoint(j, seg)) {
      p.at_checkpoint = true;
      break;
    }
    offset = w->end_offset;
    last_txn = std::max(last_txn, w->last_txn);
    open = w->open;
    // A segment that ends inside a transaction goes only with the segment
    // where that transaction ends (the journal starts at a boundary).
    if (open) continue;
    p.count = k + 1;
    p.m.first_lsn = seg.end() + format::kSegmentHeaderSize;
    p.m.first_offset = offset;
    p.m.last_txn_id_before = last_txn;
  }
  return p;
}

}  // namespace

Status DropFront(JournalState& j, std::uint64_t retention) {
  // No checkpoint is written meanwhile (one naming a dropped segment would
  // outlive it).
  std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
  FrontPlan p = PlanFront(j, retention);
  // A checkpoint at a newer durable boundary frees the segment the last one
  // names (it lags when a seal's checkpoint was skipped: a retention or
  // compaction held checkpoint_mu then).
  if (p.at_checkpoint && j.WriteNewestCheckpoint()) p = PlanFront(j, retention);
  const bool moves = p.m.retention_offset != j.manifest.retention_offset;
  if (p.count == 0 && !moves) return Status::OK();
  // The manifest first: from now on cursors below the retention offset get
  // kTruncated, and a crash after it leaves at worst files the next open
  // removes.
  TXJ_RETURN_IF_ERROR(WriteManifest(*j.fs, j.dir, p.m, j.options.file_mode));
  // Field by field: the background thread reads the rest.
  j.manifest.first_lsn = p.m.first_lsn;
  j.manifest.first_offset = p.m.first_offset;
  j.manifest.last_txn_id_before = p.m.last_txn_id_before;
  j.manifest.retention_offset = p.m.retention_offset;
  j.first_offset = p.m.first_offset;
  // The offset readers see may be ahead of the one written down (see
  // apply_retention): never back.
  if (moves && p.m.retention_offset > j.retention_offset.load()) {
    j.retention_offset = p.m.retention_offset;
    j.compaction_generation.fetch_add(1);
  }
  if (p.count == 0) return Status::OK();
  {
    std::lock_guard<std::mutex> lock(j.index_mu);
    std::erase_if(j.index, [&](const auto& e) { return e.second < p.m.first_lsn; });
    std::erase_if(j.index_pending, [&](const auto& e) { return e.second < p.m.first_lsn; });
  }
  j.segments->DropBefore(p.segs[p.count - 1]->end());
  {
    std::lock_guard<std::mutex> lock(j.summary_mu);
    std::erase_if(j.sealed_summaries, [&](const auto& e) { return e.first < p.m.first_lsn; });
  }
  for (std::size_t i = 0; i < p.count; ++i) {
    // Removed, or kept under another name to be reused as a new segment
    // once nothing maps it any more (NewSegment).
    bool kept = false;
    if (int e = j.RetireFile(*p.segs[i], &kept)) return Status::FromErrno(e, "remove " + p.segs[i]->path());
    // A removed file's last close frees its blocks (slow where the file
    // system discards them): the sealing thread's. A kept one frees
    // nothing, and its mapping must go before it can be reused: now.
    if (kept) {
      p.segs[i].reset();
    } else {
      j.ReleaseLater(std::move(p.segs[i]));
    }
  }
  if (int e = j.fs->SyncDir(j.dir)) return Status::FromErrno(e, "sync directory " + j.dir);
  if (j.catalog) TXJ_RETURN_IF_ERROR(j.catalog->DropIndexRange(0, p.m.first_lsn));
  return Status::OK();
}

void SummarizeSealed(JournalState& j, const std::shared_ptr<Segment>& seg) {
  if (!j.retention_applied.load(std::memory_order_relaxed)) return;
  std::optional<SealedSummary> w = ReadWhole(*seg, j.salt);
  if (!w) return;  // DropFront reads it again, and stops there
  std::lock_guard<std::mutex> lock(j.summary_mu);
  j.sealed_summaries[seg->base()] = {seg, *w};
}

Status Reclaim(JournalState& j, const std::map<std::string, std::uint64_t>& marks, std::uint64_t min_freed,
               bool retention_too) {
  // The offset written down, not the one readers see: a rewrite removes the
  // events for good, so it goes no further than what a crash keeps.
  const std::uint64_t retention = retention_too ? j.manifest.retention_offset : 0;
  auto covered = [&marks, retention](std::string_view t, std::uint64_t off) {
    if (off < retention) return true;
    if (marks.empty()) return false;
    auto it = marks.find(std::string(t));
    return it != marks.end() && off < it->second;
  };
  TXJ_RETURN_IF_ERROR(RewriteSealed(j, covered, min_freed));
  return DropFront(j, j.manifest.retention_offset);  // the offset does not move
}

}  // namespace txj::internal
