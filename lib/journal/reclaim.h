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

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECLAIM_H_
