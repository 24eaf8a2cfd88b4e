// txjournal: retrying sinks and their strategies.
//
// Thread rules: RetryingSink follows sink.h (every call, any thread); a
// RetryStrategy may be called from several threads (every implementation
// here is thread-safe, and one given to several sinks or consumers must be).
// No strategy call returns an error.
#ifndef TXJOURNAL_RETRY_H_
#define TXJOURNAL_RETRY_H_

#include "txjournal/cxx_standard.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "txjournal/sink.h"

namespace txj {

// Decides how long to wait before the next attempt. Also used by Consumer
// to back off after a handler failure. Implementations are thread-safe.
class TXJ_EXPORT RetryStrategy {
 public:
  virtual ~RetryStrategy() = default;
  // How long to wait before the next attempt (zero: go now).
  virtual std::chrono::nanoseconds delay() = 0;
  virtual void success() = 0;  // resets
  virtual void failure() = 0;
};

// After `threshold` consecutive failures, waits `cooldown` before the next
// attempt; a success closes the breaker again.
class TXJ_EXPORT Breaker final : public RetryStrategy {
 public:
  Breaker(std::uint32_t threshold, std::chrono::nanoseconds cooldown);
  std::chrono::nanoseconds delay() override;
  void success() override;
  void failure() override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// Waits base * factor^(failures-1), capped at `max`, with +-jitter (a
// fraction), counted from the last failure. A success resets it.
class TXJ_EXPORT ExponentialBackoff final : public RetryStrategy {
 public:
  explicit ExponentialBackoff(std::chrono::nanoseconds base = std::chrono::milliseconds(10), double factor = 2.0,
                              std::chrono::nanoseconds max = std::chrono::seconds(10), double jitter = 0.2,
                              std::uint64_t seed = 0);
  std::chrono::nanoseconds delay() override;
  void success() override;
  void failure() override;
  std::uint32_t failures() const;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

struct RetryOptions {
  // Give up after this many attempts of one event (0: never give up).
  std::uint32_t max_attempts = 0;
  // Where an event goes when the strategy gives up (also when closing while
  // retrying). Without it, on_give_up must be set, or nothing is given up:
  // an event is never dropped silently.
  std::shared_ptr<Sink> dead_letter;
  std::function<void(const EventPtr&, const Status&)> on_give_up;
};

// Retries each event against its destination as the strategy says. Writes
// are serialized. close() stops a retry in progress (the event goes to the
// dead-letter sink or handler) and closes the destination.
class TXJ_EXPORT RetryingSink final : public Sink {
 public:
  RetryingSink(std::shared_ptr<Sink> destination, std::shared_ptr<RetryStrategy> strategy, RetryOptions options = {});
  // Errors: kClosed; after giving up, the destination's last error (the
  // message says where the event went).
  Status write(const EventPtr& event) override;
  Status close() override;
  SinkMetrics metrics() const override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

}  // namespace txj

#endif  // TXJOURNAL_RETRY_H_
