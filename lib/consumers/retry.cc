#include "txjournal/retry.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>

namespace txj {

using Clock = std::chrono::steady_clock;

// ---- Breaker ----

std::chrono::nanoseconds Breaker::delay() {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_ < threshold_) return std::chrono::nanoseconds(0);
  auto open_until = last_failure_ + cooldown_;
  auto now = Clock::now();
  return open_until > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(open_until - now)
                          : std::chrono::nanoseconds(0);
}

void Breaker::success() {
  std::lock_guard<std::mutex> lock(mu_);
  failures_ = 0;
}

void Breaker::failure() {
  std::lock_guard<std::mutex> lock(mu_);
  ++failures_;
  last_failure_ = Clock::now();
}

// ---- ExponentialBackoff ----

ExponentialBackoff::ExponentialBackoff(std::chrono::nanoseconds base, double factor, std::chrono::nanoseconds max,
                                       double jitter, std::uint64_t seed)
    : base_(base), max_(max), factor_(factor), jitter_(jitter), rng_(seed ? seed : 0x9e3779b97f4a7c15ull) {}

std::chrono::nanoseconds ExponentialBackoff::delay() {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_ == 0) return std::chrono::nanoseconds(0);
  auto until = last_failure_ + current_;
  auto now = Clock::now();
  return until > now ? std::chrono::duration_cast<std::chrono::nanoseconds>(until - now) : std::chrono::nanoseconds(0);
}

void ExponentialBackoff::success() {
  std::lock_guard<std::mutex> lock(mu_);
  failures_ = 0;
  current_ = std::chrono::nanoseconds(0);
}

void ExponentialBackoff::failure() {
  std::lock_guard<std::mutex> lock(mu_);
  ++failures_;
  double d = static_cast<double>(base_.count()) * std::pow(factor_, static_cast<double>(failures_ - 1));
  d = std::min(d, static_cast<double>(max_.count()));
  // xorshift for the jitter: deterministic given the seed.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  const double unit = static_cast<double>(rng_ >> 11) / static_cast<double>(1ull << 53);  // [0, 1)
  d *= 1.0 + jitter_ * (2.0 * unit - 1.0);
  current_ = std::chrono::nanoseconds(static_cast<std::int64_t>(std::max(0.0, std::min(d, static_cast<double>(max_.count())))));
  last_failure_ = Clock::now();
}

std::uint32_t ExponentialBackoff::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
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

Status RetryingSink::close() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->closed) return Status::OK();
    s_->closed = true;
    s_->cv.notify_all();
  }
  return s_->dest->close();
}

SinkMetrics RetryingSink::metrics() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->m;
}

}  // namespace txj
