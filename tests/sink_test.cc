// Sinks: the scenarios of go-events' own tests, and the problems its users
// reported (close deadlocks, unbounded queues, silent drops, no reset).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <thread>
#include <vector>

#include "test_util.h"
#include "txjournal/queue.h"
#include "txjournal/retry.h"
#include "txjournal/sinks.h"

using namespace txj;
using namespace std::chrono_literals;

namespace {

EventPtr Ev(std::uint64_t off) {
  auto e = std::make_shared<OwnedEvent>();
  e->offset = off;
  e->topic = "t";
  e->payload = "p" + std::to_string(off);
  return e;
}

// Records what it gets; can fail the first N writes, block until released,
// and measures concurrent writers.
class TestSink final : public Sink {
 public:
  explicit TestSink(int fail_first = 0, bool block = false) : fail_(fail_first), block_(block) {}
  Status write(const EventPtr& e) override {
    int now = ++inflight_;
    int seen = max_inflight_.load();
    while (now > seen && !max_inflight_.compare_exchange_weak(seen, now)) {}
    std::unique_lock<std::mutex> lock(mu_);
    if (block_) cv_.wait(lock, [&] { return !block_ || closed_; });
    --inflight_;
    if (closed_) return Status::Closed("test sink closed");
    ++attempts_;
    if (fail_ > 0) {
      --fail_;
      return Status::IOError("injected failure");
    }
    got_.push_back(e->offset);
    return Status::OK();
  }
  Status close() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++closes_;
    closed_ = true;
    cv_.notify_all();
    return Status::OK();
  }
  SinkMetrics metrics() const override { return {}; }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    block_ = false;
    cv_.notify_all();
  }
  std::vector<std::uint64_t> got() { return test::ReadLocked(mu_, got_); }
  int closes() { return test::ReadLocked(mu_, closes_); }
  int attempts() { return test::ReadLocked(mu_, attempts_); }
  int max_inflight() const { return max_inflight_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int fail_;
  bool block_;
  bool closed_ = false;
  int closes_ = 0, attempts_ = 0;
  std::atomic<int> inflight_{0}, max_inflight_{0};
  std::vector<std::uint64_t> got_;
};

}  // namespace

TEST_CASE("a broadcaster gives every member the same events in the same order") {
  Broadcaster b;
  std::vector<std::shared_ptr<TestSink>> sinks;
  for (int i = 0; i < 4; ++i) {
    sinks.push_back(std::make_shared<TestSink>());
    TXJ_REQUIRE_OK(b.add(sinks.back()));
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 250; ++i) CHECK(b.write(Ev(static_cast<std::uint64_t>(w * 1000 + i))).ok());
    });
  }
  for (auto& t : writers) t.join();
  const auto first = sinks[0]->got();
  CHECK(first.size() == 1000);
  for (auto& s : sinks) CHECK(s->got() == first);
  CHECK(b.metrics().written == 1000);
}

TEST_CASE("a broadcaster drops a member that reports closed, and closes all members once") {
  Broadcaster b;
  auto a = std::make_shared<TestSink>(), c = std::make_shared<TestSink>();
  TXJ_REQUIRE_OK(b.add(a));
  TXJ_REQUIRE_OK(b.add(c));
  TXJ_REQUIRE_OK(c->close());
  TXJ_CHECK_OK(b.write(Ev(1)));
  CHECK(b.size() == 1);
  CHECK(b.remove(c).code() == Code::kNotFound);
  TXJ_CHECK_OK(b.remove(a));
  TXJ_REQUIRE_OK(b.add(a));
  TXJ_CHECK_OK(b.close());
  TXJ_CHECK_OK(b.close());  // idempotent
  CHECK(a->closes() == 1);
  CHECK(b.write(Ev(2)).code() == Code::kClosed);
  CHECK(b.add(std::make_shared<TestSink>()).code() == Code::kClosed);
}

TEST_CASE("adding a sink that is already a member of a broadcaster changes nothing") {
  Broadcaster b;
  auto a = std::make_shared<TestSink>(), c = std::make_shared<TestSink>();
  TXJ_REQUIRE_OK(b.add(a));
  TXJ_REQUIRE_OK(b.add(c));
  TXJ_CHECK_OK(b.add(a));  // again: OK, and still one membership
  CHECK(b.size() == 2);
  TXJ_CHECK_OK(b.write(Ev(1)));
  CHECK(a->got() == std::vector<std::uint64_t>{1});  // once, not twice
  CHECK(c->got() == std::vector<std::uint64_t>{1});
  TXJ_CHECK_OK(b.remove(a));  // one remove ends the membership
  CHECK(b.size() == 1);
  TXJ_CHECK_OK(b.write(Ev(2)));
  CHECK(a->got() == std::vector<std::uint64_t>{1});
  CHECK(c->got() == std::vector<std::uint64_t>{1, 2});
  CHECK(b.remove(a).code() == Code::kNotFound);
}

