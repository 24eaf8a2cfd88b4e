#include "txjournal/queue.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace txj {

struct Queue::State {
  std::shared_ptr<Sink> dest;
  QueueOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<EventPtr> items;
  bool closing = false;     // no more writes
  bool writing = false;     // the worker is inside dest->write
  bool worker_done = false;
  bool dest_closed = false;
  SinkMetrics m;

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return closing || !items.empty(); });
      if (items.empty()) break;  // closing and drained
      EventPtr e = std::move(items.front());
      items.pop_front();
      writing = true;
      cv.notify_all();  // room for blocked writers
      lock.unlock();
      Status s = dest->write(e);
      if (!s.ok() && options.on_error) options.on_error(e, s);
      lock.lock();
      writing = false;
      if (!s.ok()) ++m.dropped;
      cv.notify_all();
    }
    worker_done = true;
    cv.notify_all();
  }
};

Queue::Queue(std::shared_ptr<Sink> destination, QueueOptions options) : s_(std::make_shared<State>()) {
  s_->dest = std::move(destination);
  s_->options = std::move(options);
  // The worker holds the state, so a close() that gives up on a stuck
  // destination leaves it valid.
  std::thread([s = s_] { s->Run(); }).detach();
}

Queue::~Queue() { (void)close(std::chrono::seconds(1)); }

Status Queue::write(const EventPtr& event) {
  State& s = *s_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.closing) return Status::Closed("queue is closed (sink closed)");
  const std::size_t cap = s.options.capacity;
  if (cap != 0 && s.items.size() >= cap) {
    switch (s.options.when_full) {
      case QueueOptions::WhenFull::kFail:
        ++s.m.dropped;
        return Status::Busy("queue full (" + std::to_string(cap) + " events waiting)");
      case QueueOptions::WhenFull::kDropOldest:
        s.items.pop_front();
        ++s.m.dropped;
        break;
      case QueueOptions::WhenFull::kBlock:
        s.cv.wait(lock, [&] { return s.closing || s.items.size() < cap; });
        if (s.closing) return Status::Closed("queue closed while waiting for room (sink closed)");
        break;
    }
  }
  s.items.push_back(event);
  ++s.m.written;
  s.cv.notify_all();
  return Status::OK();
}

Status Queue::close(std::chrono::nanoseconds deadline) {
  State& s = *s_;
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.dest_closed) return Status::OK();
  s.closing = true;
  s.cv.notify_all();
  const bool flushed = s.cv.wait_for(lock, deadline, [&] { return s.worker_done; });
  std::size_t left = 0;
  if (!flushed) {
    left = s.items.size() + (s.writing ? 1 : 0);
    s.m.dropped += s.items.size();
    s.items.clear();  // the worker stops after the write it is in
  }
  s.dest_closed = true;
  lock.unlock();
  Status c = s.dest->close();  // also what unblocks a destination stuck in write()
  if (!flushed) {
    return Status::TimedOut("queue close: " + std::to_string(left) +
                            " events not delivered before the deadline (counted as dropped)");
  }
  return c;
}

SinkMetrics Queue::metrics() const {
  std::lock_guard<std::mutex> lock(s_->mu);
  SinkMetrics m = s_->m;
  m.depth = s_->items.size() + (s_->writing ? 1 : 0);
  return m;
}

}  // namespace txj
