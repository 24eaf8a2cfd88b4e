#include "txjournal/consumer.h"

#include "journal_door.h"
#include "txjournal/journal.h"

namespace txj {

bool Semaphore::acquire(std::stop_token stop) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait(lock, stop, [&] { return permits_ > 0; })) return false;
  --permits_;
  return true;
}

void Semaphore::release() {
  std::lock_guard<std::mutex> lock(mu_);
  ++permits_;
  cv_.notify_one();
}

Consumer::Consumer(Journal& journal, Handler& handler, ConsumerOptions options)
    : journal_(journal),
      journal_alive_(internal::AliveFlag(journal)),
      handler_(handler),
      options_(std::move(options)) {
  if (!options_.backoff) options_.backoff = std::make_shared<ExponentialBackoff>();
}

Status Consumer::run(std::stop_token stop) {
  RetryStrategy& backoff = *options_.backoff;
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
    if (!journal_alive_->load(std::memory_order_acquire)) {
      return Status::Closed("consumer: its journal was closed and destroyed");
    }
    auto next = handler_.next_offset();
    if (!next.ok()) return next.status().WithContext("consumer: next_offset()");
    auto cursor = journal_.open_cursor(*next, options_.filter);
    if (!cursor.ok()) return cursor.status();  // kTruncated names the snapshot; never skipped silently
    for (;;) {
      auto e = cursor->wait_next(std::chrono::steady_clock::time_point::max(), stop);
      if (!e.ok()) {
        if (e.status().code() == Code::kCancelled) return cancelled();
        return e.status();
      }
      if (options_.semaphore && !options_.semaphore->acquire(stop)) return cancelled();
      Status s = handler_.handle(e->offset, *e);
      if (options_.semaphore) options_.semaphore->release();
      if (!s.ok()) {
        if (options_.on_error) options_.on_error(s.WithContext("handler at offset " + std::to_string(e->offset)));
        backoff.failure();
        break;  // restart from handler.next_offset()
      }
      backoff.success();
    }
  }
}

Status StoredOffsetHandler::handle(std::uint64_t offset, const Event& event) {
  return store_.commit_with(name_, offset + 1, [&](KvTxn& t) { return fn_(event, t); });
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

Publisher::Publisher(Journal& journal, OffsetStore& store, std::string consumer, std::shared_ptr<Sink> sink,
                     ConsumerOptions options)
    : journal_(journal),
      journal_alive_(internal::AliveFlag(journal)),
      store_(store),
      name_(std::move(consumer)),
      sink_(std::move(sink)),
      options_(std::move(options)) {}

Status Publisher::run(std::stop_token stop) {
  if (!journal_alive_->load(std::memory_order_acquire)) {
    return Status::Closed("publisher " + name_ + ": its journal was closed and destroyed");
  }
  SinkHandler h(store_, name_, *sink_);
  Consumer c(journal_, h, options_);
  return c.run(std::move(stop));
}

}  // namespace txj
