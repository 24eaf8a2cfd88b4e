// txjournal: a committed event as readers see it.
#ifndef TXJOURNAL_EVENT_H_
#define TXJOURNAL_EVENT_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace txj {

// Limits checked by Transaction::append (kInvalidArgument beyond them).
inline constexpr std::size_t kMaxTopicLength = 255;  // bytes of UTF-8
inline constexpr std::size_t kMaxTypeLength = 255;
inline constexpr std::size_t kMaxKeyLength = 65535;

// One committed event. The string views point into the journal's mapping
// (no copy): they stay valid until the next call to next()/wait_next() on
// the cursor that returned the event, or until that cursor is destroyed.
// Copy what you need to keep.
struct Event {
  std::uint64_t offset = 0;        // dense position in the committed view: 0, 1, 2, ...
  std::uint64_t txn_id = 0;        // top-level transaction that committed it
  std::uint64_t timestamp_ns = 0;  // nanoseconds since the Unix epoch
  std::uint64_t lsn = 0;           // byte address of the event's record
  std::string_view topic;
  std::string_view type;
  std::optional<std::string_view> key;
  std::string_view payload;        // arbitrary bytes
};

// Options of Transaction::append.
struct AppendOptions {
  std::optional<std::string_view> key;  // absent: the event has no key
  std::uint64_t timestamp_ns = 0;       // 0: now (CLOCK_REALTIME)
};

}  // namespace txj

#endif  // TXJOURNAL_EVENT_H_
