// Space reclamation: what compaction's marks and retention cover leaves the
// segments. Reclaim is compaction's (MarkCompacted, its door); DropFront is
// also apply_retention's.
#ifndef TXJOURNAL_LIB_RECLAIM_H_
#define TXJOURNAL_LIB_RECLAIM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "txjournal/status.h"

namespace txj::internal {

struct JournalState;
class Segment;

// Rewrites the sealed segments of `j` without the events that `marks`
// (topic -> history below this offset may go) and the retention offset
// written down (the manifest's, which may be behind the one readers see)
// cover, then removes the front segments left with nothing a reader may get
// (DropFront). A segment that the catalog's checkpoint names is left for a
// later call, and so is one whose rewrite would turn fewer than `min_freed`
// bytes of records into holes (0: any change is written). Without
// `retention_too` only the marks count. Errors: those of rewriting a
// segment, dropping its index entries from the catalog, writing the
// manifest or removing the file (kIOError, kNoSpace, kCorruption naming the
// file). REQUIRES: the compaction turn is held.
Status Reclaim(JournalState& j, const std::map<std::string, std::uint64_t>& marks, std::uint64_t min_freed = 0,
               bool retention_too = true);

// The journal's one way of removing segments: drops the front segments that
// hold nothing a reader may still get (every event below `retention`, or
// nothing but padding), as they are, and records `retention` as the
// retention offset when it is past the manifest's, with one manifest write
// for both (none when nothing changes); then the files go (released by the
// sealing thread) and their offset-index entries. A segment that ends
// inside a transaction, that the catalog's checkpoint names, or that is not
// yet sealed stops it. Errors: writing the manifest, removing a file,
// syncing the directory, dropping index entries from the catalog (kIOError,
// kNoSpace). REQUIRES: the compaction turn is held; the commits that reach
// `retention` are on stable storage (a durable retention offset past what a
// crash leaves would make the open hand out offsets below it).
Status DropFront(JournalState& j, std::uint64_t retention);

// The sealing thread's, for a segment it just sealed: once retention has
// been applied in this session, reads what DropFront needs of `seg` off the
// writer's path. Nothing on failure (DropFront reads it then).
void SummarizeSealed(JournalState& j, const std::shared_ptr<Segment>& seg);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECLAIM_H_
