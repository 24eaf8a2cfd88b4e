// txjournal: Queue, an asynchronous sink.
//
// Thread rules and errors: those of sink.h (every call, any thread), with
// what Queue adds below; the destination is written, and on_error called,
// on the queue's own thread.
#ifndef TXJOURNAL_QUEUE_H_
#define TXJOURNAL_QUEUE_H_

#include "txjournal/cxx_standard.h"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

#include "txjournal/sink.h"

namespace txj {

struct QueueOptions {
  // 0: unbounded. Otherwise at most this many events wait.
  std::size_t capacity = 0;
  enum class WhenFull {
    kBlock,       // write() waits for room
    kDropOldest,  // the oldest waiting event is dropped (counted)
    kFail,        // write() returns kBusy ("queue full")
  } when_full = WhenFull::kBlock;
  // Called (on the queue's thread) with each event the destination refused;
  // the event is counted as dropped. Put a RetryingSink in front of the
  // destination to retry instead.
  std::function<void(const EventPtr&, const Status&)> on_error;
};

// write() returns at once (or as the policy says when full); a thread of the
// queue writes events to the destination in order.
class TXJ_EXPORT Queue final : public Sink {
 public:
  explicit Queue(std::shared_ptr<Sink> destination, QueueOptions options = {});
  ~Queue() override;  // close() with a 1 s deadline
  // Errors: kClosed; kBusy ("queue full") when full under WhenFull::kFail.
  // A destination's error does not come back here (see on_error).
  Status write(const EventPtr& event) override;
  // Stops accepting events, waits until what is queued has been written or
  // `deadline` passes, then closes the destination. Never deadlocks on a
  // destination that blocks: past the deadline it returns kTimedOut saying
  // how many events were not delivered (counted as dropped), and the
  // destination's close() is what unblocks a stuck write.
  Status close(std::chrono::nanoseconds deadline);
  Status close() override { return close(std::chrono::seconds(5)); }
  SinkMetrics metrics() const override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

}  // namespace txj

#endif  // TXJOURNAL_QUEUE_H_
