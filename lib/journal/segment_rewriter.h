// Rewrites a sealed segment without the events compaction has covered.
//
// Every record that stays keeps its LSN, so offsets, transaction boundaries,
// the offset index and other topics' events are untouched. Covered events
// (and whole transactions left with nothing, and rolled-back transactions)
// become padding records whose bodies are holes in the new file. The new
// file is written under a temporary name, synced and renamed over the old
// one: a crash leaves either the old or the new segment, never a mix.
// Transactions that cross the segment's boundaries are kept as they are.
#ifndef TXJOURNAL_LIB_SEGMENT_REWRITER_H_
#define TXJOURNAL_LIB_SEGMENT_REWRITER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string_view>

#include "segment.h"

namespace txj::internal {

// True if the committed event of `topic` at `offset` may be dropped.
using CoveredFn = std::function<bool(std::string_view topic, std::uint64_t offset)>;

struct RewriteResult {
  std::shared_ptr<Segment> segment;  // null when nothing changed
  std::uint64_t events_dropped = 0;
  std::uint64_t bytes_freed = 0;      // bytes of records turned into holes
};

// A rewrite that would turn fewer than `min_freed` bytes of records into
// holes is not written (the result's segment is null, its counts say what
// it would have freed): retention calls that move the offset a little into
// a segment need not copy the segment each time.
// REQUIRES: `seg` is sealed and nothing writes to it.
Result<RewriteResult> RewriteSegment(const std::shared_ptr<FileSystem>& fs, const std::string& dir,
                                     const ManifestData& m, const std::shared_ptr<Segment>& seg,
                                     const CoveredFn& covered, mode_t mode, std::uint64_t min_freed = 0);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_SEGMENT_REWRITER_H_
