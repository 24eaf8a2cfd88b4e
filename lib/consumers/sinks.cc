#include "txjournal/sinks.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "sink_state.h"

namespace txj {

EventPtr OwnedEvent::From(const Event& e) { return std::make_shared<const OwnedEvent>(e.to_owned()); }

namespace {
Status ClosedSink(const char* what) { return Status::Closed(std::string(what) + " is closed (sink closed)"); }
}  // namespace

// ---- Broadcaster ----

struct Broadcaster::State {
  mutable std::mutex mu;
  std::vector<std::shared_ptr<Sink>> sinks;
  bool closed = false;
  SinkMetrics m;
};

Broadcaster::Broadcaster() : s_(std::make_shared<State>()) {}

Status Broadcaster::add(std::shared_ptr<Sink> sink) {
  if (!sink) return Status::InvalidArgument("null sink");
  std::lock_guard<std::mutex> lock(s_->mu);
  if (s_->closed) return ClosedSink("broadcaster");
  // A member is a member once: adding it again must not make it receive
  // every event twice (nor survive one remove()).
  if (std::find(s_->sinks.begin(), s_->sinks.end(), sink) != s_->sinks.end()) return Status::OK();
  s_->sinks.push_back(std::move(sink));
  return Status::OK();
}

Status Broadcaster::remove(const std::shared_ptr<Sink>& sink) {
  std::lock_guard<std::mutex> lock(s_->mu);
  auto it = std::find(s_->sinks.begin(), s_->sinks.end(), sink);
  if (it == s_->sinks.end()) return Status::NotFound("sink is not a member of this broadcaster");
  s_->sinks.erase(it);
  return Status::OK();
}

std::size_t Broadcaster::size() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->sinks.size();
}

Status Broadcaster::write(const EventPtr& event) {
  std::lock_guard<std::mutex> lock(s_->mu);  // one event at a time: the same order everywhere
  if (s_->closed) return ClosedSink("broadcaster");
  Status first;
  for (auto it = s_->sinks.begin(); it != s_->sinks.end();) {
    Status s = (*it)->write(event);
    if (s.IsClosed()) {
      it = s_->sinks.erase(it);
      continue;
    }
    if (!s.ok() && first.ok()) first = s;
    ++it;
  }
  ++s_->m.written;
  return first;
}

Status Broadcaster::close() {
  std::vector<std::shared_ptr<Sink>> members;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->closed) return Status::OK();
    s_->closed = true;
    members.swap(s_->sinks);
  }
  Status first;
  for (auto& s : members) {
    Status r = s->close();
    if (!r.ok() && first.ok()) first = r;
  }
  return first;
}

SinkMetrics Broadcaster::metrics() const { return internal::LockedMetrics(*s_); }

// ---- FilterSink ----

struct FilterSink::State {
  std::shared_ptr<Sink> dest;
  Matcher matcher;
  mutable std::mutex mu;
  bool closed = false;
  SinkMetrics m;
};

FilterSink::FilterSink(std::shared_ptr<Sink> destination, Matcher matcher) : s_(std::make_shared<State>()) {
  s_->dest = std::move(destination);
  s_->matcher = std::move(matcher);
}

Status FilterSink::write(const EventPtr& event) {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->closed) return ClosedSink("filter sink");
    if (!s_->matcher(*event)) {
      ++s_->m.dropped;
      return Status::OK();
    }
    ++s_->m.written;
  }
  return s_->dest->write(event);
}

Status FilterSink::close() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->closed) return Status::OK();
    s_->closed = true;
  }
  return s_->dest->close();
}

SinkMetrics FilterSink::metrics() const { return internal::LockedMetrics(*s_); }

// ---- Channel ----

struct Channel::State {
  explicit State(std::size_t c) : capacity(c) {}
  const std::size_t capacity;
  mutable std::mutex mu;
  mutable std::condition_variable_any cv;
  std::deque<EventPtr> items;
  std::uint64_t taken = 0, put = 0;
  bool closed = false;
  SinkMetrics m;
};

Channel::Channel(std::size_t capacity) : s_(std::make_shared<State>(capacity)) {}

Status Channel::write(const EventPtr& event) {
  std::unique_lock<std::mutex> lock(s_->mu);
  const std::size_t room = s_->capacity == 0 ? 1 : s_->capacity;
  s_->cv.wait(lock, [&] { return s_->closed || s_->items.size() < room; });
  if (s_->closed) return ClosedSink("channel");
  s_->items.push_back(event);
  const std::uint64_t mine = ++s_->put;
  ++s_->m.written;
  s_->cv.notify_all();
  if (s_->capacity == 0) {  // hand-off: wait until a reader has taken it
    s_->cv.wait(lock, [&] { return s_->closed || s_->taken >= mine; });
    if (s_->taken < mine) {
      // Not handed over: take it back, so no reader gets an event whose
      // write failed.
      if (auto it = std::find(s_->items.begin(), s_->items.end(), event); it != s_->items.end()) s_->items.erase(it);
      --s_->m.written;
      return ClosedSink("channel");
    }
  }
  return Status::OK();
}

