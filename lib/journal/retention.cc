// Retention: Journal::apply_retention removes every topic's history below
// an offset (see include/txjournal/journal.h).
#include <memory>
#include <vector>

#include "compaction_door.h"
#include "journal_state.h"
#include "reclaim.h"
#include "txjournal/journal.h"

namespace txj {

namespace {

// The offset after the last commit, durable or not (what SyncCommitted
// would make durable and return).
std::uint64_t CommittedEnd(internal::JournalState& j) {
  std::lock_guard<std::mutex> lock(j.sync_mu);
  // Nothing committed since the open: its recovered end (the last boundary
  // found may lie before paddings that end the log).
  if (j.last_boundary.lsn != j.commit_end) return j.visible_next_offset.load(std::memory_order_acquire);
  return j.last_boundary.next_offset;
}

// Makes the commits below `offset` durable, so that a crash never leaves
// the journal ending before a durable retention offset (the open would then
// hand out offsets below it). An offset-index entry at or past `offset`
// says where they end: every commit before its transaction's begin marker.
// Below what is synced already (what the open recovered, a sealed segment)
// nothing is done; otherwise only the segments that hold them are synced (a
// segment the writer retired but the sealing thread has not synced yet,
// say), not the active one. Without such an entry (or with a writer that
// leaves gaps), everything committed is synced (SyncCommitted). Errors:
// those of the sync (the journal fails closed, as SyncTo does).
Status MakeDurableBelow(internal::JournalState& j, const internal::CompactionTurn& turn, std::uint64_t offset,
                        const std::string& what) {
  // What the open recovered counts as durable (as in SyncCommitted).
  if (offset <= j.report.next_offset) return Status::OK();
  std::uint64_t end_lsn = 0;
  {
    std::lock_guard<std::mutex> lock(j.index_mu);
    if (auto it = j.index.lower_bound(offset); it != j.index.end()) end_lsn = it->second;
  }
  std::vector<std::shared_ptr<internal::Segment>> segs;
  bool whole = end_lsn == 0;
  {
    std::lock_guard<std::mutex> lock(j.sync_mu);
    if (!whole && end_lsn <= j.synced_lsn) return Status::OK();
    whole = whole || j.gaps || !j.failed.ok();  // a writer that stages and leaves gaps syncs only through SyncTo
    for (const auto& seg : j.unsynced) {
      if (seg->base() < end_lsn) segs.push_back(seg);
    }
  }
  if (whole) return internal::SyncCommitted(j, turn, what).status();
  for (const auto& seg : segs) {
    if (Status s = seg->Sync(); !s.ok()) {
      return j.FailClosed(s).WithContext(what + ": making the commits below offset " + std::to_string(offset) +
                                         " durable first");
    }
  }
  return Status::OK();
}

}  // namespace

Status Journal::apply_retention(std::uint64_t min_offset) {
  internal::JournalState& j = *s_;
  const std::string what = "applying retention below offset " + std::to_string(min_offset);
  auto turn = internal::TakeCompactionTurn(j);
  if (!turn.ok()) return turn.status();
  if (const std::uint64_t committed = CommittedEnd(j); min_offset > committed) {
    return Status::InvalidArgument("retention offset " + std::to_string(min_offset) + " is past the committed end " +
                                   std::to_string(committed));
  }
  if (min_offset <= j.retention_offset) return Status::OK();
  std::map<std::string, std::uint64_t> marks;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    marks = j.compacted;
  }
  TXJ_RETURN_IF_ERROR(MakeDurableBelow(j, *turn, min_offset, what));
  // The new offset durable before anything is removed, in the same manifest
  // write as the front segments that go whole.
  TXJ_RETURN_IF_ERROR(internal::DropFront(j, min_offset).WithContext(what));
  // Then the segments the offset falls in (and what compaction's marks
  // cover) are rewritten, when that frees at least a quarter of a segment:
  // below it, the bytes stay until a later call (readers get kTruncated
  // below the offset either way).
  return internal::Reclaim(j, marks, j.manifest.segment_size / 4).WithContext(what);
}

}  // namespace txj
