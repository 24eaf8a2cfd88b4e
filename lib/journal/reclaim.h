// Space reclamation: what compaction's marks and retention cover leaves the
// segments. Used by MarkCompacted (compaction's door) and apply_retention.
#ifndef TXJOURNAL_LIB_RECLAIM_H_
#define TXJOURNAL_LIB_RECLAIM_H_

#include <cstdint>
#include <map>
#include <string>

#include "txjournal/status.h"

namespace txj::internal {

struct JournalState;

// Rewrites the sealed segments of `j` without the events that `marks`
// (topic -> history below this offset may go) and the retention offset
// cover, then removes front segments left with nothing but padding. A
// segment that the catalog's checkpoint names is left for a later call.
// Errors: those of rewriting a segment, dropping its index entries from the
// catalog, writing the manifest or removing the file (kIOError, kNoSpace,
// kCorruption naming the file). REQUIRES: the compaction turn is held.
Status Reclaim(JournalState& j, const std::map<std::string, std::uint64_t>& marks);

// Removes the front segments whose every event lies below the retention
// offset, without rewriting them first: one manifest write, then the files
// (released by the sealing thread), then their offset-index entries. A
// segment that ends inside a transaction, that the catalog's checkpoint
// names, or that is not yet sealed stops it; Reclaim deals with the rest.
// Errors: writing the manifest, removing a file, syncing the directory,
// dropping index entries from the catalog (kIOError, kNoSpace).
// REQUIRES: the compaction turn is held.
Status DropBelowRetention(JournalState& j);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECLAIM_H_