TEST_CASE("a filter sink passes what its matcher accepts and counts the rest as dropped") {
  auto dest = std::make_shared<TestSink>();
  FilterSink f(dest, [](const OwnedEvent& e) { return e.offset % 2 == 0; });
  for (std::uint64_t i = 0; i < 10; ++i) TXJ_CHECK_OK(f.write(Ev(i)));
  CHECK(dest->got() == std::vector<std::uint64_t>{0, 2, 4, 6, 8});
  CHECK(f.metrics().dropped == 5);
  TXJ_CHECK_OK(f.close());
  CHECK(dest->closes() == 1);
  CHECK(f.write(Ev(1)).code() == Code::kClosed);
}

TEST_CASE("a channel hands events to a reader, and close wakes both sides") {
  Channel ch;
  std::thread reader([&] {
    for (std::uint64_t i = 0; i < 100; ++i) {
      auto e = ch.receive();
      REQUIRE(e.ok());
      CHECK((*e)->offset == i);
    }
  });
  for (std::uint64_t i = 0; i < 100; ++i) TXJ_CHECK_OK(ch.write(Ev(i)));
  reader.join();
  CHECK(ch.receive(std::chrono::steady_clock::now() + 10ms).status().code() == Code::kTimedOut);
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(20ms);
    stop.request_stop();
  });
  CHECK(ch.receive(std::chrono::steady_clock::time_point::max(), stop.get_token()).status().code() == Code::kCancelled);
  canceller.join();
  std::thread blocked_writer([&] { CHECK(ch.write(Ev(7)).code() == Code::kClosed); });
  std::this_thread::sleep_for(20ms);
  CHECK(!ch.is_closed());
  TXJ_CHECK_OK(ch.close());
  blocked_writer.join();
  ch.wait_closed();
  CHECK(ch.receive().status().code() == Code::kClosed);
}

TEST_CASE("a queue delivers asynchronously in order and flushes on close") {
  auto dest = std::make_shared<TestSink>();
  Queue q(dest);
  for (std::uint64_t i = 0; i < 1000; ++i) TXJ_CHECK_OK(q.write(Ev(i)));
  TXJ_CHECK_OK(q.close());
  auto got = dest->got();
  REQUIRE(got.size() == 1000);
  for (std::uint64_t i = 0; i < 1000; ++i) CHECK(got[i] == i);
  CHECK(dest->closes() == 1);
  CHECK(q.write(Ev(1)).code() == Code::kClosed);
  TXJ_CHECK_OK(q.close());
}

namespace {

// A queue of `capacity` before a destination that holds every write until
// release(): event 0 is written first and taken by the worker, which then
// blocks.
struct HeldQueue {
  std::shared_ptr<TestSink> dest = std::make_shared<TestSink>(0, true);
  Queue q;
  HeldQueue(std::size_t capacity, QueueOptions::WhenFull when_full)
      : q(dest, {.capacity = capacity, .when_full = when_full}) {
    TXJ_CHECK_OK(q.write(Ev(0)));
    std::this_thread::sleep_for(20ms);
  }
  // Releases the destination and closes the queue: what the destination got.
  std::vector<std::uint64_t> ReleaseAndClose() {
    dest->release();
    TXJ_CHECK_OK(q.close());
    return dest->got();
  }
};

}  // namespace

TEST_CASE("a bounded queue blocks, drops the oldest, or fails with queue full, as asked") {
  SUBCASE("fail") {
    HeldQueue h(2, QueueOptions::WhenFull::kFail);
    TXJ_CHECK_OK(h.q.write(Ev(1)));
    TXJ_CHECK_OK(h.q.write(Ev(2)));
    Status full = h.q.write(Ev(3));
    CHECK(full.code() == Code::kBusy);
    CHECK(full.message().find("queue full") != std::string::npos);
    CHECK(h.q.metrics().depth == 3);
    CHECK(h.ReleaseAndClose() == std::vector<std::uint64_t>{0, 1, 2});
  }
  SUBCASE("drop oldest") {
    HeldQueue h(2, QueueOptions::WhenFull::kDropOldest);
    for (std::uint64_t i = 1; i <= 5; ++i) TXJ_CHECK_OK(h.q.write(Ev(i)));
    CHECK(h.q.metrics().dropped == 3);
    CHECK(h.ReleaseAndClose() == std::vector<std::uint64_t>{0, 4, 5});
  }
  SUBCASE("block") {
    HeldQueue h(1, QueueOptions::WhenFull::kBlock);
    TXJ_CHECK_OK(h.q.write(Ev(1)));
    std::atomic<bool> done{false};
    std::thread w([&] {
      CHECK(h.q.write(Ev(2)).ok());
      done = true;
    });
    std::this_thread::sleep_for(30ms);
    CHECK(!done.load());
    h.dest->release();
    w.join();
    TXJ_CHECK_OK(h.q.close());
    CHECK(h.dest->got() == std::vector<std::uint64_t>{0, 1, 2});
  }
}

