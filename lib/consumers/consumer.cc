#include "txjournal/consumer.h"

#include "journal_door.h"
#include "txjournal/journal.h"

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace txj {

struct Semaphore::State {
  std::mutex mu;
  std::condition_variable_any cv;
  std::size_t permits = 0;
};

Semaphore::Semaphore(std::size_t permits) : s_(std::make_shared<State>()) { s_->permits = permits; }

bool Semaphore::acquire(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(s_->mu);
  if (!s_->cv.wait(lock, stop, [&] { return s_->permits > 0; })) return false;
  --s_->permits;
  return true;
}

void Semaphore::release() {
  std::lock_guard<std::mutex> lock(s_->mu);
  ++s_->permits;
  s_->cv.notify_one();
}

struct Consumer::State {
  State(Journal& j, Handler& h, ConsumerOptions o)
      : journal(j), journal_alive(internal::AliveFlag(j)), handler(h), options(std::move(o)) {}
  Journal& journal;
  std::shared_ptr<const std::atomic<bool>> journal_alive;
  Handler& handler;
  ConsumerOptions options;
};

Consumer::Consumer(Journal& journal, Handler& handler, ConsumerOptions options)
    : s_(std::make_shared<State>(journal, handler, std::move(options))) {
  if (!s_->options.backoff) s_->options.backoff = std::make_shared<ExponentialBackoff>();
}

Status Consumer::run(std::stop_token stop) {
  RetryStrategy& backoff = *s_->options.backoff;
  auto cancelled = [] { return Status::Cancelled("consumer stopped"); };
  for (;;) {
    // Back off after a failure, promptly interrupted by `stop`.
    if (auto wait = backoff.delay(); wait.count() > 0) {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock<std::mutex> lock(m);
      cv.wait_for(lock, stop, wait, [] { return false; });
    }
    if (stop.stop_requested()) return cancelled();
    if (!s_->journal_alive->load(std::memory_order_acquire)) {
      return Status::Closed("consumer: its journal was closed and destroyed");
    }
    auto next = s_->handler.next_offset();
    if (!next.ok()) return next.status().WithContext("consumer: next_offset()");
    auto cursor = s_->journal.open_cursor(*next, s_->options.filter);
    if (!cursor.ok()) return cursor.status();  // kTruncated names the snapshot; never skipped silently
    for (;;) {
      auto e = cursor->wait_next(std::chrono::steady_clock::time_point::max(), stop);
      if (!e.ok()) {
        if (e.status().code() == Code::kCancelled) return cancelled();
        return e.status();
      }
      if (s_->options.semaphore && !s_->options.semaphore->acquire(stop)) return cancelled();
      Status s = s_->handler.handle(e->offset, *e);
      if (s_->options.semaphore) s_->options.semaphore->release();
      if (!s.ok()) {
        if (s_->options.on_error) s_->options.on_error(s.WithContext("handler at offset " + std::to_string(e->offset)));
        backoff.failure();
        break;  // restart from handler.next_offset()
      }
      backoff.success();
    }
  }
}

struct StoredOffsetHandler::State {
  State(OffsetStore& s, std::string n, Fn f) : store(s), name(std::move(n)), fn(std::move(f)) {}
  OffsetStore& store;
  std::string name;
  Fn fn;
};

StoredOffsetHandler::StoredOffsetHandler(OffsetStore& store, std::string consumer, Fn fn)
    : s_(std::make_shared<State>(store, std::move(consumer), std::move(fn))) {}

Result<std::uint64_t> StoredOffsetHandler::next_offset() { return s_->store.load(s_->name); }

Status StoredOffsetHandler::handle(std::uint64_t offset, const Event& event) {
  return s_->store.commit_with(s_->name, offset + 1, [&](KvTxn& t) { return s_->fn(event, t); });
}

class Publisher::SinkHandler final : public Handler {
 public:
  SinkHandler(OffsetStore& store, const std::string& name, Sink& sink) : store_(store), name_(name), sink_(sink) {}
  Result<std::uint64_t> next_offset() override { return store_.load(name_); }
  Status handle(std::uint64_t offset, const Event& event) override {
    TXJ_RETURN_IF_ERROR(sink_.write(OwnedEvent::From(event)));
    return store_.save(name_, offset + 1);
  }

 private:
  OffsetStore& store_;
  const std::string& name_;
  Sink& sink_;
};

struct Publisher::State {
  State(Journal& j, OffsetStore& st, std::string n, std::shared_ptr<Sink> sk, ConsumerOptions o)
      : journal(j),
        journal_alive(internal::AliveFlag(j)),
        store(st),
        name(std::move(n)),
        sink(std::move(sk)),
        options(std::move(o)) {}
  Journal& journal;
  std::shared_ptr<const std::atomic<bool>> journal_alive;
  OffsetStore& store;
  std::string name;
  std::shared_ptr<Sink> sink;
  ConsumerOptions options;
};

Publisher::Publisher(Journal& journal, OffsetStore& store, std::string consumer, std::shared_ptr<Sink> sink,
                     ConsumerOptions options)
    : s_(std::make_shared<State>(journal, store, std::move(consumer), std::move(sink), std::move(options))) {}

Status Publisher::run(std::stop_token stop) {
  if (!s_->journal_alive->load(std::memory_order_acquire)) {
    return Status::Closed("publisher " + s_->name + ": its journal was closed and destroyed");
  }
  SinkHandler h(s_->store, s_->name, *s_->sink);
  Consumer c(s_->journal, h, s_->options);
  return c.run(std::move(stop));
}

}  // namespace txj
