// Retention: Journal::apply_retention removes every topic's history below
// an offset (see include/txjournal/journal.h).
#include "compaction_door.h"
#include "journal_state.h"
#include "reclaim.h"
#include "txjournal/journal.h"

namespace txj {

Status Journal::apply_retention(std::uint64_t min_offset) {
  internal::JournalState& j = *s_;
  const std::string what = "applying retention below offset " + std::to_string(min_offset);
  auto turn = internal::TakeCompactionTurn(j);
  if (!turn.ok()) return turn.status();
  auto durable = internal::SyncCommitted(j, *turn, what);
  if (!durable.ok()) return durable.status();
  const std::uint64_t committed = *durable;
  if (min_offset > committed) {
    return Status::InvalidArgument("retention offset " + std::to_string(min_offset) + " is past the committed end " +
                                   std::to_string(committed));
  }
  if (min_offset <= j.retention_offset) return Status::OK();
  // Durable before anything is removed; from now on cursors below it get kTruncated.
  internal::ManifestData m = j.manifest;
  m.retention_offset = min_offset;
  TXJ_RETURN_IF_ERROR(internal::WriteManifest(*j.fs, j.dir, m, j.options.file_mode));
  j.manifest.retention_offset = m.retention_offset;  // field by field: the background thread reads the rest
  j.retention_offset = min_offset;
  j.compaction_generation.fetch_add(1);
  std::map<std::string, std::uint64_t> marks;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    marks = j.compacted;
  }
  // Whole segments first, without rewriting them; then the segment the
  // offset falls in (and what compaction's marks cover) is rewritten.
  TXJ_RETURN_IF_ERROR(internal::DropBelowRetention(j).WithContext(what));
  return internal::Reclaim(j, marks).WithContext(what);
}

}  // namespace txj
