// txjournal: topics.
//
// Every event belongs to a topic: a name of 1 to kMaxTopicLength bytes of
// UTF-8 without control characters (checked by Transaction::append). Each
// event record carries its topic's name, so a journal describes itself: the
// tools need nothing but the segment files. The catalog mirrors what the
// journal holds per topic, and is rebuilt from the journal when lost.
//
// Thread rules: TopicInfo is a plain value (any thread).
#ifndef TXJOURNAL_TOPIC_H_
#define TXJOURNAL_TOPIC_H_

#include <cstdint>
#include <string>

namespace txj {

struct TopicInfo {
  std::string name;
  std::uint64_t events = 0;        // committed events counted (compacted ones included)
  std::uint64_t bytes = 0;         // their payload bytes
  std::uint64_t first_offset = 0;  // first event counted
  std::uint64_t last_offset = 0;   // last event counted
};

}  // namespace txj

#endif  // TXJOURNAL_TOPIC_H_