TEST_CASE("closing a queue whose destination blocks returns at the deadline instead of deadlocking") {
  auto dest = std::make_shared<TestSink>(0, true);
  Queue q(dest);
  for (std::uint64_t i = 0; i < 5; ++i) TXJ_CHECK_OK(q.write(Ev(i)));
  const auto t0 = std::chrono::steady_clock::now();
  Status s = q.close(50ms);
  CHECK(s.code() == Code::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(dest->closes() == 1);  // closing the destination unblocked its write
  CHECK(q.metrics().dropped >= 4);
}

TEST_CASE("a retrying sink with a breaker retries until the destination accepts") {
  auto dest = std::make_shared<TestSink>(7);
  RetryingSink r(dest, std::make_shared<Breaker>(3, 2ms));
  TXJ_CHECK_OK(r.write(Ev(1)));
  CHECK(dest->got() == std::vector<std::uint64_t>{1});
  CHECK(dest->attempts() == 8);
  CHECK(r.metrics().retried == 7);
  CHECK(r.metrics().written == 1);
}

TEST_CASE("exponential backoff grows with failures and resets after a success") {
  ExponentialBackoff b(1ms, 2.0, 1s, 0.0);
  CHECK(b.delay().count() == 0);
  b.failure();
  auto d1 = b.delay();
  b.failure();
  b.failure();
  auto d3 = b.delay();
  CHECK(d3 > d1);
  CHECK(b.failures() == 3);
  b.success();
  CHECK(b.failures() == 0);
  CHECK(b.delay().count() == 0);
}

TEST_CASE("a retrying sink that gives up sends the event to the dead-letter sink, never dropping it silently") {
  auto dest = std::make_shared<TestSink>(1000);
  auto dead = std::make_shared<TestSink>();
  std::vector<std::uint64_t> handed;
  RetryingSink r(dest, std::make_shared<ExponentialBackoff>(1ms, 2.0, 4ms, 0.0),
                 {.max_attempts = 3,
                  .dead_letter = dead,
                  .on_give_up = [&](const EventPtr& e, const Status&) { handed.push_back(e->offset); }});
  Status s = r.write(Ev(9));
  CHECK(s.code() == Code::kIOError);
  CHECK(s.message().find("dead-letter") != std::string::npos);
  CHECK(dead->got() == std::vector<std::uint64_t>{9});
  CHECK(handed == std::vector<std::uint64_t>{9});
  CHECK(r.metrics().dropped == 1);
  CHECK(dest->attempts() == 3);
}

TEST_CASE("a retrying sink serializes concurrent writers and closes its destination") {
  auto dest = std::make_shared<TestSink>(20);
  RetryingSink r(dest, std::make_shared<ExponentialBackoff>(100us, 1.5, 1ms, 0.1));
  std::vector<std::thread> ts;
  for (int w = 0; w < 4; ++w) {
    ts.emplace_back([&, w] {
      for (int i = 0; i < 25; ++i) CHECK(r.write(Ev(static_cast<std::uint64_t>(w * 100 + i))).ok());
    });
  }
  for (auto& t : ts) t.join();
  CHECK(dest->got().size() == 100);
  CHECK(dest->max_inflight() == 1);
  TXJ_CHECK_OK(r.close());
  CHECK(dest->closes() == 1);
  CHECK(r.write(Ev(1)).code() == Code::kClosed);
}

TEST_CASE("closing a retrying sink during a retry hands the event to the dead-letter sink") {
  auto dest = std::make_shared<TestSink>(1000000);
  auto dead = std::make_shared<TestSink>();
  auto r = std::make_shared<RetryingSink>(dest, std::make_shared<Breaker>(1, 10s), RetryOptions{.dead_letter = dead});
  std::thread w([&] { CHECK(r->write(Ev(5)).code() == Code::kClosed); });
  std::this_thread::sleep_for(30ms);
  TXJ_CHECK_OK(r->close());
  w.join();
  CHECK(dead->got() == std::vector<std::uint64_t>{5});
}

TEST_CASE("a timeout sink fails a write the destination does not finish in time") {
  auto dest = std::make_shared<TestSink>(0, true);
  TimeoutSink t(dest, 20ms);
  CHECK(t.write(Ev(1)).code() == Code::kTimedOut);
  CHECK(t.write(Ev(2)).code() == Code::kTimedOut);  // the first one still holds the destination
  dest->release();
  std::this_thread::sleep_for(20ms);
  TXJ_CHECK_OK(t.write(Ev(3)));
  CHECK(dest->got() == std::vector<std::uint64_t>{1, 3});
  TXJ_CHECK_OK(t.close());
  CHECK(t.write(Ev(4)).code() == Code::kClosed);
}
