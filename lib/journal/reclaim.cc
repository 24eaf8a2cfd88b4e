#include "reclaim.h"

#include <algorithm>

#include "journal_state.h"
#include "log_reader.h"
#include "record.h"
#include "segment_rewriter.h"

namespace txj::internal {

namespace {

// True while the catalog's last checkpoint names a record in `seg`: the
// segment must stay as it is. REQUIRES: checkpoint_mu held.
bool NamedByCheckpoint(const JournalState& j, const Segment& seg) {
  const std::uint64_t cp_prev = j.last_checkpoint_prev_lsn.load();
  return cp_prev >= seg.base() && cp_prev < seg.end();
}

// Rewrites each sealed segment without the events `covered` says may go.
Status RewriteSealed(JournalState& j, const CoveredFn& covered) {
  auto all = j.segments->All();
  for (auto& seg : all) {
    if (!seg->known_sealed()) continue;  // the active segment, or one not yet sealed
    // No checkpoint is written while this segment is rewritten, and none
    // names a record in it: the catalog's checkpoint stays valid.
    std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
    if (NamedByCheckpoint(j, *seg)) continue;
    auto r = RewriteSegment(j.fs, j.dir, j.manifest, seg, covered, j.options.file_mode);
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

// What a segment of nothing but padding stood for.
struct OnlyPadding {
  std::uint64_t skipped = 0;   // events its paddings replace
  std::uint64_t last_txn = 0;  // highest transaction id they replace
};

// The paddings of `seg` when it holds nothing else, or nullopt.
std::optional<OnlyPadding> ReadOnlyPadding(const Segment& seg, std::uint64_t salt) {
  OnlyPadding p;
  for (std::uint64_t lsn = seg.first_record_lsn(); lsn < seg.end();) {
    RecordView v;
    if (DecodeAcrossGap(seg, &lsn, salt, seg.end(), 0, &v) != DecodeError::kNone) return std::nullopt;
    if (v.type == RecordType::kSegmentEnd) break;
    if (v.type != RecordType::kPadding || v.txn_id != 0) return std::nullopt;
    const auto body = ReadBody<format::PaddingBody>(v);
    p.skipped += body.skipped_events;
    p.last_txn = std::max(p.last_txn, body.last_txn_id);
    lsn = v.next_lsn();
  }
  return p;
}

// Removes front segments left with nothing but padding: the manifest
// records the new start first, so a crash leaves at worst a file the next
// open removes.
Status DropEmptyFront(JournalState& j) {
  for (;;) {
    auto segs = j.segments->All();
    if (segs.size() < 2) break;
    const auto& first = segs.front();
    std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
    if (!first->known_sealed() || NamedByCheckpoint(j, *first)) break;
    const std::optional<OnlyPadding> p = ReadOnlyPadding(*first, j.salt);
    if (!p) break;
    ManifestData m = j.manifest;
    m.first_lsn = first->end() + format::kSegmentHeaderSize;
    m.first_offset = j.first_offset + p->skipped;
    m.last_txn_id_before = std::max(m.last_txn_id_before, p->last_txn);
    TXJ_RETURN_IF_ERROR(WriteManifest(*j.fs, j.dir, m, j.options.file_mode));
    j.manifest.first_lsn = m.first_lsn;  // field by field: the background thread reads the rest
    j.manifest.first_offset = m.first_offset;
    j.manifest.last_txn_id_before = m.last_txn_id_before;
    j.first_offset = m.first_offset;
    if (int e = j.fs->Unlink(first->path()); e && e != ENOENT) return Status::FromErrno(e, "remove " + first->path());
    if (int e = j.fs->SyncDir(j.dir)) return Status::FromErrno(e, "sync directory " + j.dir);
    j.segments->DropBefore(first->end());
    j.ReleaseLater(std::move(segs.front()));  // `first` is null from here on
  }
  return Status::OK();
}

// What a sealed segment holds, for dropping it whole: the offset after its
// last event and the highest transaction id in it.
struct WholeSegment {
  std::uint64_t end_offset = 0;
  std::uint64_t last_txn = 0;
};

// Reads `seg`, whose first event (if any) has offset `first_offset`. nullopt
// when it cannot be dropped whole: a record does not decode, or the segment
// ends inside a transaction (whose end lies in the next segment).
std::optional<WholeSegment> ReadWhole(const Segment& seg, std::uint64_t salt, std::uint64_t first_offset) {
  WholeSegment w{first_offset, 0};
  bool open = false;
  for (std::uint64_t lsn = seg.first_record_lsn(); lsn < seg.end();) {
    RecordView v;
    if (DecodeAcrossGap(seg, &lsn, salt, seg.end(), 0, &v) != DecodeError::kNone) return std::nullopt;
    if (v.type == RecordType::kSegmentEnd) break;
    if (v.type == RecordType::kBegin) {
      open = true;
      w.last_txn = std::max(w.last_txn, v.txn_id);
    } else if (v.type == RecordType::kCommit) {
      const auto body = ReadBody<format::CommitBody>(v);
      w.end_offset = body.first_offset + body.event_count;
      open = false;
    } else if (v.type == RecordType::kRollback) {
      open = false;
    } else if (v.type == RecordType::kPadding && v.depth == 0 && v.txn_id == 0) {  // whole transactions removed
      const auto body = ReadBody<format::PaddingBody>(v);
      w.end_offset += body.skipped_events;
      w.last_txn = std::max(w.last_txn, body.last_txn_id);
    }
    lsn = v.next_lsn();
  }
  if (open) return std::nullopt;
  return w;
}

}  // namespace

Status DropBelowRetention(JournalState& j) {
  const std::uint64_t retention = j.retention_offset;
  auto segs = j.segments->All();
  // No checkpoint is written meanwhile (one naming a dropped segment would
  // outlive it).
  std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
  ManifestData m = j.manifest;
  std::uint64_t offset = j.first_offset;
  std::size_t k = 0;
  for (; k + 1 < segs.size(); ++k) {  // never the last segment
    const Segment& seg = *segs[k];
    if (!seg.known_sealed() || NamedByCheckpoint(j, seg)) break;
    const std::optional<WholeSegment> w = ReadWhole(seg, j.salt, offset);
    if (!w || w->end_offset > retention) break;
    offset = w->end_offset;
    m.first_lsn = seg.end() + format::kSegmentHeaderSize;
    m.last_txn_id_before = std::max(m.last_txn_id_before, w->last_txn);
  }
  if (k == 0) return Status::OK();
  // The manifest first: a crash after it leaves at worst files the next
  // open removes.
  m.first_offset = offset;
  TXJ_RETURN_IF_ERROR(WriteManifest(*j.fs, j.dir, m, j.options.file_mode));
  j.manifest.first_lsn = m.first_lsn;  // field by field: the background thread reads the rest
  j.manifest.first_offset = m.first_offset;
  j.manifest.last_txn_id_before = m.last_txn_id_before;
  j.first_offset = m.first_offset;
  {
    std::lock_guard<std::mutex> lock(j.index_mu);
    std::erase_if(j.index, [&](const auto& e) { return e.second < m.first_lsn; });
    std::erase_if(j.index_pending, [&](const auto& e) { return e.second < m.first_lsn; });
  }
  j.segments->DropBefore(segs[k - 1]->end());
  for (std::size_t i = 0; i < k; ++i) {
    if (int e = j.fs->Unlink(segs[i]->path()); e && e != ENOENT) return Status::FromErrno(e, "remove " + segs[i]->path());
    j.ReleaseLater(std::move(segs[i]));
  }
  if (int e = j.fs->SyncDir(j.dir)) return Status::FromErrno(e, "sync directory " + j.dir);
  if (j.catalog) TXJ_RETURN_IF_ERROR(j.catalog->DropIndexRange(0, m.first_lsn));
  return Status::OK();
}

Status Reclaim(JournalState& j, const std::map<std::string, std::uint64_t>& marks) {
  const std::uint64_t retention = j.retention_offset;
  auto covered = [&marks, retention](std::string_view t, std::uint64_t off) {
    if (off < retention) return true;
    auto it = marks.find(std::string(t));
    return it != marks.end() && off < it->second;
  };
  TXJ_RETURN_IF_ERROR(RewriteSealed(j, covered));
  return DropEmptyFront(j);
}

}  // namespace txj::internal
