#include "txjournal/retry.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>

#include "sink_state.h"

namespace txj {

using Clock = std::chrono::steady_clock;

// ---- Breaker ----

struct Breaker::State {
  std::mutex mu;
  std::uint32_t threshold;
  std::chrono::nanoseconds cooldown;
  std::uint32_t failures = 0;
  Clock::time_point last_failure{};
};

Breaker::Breaker(std::uint32_t threshold, std::chrono::nanoseconds cooldown) : s_(std::make_shared<State>()) {
  s_->threshold = threshold;
  s_->cooldown = cooldown;
}

std::chrono::nanoseconds Breaker::delay() {
  std::lock_guard<std::mutex> lock(s_->mu);
  if (s_->failures < s_->threshold) return std::chrono::nanoseconds(0);
  auto open_until = s_->last_failure + s_->cooldown;
  auto now = Clock::now();
  return open_until > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(open_until - now)
                          : std::chrono::nanoseconds(0);
}

void Breaker::success() {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->failures = 0;
}

void Breaker::failure() {
  std::lock_guard<std::mutex> lock(s_->mu);
  ++s_->failures;
  s_->last_failure = Clock::now();
}

// ---- ExponentialBackoff ----

struct ExponentialBackoff::State {
  mutable std::mutex mu;
  std::chrono::nanoseconds base{0}, max{0};
  double factor = 2.0, jitter = 0.0;
  std::uint64_t rng = 0;
  std::uint32_t failures = 0;
  std::chrono::nanoseconds current{0};
  Clock::time_point last_failure{};
};

ExponentialBackoff::ExponentialBackoff(std::chrono::nanoseconds base, double factor, std::chrono::nanoseconds max,
                                       double jitter, std::uint64_t seed)
    : s_(std::make_shared<State>()) {
  s_->base = base;
  s_->max = max;
  s_->factor = factor;
  s_->jitter = jitter;
  s_->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

std::chrono::nanoseconds ExponentialBackoff::delay() {
  std::lock_guard<std::mutex> lock(s_->mu);
  if (s_->failures == 0) return std::chrono::nanoseconds(0);
  auto until = s_->last_failure + s_->current;
  auto now = Clock::now();
  return until > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(until - now) : std::chrono::nanoseconds(0);
}

void ExponentialBackoff::success() {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->failures = 0;
  s_->current = std::chrono::nanoseconds(0);
}

void ExponentialBackoff::failure() {
  std::lock_guard<std::mutex> lock(s_->mu);
  ++s_->failures;
  double d = static_cast<double>(s_->base.count()) * std::pow(s_->factor, static_cast<double>(s_->failures - 1));
  d = std::min(d, static_cast<double>(s_->max.count()));
  // xorshift for the jitter: deterministic given the seed.
  s_->rng ^= s_->rng << 13;
  s_->rng ^= s_->rng >> 7;
  s_->rng ^= s_->rng << 17;
  const double unit = static_cast<double>(s_->rng >> 11) / static_cast<double>(1ull << 53);  // [0, 1)
  d *= 1.0 + s_->jitter * (2.0 * unit - 1.0);
  s_->current = std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(0.0, std::min(d, static_cast<double>(s_->max.count())))));
  s_->last_failure = Clock::now();
}

std::uint32_t ExponentialBackoff::failures() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->failures;
}

// ---- RetryingSink ----

struct RetryingSink::State {
  std::shared_ptr<Sink> dest;
  std::shared_ptr<RetryStrategy> strategy;
  RetryOptions options;
  std::mutex write_mu;  // serializes writers
  std::mutex mu;        // guards the fields below
  std::condition_variable cv;
  bool closed = false;
  SinkMetrics m;

  Status GiveUp(const EventPtr& e, const Status& why, std::uint32_t attempts) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++m.dropped;
    }
    std::string where = "returned to the caller";
    if (options.dead_letter) {
      Status d = options.dead_letter->write(e);
      where = d.ok() ? "sent to the dead-letter sink" : "not accepted by the dead-letter sink (" + d.ToString() + ")";
    }
    if (options.on_give_up) {
      options.on_give_up(e, why);
      if (!options.dead_letter) where = "handed to the give-up handler";
    }
    return why.WithContext("gave up on event at offset " + std::to_string(e->offset) + " after " +
                           std::to_string(attempts) + " attempts; event " + where);
  }
};

RetryingSink::RetryingSink(std::shared_ptr<Sink> destination, std::shared_ptr<RetryStrategy> strategy,
                           RetryOptions options)
    : s_(std::make_shared<State>()) {
  s_->dest = std::move(destination);
  s_->strategy = strategy ? std::move(strategy) : std::make_shared<ExponentialBackoff>();
  s_->options = std::move(options);
}

Status RetryingSink::write(const EventPtr& event) {
  State& s = *s_;
  std::lock_guard<std::mutex> serial(s.write_mu);
  Status last;
  for (std::uint32_t attempt = 1;; ++attempt) {
    bool closed;
    {
      std::unique_lock<std::mutex> lock(s.mu);
      if (s.closed && attempt == 1) return Status::Closed("retrying sink is closed (sink closed)");
      if (!s.closed) {
        auto wait = s.strategy->delay();
        if (wait.count() > 0) s.cv.wait_for(lock, wait, [&] { return s.closed; });
      }
      closed = s.closed;
      if (!closed && attempt > 1) ++s.m.retried;
    }
    if (closed) return s.GiveUp(event, Status::Closed("retrying sink closed while retrying"), attempt - 1);
    last = s.dest->write(event);
    if (last.ok()) {
      s.strategy->success();
      std::lock_guard<std::mutex> lock(s.mu);
      ++s.m.written;
      return last;
    }
    if (last.IsClosed()) return last;  // the destination is gone: nothing to retry against
    s.strategy->failure();
    if (s.options.max_attempts != 0 && attempt >= s.options.max_attempts) return s.GiveUp(event, last, attempt);
  }
}

Status RetryingSink::close() { return internal::CloseWrapping(*s_); }

SinkMetrics RetryingSink::metrics() const { return internal::LockedMetrics(*s_); }

}  // namespace txj