Result<EventPtr> Channel::receive(std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
  std::unique_lock<std::mutex> lock(s_->mu);
  auto ready = [&] { return s_->closed || !s_->items.empty(); };
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    s_->cv.wait(lock, stop, ready);
  } else {
    s_->cv.wait_until(lock, stop, deadline, ready);
  }
  if (!s_->items.empty()) {
    EventPtr e = std::move(s_->items.front());
    s_->items.pop_front();
    ++s_->taken;
    s_->cv.notify_all();
    return e;
  }
  if (s_->closed) return ClosedSink("channel");
  if (stop.stop_requested()) return Status::Cancelled("stop requested while receiving from a channel");
  return Status::TimedOut("no event before the deadline");
}

Status Channel::close() {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->closed = true;
  s_->cv.notify_all();
  return Status::OK();
}

bool Channel::is_closed() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  return s_->closed;
}

void Channel::wait_closed() const {
  std::unique_lock<std::mutex> lock(s_->mu);
  s_->cv.wait(lock, [&] { return s_->closed; });
}

SinkMetrics Channel::metrics() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  SinkMetrics m = s_->m;
  m.depth = s_->items.size();
  return m;
}

// ---- TimeoutSink ----

// One worker thread per sink (started by the first write) runs the
// destination's writes; write() hands it the event and waits for the result
// until its deadline. The worker holds the state, so a write still running
// after a timeout, or after the sink is destroyed, completes safely; the
// worker then ends once the sink is gone or closed.
struct TimeoutSink::State {
  std::shared_ptr<Sink> dest;
  std::chrono::nanoseconds timeout;
  std::mutex mu;
  std::condition_variable cv;
  bool busy = false;      // a write is handed over or in flight
  bool closed = false;
  bool detached = false;  // the sink is gone: the worker ends when idle
  bool worker_started = false;
  EventPtr pending;                             // the write handed to the worker
  std::shared_ptr<std::optional<Status>> result;  // its result, when done
  SinkMetrics m;

  static void Work(std::shared_ptr<State> s) {
    std::unique_lock<std::mutex> lock(s->mu);
    for (;;) {
      s->cv.wait(lock, [&] { return s->pending != nullptr || s->closed || s->detached; });
      if (s->pending == nullptr) return;  // closed or destroyed, nothing in flight
      EventPtr event = std::move(s->pending);
      s->pending = nullptr;
      auto result = s->result;
      lock.unlock();
      Status r = s->dest->write(event);
      event.reset();
      lock.lock();
      *result = std::move(r);
      s->busy = false;
      s->cv.notify_all();
    }
  }
};

TimeoutSink::TimeoutSink(std::shared_ptr<Sink> destination, std::chrono::nanoseconds timeout)
    : s_(std::make_shared<State>()) {
  s_->dest = std::move(destination);
  s_->timeout = timeout;
}

TimeoutSink::~TimeoutSink() {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->detached = true;
  s_->cv.notify_all();
}

Status TimeoutSink::write(const EventPtr& event) {
  auto s = s_;
  std::unique_lock<std::mutex> lock(s->mu);
  const auto deadline = std::chrono::steady_clock::now() + s->timeout;
  if (!s->cv.wait_until(lock, deadline, [&] { return !s->busy || s->closed; })) {
    ++s->m.dropped;
    return Status::TimedOut("an earlier write to the destination is still running after " +
                            std::to_string(s->timeout.count()) + " ns");
  }
  if (s->closed) return ClosedSink("timeout sink");
  if (!s->worker_started) {
    try {
      std::thread(&State::Work, s).detach();
    } catch (const std::system_error& e) {
      return Status::FromErrno(e.code().value(), "starting the timeout sink's worker thread");
    }
    s->worker_started = true;
  }
  s->busy = true;
  auto result = std::make_shared<std::optional<Status>>();
  s->result = result;
  s->pending = event;
  s->cv.notify_all();
  if (!s->cv.wait_until(lock, deadline, [&] { return result->has_value(); })) {
    ++s->m.dropped;
    return Status::TimedOut("the destination did not finish a write within " + std::to_string(s->timeout.count()) +
                            " ns");
  }
  if ((*result)->ok()) ++s->m.written;
  return **result;
}

Status TimeoutSink::close() { return internal::CloseWrapping(*s_); }

SinkMetrics TimeoutSink::metrics() const { return internal::LockedMetrics(*s_); }

}  // namespace txj
