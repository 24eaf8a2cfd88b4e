// txjournal: small sinks: Broadcaster, FilterSink, Channel, TimeoutSink.
// Thread rules and errors: those of sink.h (every call, any thread),
// with what each class adds below.
#ifndef TXJOURNAL_SINKS_H_
#define TXJOURNAL_SINKS_H_

#include "txjournal/cxx_standard.h"

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>

#include "txjournal/sink.h"

namespace txj {

// Writes each event to every member, one event at a time, so every member
// sees events in the same order. A member that returns kClosed is removed.
// Another error from a member does not stop the others; write() returns the
// first such error. close() closes every member.
class TXJ_EXPORT Broadcaster final : public Sink {
 public:
  Broadcaster();
  // Makes `sink` a member. Adding a sink that is already a member (the same
  // object) changes nothing and returns OK: it still receives each event
  // once, and one remove() ends its membership.
  // Errors: kInvalidArgument for a null sink; kClosed when the broadcaster
  // is closed.
  Status add(std::shared_ptr<Sink> sink);
  // Errors: kNotFound when `sink` is not a member.
  Status remove(const std::shared_ptr<Sink>& sink);
  std::size_t size() const;
  Status write(const EventPtr& event) override;
  Status close() override;
  SinkMetrics metrics() const override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// Passes an event on only when `matcher` accepts it; rejected events count
// as dropped and write() returns OK.
class TXJ_EXPORT FilterSink final : public Sink {
 public:
  using Matcher = std::function<bool(const OwnedEvent&)>;
  FilterSink(std::shared_ptr<Sink> destination, Matcher matcher);
  Status write(const EventPtr& event) override;
  Status close() override;
  SinkMetrics metrics() const override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// Hands events to a reader. With capacity 0, write() waits until a reader
// has taken the event; otherwise until there is room. close() wakes both
// sides: blocked writers get kClosed, readers drain what is buffered and
// then get kClosed.
class TXJ_EXPORT Channel final : public Sink {
 public:
  explicit Channel(std::size_t capacity = 0);
  Status write(const EventPtr& event) override;
  // The next event. Errors: kClosed (closed and drained), kTimedOut,
  // kCancelled.
  Result<EventPtr> receive(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max(),
                           std::stop_token stop = {});
  Status close() override;
  bool is_closed() const;
  // Waits until close() was called.
  void wait_closed() const;
  SinkMetrics metrics() const override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// Fails a write that the destination has not finished within `timeout`
// (kTimedOut). The late write still completes in the background; until it
// has, further writes wait for it within their own timeout.
class TXJ_EXPORT TimeoutSink final : public Sink {
 public:
  TimeoutSink(std::shared_ptr<Sink> destination, std::chrono::nanoseconds timeout);
  ~TimeoutSink() override;
  Status write(const EventPtr& event) override;
  Status close() override;
  SinkMetrics metrics() const override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

}  // namespace txj

#endif  // TXJOURNAL_SINKS_H_
