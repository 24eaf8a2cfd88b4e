// Retention: Journal::apply_retention removes every topic's history below
// an offset (see include/txjournal/journal.h).
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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

// Without syncing: the highest offset at or below `offset` whose commits
// below it are all on stable storage (what the open recovered, what the
// last sync or seal covered, else the newest offset-index entry whose
// transaction begins below what is synced); at least the retention offset
// already written down.
std::uint64_t DurableBelow(internal::JournalState& j, std::uint64_t offset) {
  if (offset <= j.report.next_offset) return offset;
  std::uint64_t synced, found;
  {
    std::lock_guard<std::mutex> lock(j.sync_mu);
    if (j.gaps || !j.failed.ok()) return j.manifest.retention_offset;
    synced = j.synced_lsn;
    if (synced >= j.commit_end || offset <= j.synced_offset) return offset;
    found = std::max({j.manifest.retention_offset, j.report.next_offset, j.synced_offset});
  }
  std::lock_guard<std::mutex> lock(j.index_mu);
  auto it = j.index.lower_bound(offset);
  if (it != j.index.end() && it->second <= synced) return offset;
  // Entries below `offset`, newest first: the first whose transaction
  // begins below what is synced.
  while (it != j.index.begin()) {
    --it;
    if (it->first <= found) break;
    if (it->second <= synced) return it->first;
  }
  return found;
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
  // An earlier call's offset that is not written down yet (kNone,
  // kPeriodic) is written down by this one as far as it can be.
  const std::uint64_t target = std::max<std::uint64_t>(min_offset, j.retention_offset.load());
  j.retention_applied.store(true, std::memory_order_relaxed);  // the sealing thread reads ahead for DropFront
  // Written down already: the segments wholly below it that were not
  // sealed when it was (the sealing thread's, behind the writer) go now.
  if (target <= j.manifest.retention_offset) {
    return internal::DropFront(j, j.manifest.retention_offset).WithContext(what);
  }
  std::map<std::string, std::uint64_t> marks;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    marks = j.compacted;
  }
  // The retention offset written down must never be past what a crash
  // leaves (the open would hand out offsets below it). Under kCommit the
  // commits below it are made durable first (they are, but for a segment
  // the sealing thread has not synced yet); under kNone and kPeriodic,
  // whose commits are durable only once synced, it is written down as far
  // as they are, without waiting for a sync: readers get kTruncated below
  // `target` at once, and a later call (or close()) writes the rest.
  std::uint64_t durable = target;
  if (j.options.durability == Durability::kCommit) {
    TXJ_RETURN_IF_ERROR(MakeDurableBelow(j, *turn, target, what));
  } else {
    durable = DurableBelow(j, target);
  }
  if (target > j.retention_offset.load()) {
    j.retention_offset = target;
    j.compaction_generation.fetch_add(1);
  }
  // The new offset durable before anything is removed, in the same manifest
  // write as the front segments that go whole. The segment the offset falls
  // in stays as it is until a later call finds it wholly below (readers get
  // kTruncated below the offset either way): rewriting it to free the part
  // below copied up to a segment for every segment appended, where a window
  // of retained events moves through the journal (docs/performance.md,
  // fifteenth session).
  TXJ_RETURN_IF_ERROR(internal::DropFront(j, durable).WithContext(what));
  // What compaction's marks cover in sealed segments that its own pass left
  // (not sealed yet then), when that frees at least a quarter of a segment.
  if (marks.empty()) return Status::OK();
  return internal::Reclaim(j, marks, j.manifest.segment_size / 4, /*retention_too=*/false).WithContext(what);
}

}  // namespace txj
