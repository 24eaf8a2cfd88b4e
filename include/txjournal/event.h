// txjournal: a committed event as readers see it.
//
// Thread rules: plain values, no shared state: any thread; a value is
// written by one thread at a time, as any C++ value. Nothing here fails.
#ifndef TXJOURNAL_EVENT_H_
#define TXJOURNAL_EVENT_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "txjournal/export.h"

namespace txj {

// Limits checked by Transaction::append (kInvalidArgument beyond them).
inline constexpr std::size_t kMaxTopicLength = 255;  // bytes of UTF-8
inline constexpr std::size_t kMaxTypeLength = 255;
inline constexpr std::size_t kMaxKeyLength = 65535;

struct OwnedEvent;

// One committed event. The string views point into the journal's mapping
// (no copy): they stay valid until the next call to next()/wait_next() on
// the cursor that returned the event, or until that cursor is destroyed.
// They show the file's bytes as they are now: if another process truncates
// the segment file while you hold a view, the view reads zeros (no SIGBUS;
// the cursor's next call reports the truncation as kCorruption). Copy what
// you need to keep, with to_owned() or by hand.
struct Event {
  std::uint64_t offset = 0;        // dense position in the committed view: 0, 1, 2, ...
  std::uint64_t txn_id = 0;        // top-level transaction that committed it
  std::uint64_t timestamp_ns = 0;  // nanoseconds since the Unix epoch
  std::uint64_t lsn = 0;           // byte address of the event's record
  std::string_view topic;
  std::string_view type;
  std::optional<std::string_view> key;
  std::string_view payload;        // arbitrary bytes

  OwnedEvent to_owned() const;
};

// An Event that owns its bytes: valid for as long as you keep it. Sinks
// share them (EventPtr in sink.h).
struct OwnedEvent {
  std::uint64_t offset = 0;
  std::uint64_t txn_id = 0;
  std::uint64_t timestamp_ns = 0;
  std::uint64_t lsn = 0;
  std::string topic;
  std::string type;
  std::optional<std::string> key;
  std::string payload;

  // A view of this copy, valid while it lives and is not modified.
  Event view() const {
    return Event{offset, txn_id, timestamp_ns, lsn, topic, type,
                 key ? std::optional<std::string_view>(*key) : std::nullopt, payload};
  }
  bool operator==(const OwnedEvent&) const = default;

  // A shared copy of `e`, as sinks take it.
  TXJ_EXPORT static std::shared_ptr<const OwnedEvent> From(const Event& e);
};

inline OwnedEvent Event::to_owned() const {
  return OwnedEvent{offset, txn_id, timestamp_ns, lsn, std::string(topic), std::string(type),
                    key ? std::optional<std::string>(std::string(*key)) : std::nullopt, std::string(payload)};
}

// Options of Transaction::append.
struct AppendOptions {
  std::optional<std::string_view> key;  // absent: the event has no key
  // 0: the transaction's timestamp, taken when its top level began
  // (CLOCK_REALTIME): all events of a transaction then carry the same time.
  std::uint64_t timestamp_ns = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_EVENT_H_
