// Per-topic counts of committed events: what the catalog's topics table
// holds and what compaction's follower adds to it.
#ifndef TXJOURNAL_LIB_TOPIC_STATS_H_
#define TXJOURNAL_LIB_TOPIC_STATS_H_

#include <cstdint>
#include <map>
#include <string>

namespace txj::internal {

// What the catalog knows about one topic (derived from the journal).
struct TopicStats {
  std::uint64_t events = 0;        // committed events seen
  std::uint64_t bytes = 0;         // payload bytes of those events
  std::uint64_t first_offset = 0;  // offset of the first one seen
  std::uint64_t last_offset = 0;   // offset of the last one seen
};

// Adds the counts of `delta` to `into` (events and bytes add up; first and
// last offsets widen). Defined in catalog.cc.
void MergeTopicCounts(std::map<std::string, TopicStats>* into, const std::map<std::string, TopicStats>& delta);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_TOPIC_STATS_H_
