// txjournal: consumers run a handler over the committed view
// (after dogmatiq's eventstream).
//
// Thread rules: run() of a Consumer or Publisher is called by one thread
// at a time, and the Handler (or the Publisher's sink) is called on that
// thread, one event at a time; stop it from any thread through the
// stop_token given to run(). A Semaphore may be shared by any number of
// threads and consumers.
#ifndef TXJOURNAL_CONSUMER_H_
#define TXJOURNAL_CONSUMER_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>

#include "txjournal/cursor.h"
#include "txjournal/offset_store.h"
#include "txjournal/retry.h"
#include "txjournal/sink.h"

namespace txj {

class Journal;

// What a consumer drives. next_offset() says where to (re)start; after
// handle(offset, event) returns OK the next offset is offset + 1.
// Errors: what the implementation returns; an error of either call is a
// handler failure the consumer backs off from (Consumer::run).
class TXJ_EXPORT Handler {
 public:
  virtual ~Handler() = default;
  virtual Result<std::uint64_t> next_offset() = 0;
  virtual Status handle(std::uint64_t offset, const Event& event) = 0;
};

// A counting semaphore shared by consumers to limit how many events are
// handled at once. acquire() gives up when `stop` fires.
class TXJ_EXPORT Semaphore {
 public:
  explicit Semaphore(std::size_t permits);
  // Takes a permit, waiting until one is free. Returns false (no permit
  // taken) when `stop` fires first. No other error.
  bool acquire(std::stop_token stop);
  // Gives back a permit taken by acquire(). No error.
  void release();

 private:
  struct State;
  std::shared_ptr<State> s_;
};

struct ConsumerOptions {
  Filter filter = Filter::all();
  std::shared_ptr<Semaphore> semaphore;    // null: no limit
  std::shared_ptr<RetryStrategy> backoff;  // null: ExponentialBackoff (10 ms doubling to 10 s, 20 % jitter)
  std::function<void(const Status&)> on_error;  // handler failures, before backing off
};

class TXJ_EXPORT Consumer {
 public:
  Consumer(Journal& journal, Handler& handler, ConsumerOptions options = {});
  // Reads from handler.next_offset() and hands each matching committed event
  // to the handler, waiting for new commits at the end. On a handler error
  // it backs off (the strategy resets after a success) and restarts from
  // handler.next_offset(). Returns kCancelled when `stop` fires (also while
  // backing off or waiting for the semaphore), kTruncated (naming the
  // snapshot) when the next offset lies in compacted history, kClosed when
  // the journal closes (or was destroyed: a consumer outliving its journal
  // returns kClosed and touches nothing of it), or an error of next_offset().
  Status run(std::stop_token stop);

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// A Handler whose offset and state live in the catalog: `fn` gets the
// event and a KvTxn; its writes and the new offset commit together.
class TXJ_EXPORT StoredOffsetHandler final : public Handler {
 public:
  using Fn = std::function<Status(const Event&, KvTxn&)>;
  StoredOffsetHandler(OffsetStore& store, std::string consumer, Fn fn);
  // The stored offset of `consumer` (0 at first). Errors: those of
  // OffsetStore::load.
  Result<std::uint64_t> next_offset() override;
  // Runs `fn` and stores offset + 1 in one catalog transaction. Errors:
  // those of `fn` and of OffsetStore::commit_with; on an error nothing of
  // it is committed.
  Status handle(std::uint64_t offset, const Event& event) override;

 private:
  struct State;
  std::shared_ptr<State> s_;
};

// Follows the journal from a durable consumer offset and writes committed
// events into a sink chain; the offset is saved after the sink accepted the
// event, so delivery is at least once across restarts.
class TXJ_EXPORT Publisher {
 public:
  Publisher(Journal& journal, OffsetStore& store, std::string consumer, std::shared_ptr<Sink> sink,
            ConsumerOptions options = {});
  // As Consumer::run; kClosed once the journal was destroyed. An error of
  // the sink's write() or of saving the offset is a handler failure: the
  // publisher backs off and starts again from the stored offset.
  Status run(std::stop_token stop);

 private:
  class SinkHandler;
  struct State;
  std::shared_ptr<State> s_;
};

}  // namespace txj

#endif  // TXJOURNAL_CONSUMER_H_
