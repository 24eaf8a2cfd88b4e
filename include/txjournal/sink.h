// txjournal: sinks distribute committed events (after docker/go-events).
//
// A Sink takes events with write() until close(). Sinks compose: a
// Broadcaster fans out to several, a Queue decouples the writer from a slow
// destination, a RetryingSink retries a failing one, a FilterSink drops what
// a matcher rejects, a Channel hands events to a reader, a TimeoutSink bounds
// how long a write may take. A Publisher (publisher.h) feeds a sink chain
// from the journal, at least once across restarts (consumer.h).
//
// Thread rules: every sink is safe to use from several threads; each call
// of every sink may be made from any thread. A closed sink returns kClosed
// from write(); close() on a closed sink returns OK (idempotent).
#ifndef TXJOURNAL_SINK_H_
#define TXJOURNAL_SINK_H_

#include "txjournal/cxx_standard.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "txjournal/event.h"
#include "txjournal/export.h"
#include "txjournal/status.h"

namespace txj {

// Sinks pass OwnedEvent (event.h) around, shared between the sinks it
// passes through: OwnedEvent::From(event) makes one.
using EventPtr = std::shared_ptr<const OwnedEvent>;

// Counters every sink keeps. Read with Sink::metrics().
struct SinkMetrics {
  std::uint64_t written = 0;  // events accepted by write()
  std::uint64_t dropped = 0;  // events given up on (by policy or after failures)
  std::uint64_t retried = 0;  // extra write attempts
  std::uint64_t depth = 0;    // events waiting inside the sink (queues)
};

class TXJ_EXPORT Sink {
 public:
  virtual ~Sink() = default;
  // Errors: kClosed once closed; otherwise what the sink or its destination
  // reports.
  virtual Status write(const EventPtr& event) = 0;
  // Stops accepting events and releases what the sink holds. Idempotent.
  // Errors: those of closing its destinations (a sink that wraps others
  // closes them).
  virtual Status close() = 0;
  // The counters so far. No error.
  virtual SinkMetrics metrics() const = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_SINK_H_
