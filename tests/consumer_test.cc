// Consumers, durable offsets and the publisher: the scenarios of
// eventstream's consumer tests, plus crashes.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "test_util.h"
#include "txjournal/consumer.h"
#include "txjournal/sinks.h"

using namespace txj;
using namespace std::chrono_literals;
using txj::test::TempDir;

namespace {

void Fill(Journal& j, int n, const std::string& topic = "t", int first = 0) {
  for (int i = first; i < first + n; ++i) {
    auto tx = j.begin();
    REQUIRE(tx.ok());
    REQUIRE(tx->append(topic, "e", std::to_string(i), {.key = "k" + std::to_string(i % 10)}).ok());
    REQUIRE(tx->commit().ok());
  }
}

// Remembers its position in memory; fails once at `fail_at`.
class MemoryHandler final : public Handler {
 public:
  explicit MemoryHandler(std::int64_t fail_at = -1, std::uint64_t stop_after = ~0ull, std::stop_source* stop = nullptr)
      : fail_at_(fail_at), stop_after_(stop_after), stop_(stop) {}
  Result<std::uint64_t> next_offset() override { return next_; }
  Status handle(std::uint64_t offset, const Event& e) override {
    REQUIRE(offset == e.offset);
    seen.push_back(offset);
    if (static_cast<std::int64_t>(offset) == fail_at_) {
      fail_at_ = -1;
      return Status::IOError("handler failed once");
    }
    next_ = offset + 1;
    if (next_ >= stop_after_ && stop_) stop_->request_stop();
    return Status::OK();
  }
  std::vector<std::uint64_t> seen;

 private:
  std::int64_t fail_at_;
  std::uint64_t stop_after_;
  std::stop_source* stop_;
  std::uint64_t next_ = 0;
};

}  // namespace

TEST_CASE_FIXTURE(test::FreshJournal, "a consumer handles committed events in order and restarts from next_offset after a failure") {
  Fill(*j, 20);
  std::stop_source stop;
  MemoryHandler h(7, 20, &stop);
  auto backoff = std::make_shared<ExponentialBackoff>(1ms, 2.0, 10ms, 0.0);
  std::vector<std::string> errors;
  Consumer c(*j, h, {.backoff = backoff, .on_error = [&](const Status& s) { errors.push_back(s.ToString()); }});
  Status s = c.run(stop.get_token());
  CHECK(s.code() == Code::kCancelled);
  std::vector<std::uint64_t> want;
  for (std::uint64_t i = 0; i < 20; ++i) {
    want.push_back(i);
    if (i == 7) want.push_back(7);  // handled again after the failure
  }
  CHECK(h.seen == want);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("offset 7") != std::string::npos);
  CHECK(backoff->failures() == 0);  // reset after the next success
}

TEST_CASE_FIXTURE(test::FreshJournal, "a consumer waits for new commits and stops promptly when cancelled") {
  std::stop_source stop;
  MemoryHandler h(-1, 5, &stop);
  Consumer c(*j, h);
  std::thread writer([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(5ms);
      Fill(*j, 1, "t", i);
    }
  });
  CHECK(c.run(stop.get_token()).code() == Code::kCancelled);
  writer.join();
  CHECK(h.seen.size() == 5);
  // Cancelled while backing off: prompt, not after the long delay.
  std::stop_source stop2;
  MemoryHandler failing(5);
  Consumer slow(*j, failing, {.backoff = std::make_shared<ExponentialBackoff>(10s, 2.0, 10s, 0.0)});
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    stop2.request_stop();
  });
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(slow.run(stop2.get_token()).code() == Code::kCancelled);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  canceller.join();
}

TEST_CASE_FIXTURE(test::FreshJournal, "a shared semaphore limits how many events consumers handle at once") {
  Fill(*j, 40);
  auto sem = std::make_shared<Semaphore>(1);
  std::atomic<int> inflight{0}, max_inflight{0};
  struct Slow final : Handler {
    std::atomic<int>& in;
    std::atomic<int>& max;
    std::uint64_t next = 0;
    std::stop_source* stop;
    Slow(std::atomic<int>& i, std::atomic<int>& m, std::stop_source* s) : in(i), max(m), stop(s) {}
    Result<std::uint64_t> next_offset() override { return next; }
    Status handle(std::uint64_t offset, const Event&) override {
      int now = ++in;
      int seen = max.load();
      while (now > seen && !max.compare_exchange_weak(seen, now)) {}
      std::this_thread::sleep_for(200us);
      --in;
      next = offset + 1;
      if (next == 40) stop->request_stop();
      return Status::OK();
    }
  };
  std::stop_source s1, s2;
  Slow h1(inflight, max_inflight, &s1), h2(inflight, max_inflight, &s2);
  Consumer c1(*j, h1, {.semaphore = sem}), c2(*j, h2, {.semaphore = sem});
  std::thread t1([&] { CHECK(c1.run(s1.get_token()).code() == Code::kCancelled); });
  std::thread t2([&] { CHECK(c2.run(s2.get_token()).code() == Code::kCancelled); });
  t1.join();
  t2.join();
  CHECK(max_inflight.load() == 1);
  // Cancelled while waiting for the semaphore.
  auto held = std::make_shared<Semaphore>(0);
  MemoryHandler h3;
  Consumer blocked(*j, h3, {.semaphore = held});
  std::stop_source s3;
  std::thread canceller([&] {
    std::this_thread::sleep_for(30ms);
    s3.request_stop();
  });
  CHECK(blocked.run(s3.get_token()).code() == Code::kCancelled);
  canceller.join();
  CHECK(h3.seen.empty());
}

TEST_CASE_FIXTURE(test::FreshJournal, "a consumer that falls behind compacted history is told so, never skipping") {
  TXJ_REQUIRE_OK(j->register_compactor("t", std::make_shared<LatestByKeyCompactor>()));
  Fill(*j, 30);
  TXJ_REQUIRE_OK(j->compact("t"));
  MemoryHandler h;
  Consumer c(*j, h, {.filter = Filter::for_topics({"t"})});
  Status s = c.run({});
  CHECK(s.code() == Code::kTruncated);
  CHECK(s.message().find("snapshot") != std::string::npos);
  CHECK(h.seen.empty());
}

TEST_CASE("offsets survive reopening, and commit_with saves state and offset together or not at all") {
  TempDir dir;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    auto store = test::RequireOk(OffsetStore::open(*j));
    auto none = test::RequireOk((*store)->load("c1"));
    CHECK(*none == 0);
    TXJ_REQUIRE_OK((*store)->save("c1", 42));
    TXJ_REQUIRE_OK((*store)->commit_with("c2", 7, [](KvTxn& t) { return t.put("balances", "alice", "10"); }));
    Status failed = (*store)->commit_with("c2", 8, [](KvTxn& t) {
      Status p = t.put("balances", "alice", "999");
      return p.ok() ? Status::InvalidArgument("handler refused") : p;
    });
    CHECK(failed.code() == Code::kInvalidArgument);
    TXJ_REQUIRE_OK(j->close());
  }
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto store = test::RequireOk(OffsetStore::open(*j));
  CHECK(*(*store)->load("c1") == 42);
  CHECK(*(*store)->load("c2") == 7);
  auto v = test::RequireOk((*store)->get("balances", "alice"));
  CHECK(v->value_or("") == "10");
  Options ro = test::ReadOnlyOptions();
  auto r = test::RequireOk(Journal::open(dir.path(), ro));
  CHECK(OffsetStore::open(**r).status().code() == Code::kInvalidState);
}

TEST_CASE("a handler whose state lives in the catalog handles each event exactly once across crashes") {
  TempDir dir;
  const int kEvents = 3000;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    Fill(*j, kEvents);
    TXJ_REQUIRE_OK(j->close());
  }
  std::mt19937_64 rng(test::Seed());
  for (int cycle = 0; cycle < 12; ++cycle) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto j = Journal::open(dir.path(), test::SmallOptions());
      if (!j.ok()) ::_exit(3);
      auto store = OffsetStore::open(**j);
      if (!store.ok()) ::_exit(4);
      StoredOffsetHandler h(**store, "counter", [](const Event& e, KvTxn& t) {
        auto cur = t.get("counts", "total");
        if (!cur.ok()) return cur.status();
        std::uint64_t n = cur->has_value() ? std::stoull(**cur) : 0;
        Status s = t.put("counts", "total", std::to_string(n + 1));
        if (!s.ok()) return s;
        return t.put("seen", std::to_string(e.offset), "1");
      });
      std::stop_source stop;
      Consumer c(**j, h);
      (void)c.run(stop.get_token());
      ::_exit(0);
    }
    ::usleep(static_cast<useconds_t>(2000 + rng() % 20000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto store = test::RequireOk(OffsetStore::open(*j));
  StoredOffsetHandler h(**store, "counter", [](const Event&, KvTxn& t) {
    auto cur = t.get("counts", "total");
    if (!cur.ok()) return cur.status();
    std::uint64_t n = cur->has_value() ? std::stoull(**cur) : 0;
    return t.put("counts", "total", std::to_string(n + 1));
  });
  std::stop_source stop;
  std::thread finisher([&] {
    for (int i = 0; i < 500; ++i) {
      auto off = (*store)->load("counter");
      if (off.ok() && *off == static_cast<std::uint64_t>(kEvents)) break;
      std::this_thread::sleep_for(10ms);
    }
    stop.request_stop();
  });
  Consumer c(*j, h);
  CHECK(c.run(stop.get_token()).code() == Code::kCancelled);
  finisher.join();
  CHECK(*(*store)->load("counter") == static_cast<std::uint64_t>(kEvents));
  auto total = test::RequireOk((*store)->get("counts", "total"));
  CHECK(total->value_or("0") == std::to_string(kEvents));  // no event counted twice, none lost
}

TEST_CASE_FIXTURE(test::FreshJournal, "a publisher delivers every committed event at least once across restarts") {
  Fill(*j, 50);
  auto store = test::RequireOk(OffsetStore::open(*j));
  struct Recorder final : Sink {
    std::mutex mu;
    std::condition_variable cv;
    std::multiset<std::uint64_t> got;
    Status write(const EventPtr& e) override {
      std::lock_guard<std::mutex> lock(mu);
      got.insert(e->offset);
      cv.notify_all();
      return Status::OK();
    }
    Status close() override { return Status::OK(); }
    SinkMetrics metrics() const override { return {}; }
    bool WaitFor(std::uint64_t off) {
      std::unique_lock<std::mutex> lock(mu);
      return cv.wait_for(lock, 10s, [&] { return got.count(off) > 0; });
    }
  };
  auto rec = std::make_shared<Recorder>();
  for (int run = 0; run < 3; ++run) {
    Publisher p(*j, **store, "pub", rec);
    std::stop_source stop;
    std::thread t([&] { CHECK(p.run(stop.get_token()).code() == Code::kCancelled); });
    if (run == 1) Fill(*j, 25, "t", 50);
    if (run == 2) Fill(*j, 5, "t", 75);
    const bool arrived = rec->WaitFor(run == 0 ? 49 : run == 1 ? 74 : 79);
    stop.request_stop();
    t.join();
    REQUIRE(arrived);
  }
  std::lock_guard<std::mutex> lock(rec->mu);
  for (std::uint64_t off = 0; off < 80; ++off) CHECK(rec->got.count(off) >= 1);
  CHECK(*(*store)->load("pub") == 80);
}

TEST_CASE("a lost catalog that held consumer offsets is an error, never a silent restart from zero") {
  TempDir dir;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    Fill(*j, 5);
    auto store = test::RequireOk(OffsetStore::open(*j));
    TXJ_REQUIRE_OK((*store)->save("c", 3));
    TXJ_REQUIRE_OK(j->close());
  }
  std::filesystem::remove_all(dir.sub("catalog"));
  auto lost = Journal::open(dir.path(), test::SmallOptions());
  CHECK(lost.status().code() == Code::kCorruption);
  CHECK(lost.status().message().find("consumer offsets") != std::string::npos);
  Options o = test::SmallOptions();
  o.rebuild_catalog = true;
  auto j = test::OpenOrDie(dir.path(), o);
  CHECK(j->next_offset() == 5);  // the journal itself is intact
  auto store = test::RequireOk(OffsetStore::open(*j));
  CHECK(*(*store)->load("c") == 0);  // started over, as asked
}

TEST_CASE_FIXTURE(test::FreshJournal, "a cursor, consumer or publisher outliving its journal answers closed and touches nothing of it") {
  Fill(*j, 3);
  auto cur = test::RequireOk(j->open_cursor(0));
  auto first = cur->next();
  REQUIRE((first.ok() && first->has_value()));
  MemoryHandler handler;
  Consumer consumer(*j, handler);
  auto store = test::RequireOk(OffsetStore::open(*j));
  Publisher publisher(*j, **store, "pub", std::make_shared<Channel>(16));
  store->reset();  // an offset store must not outlive its journal (offset_store.h)
  j.reset();
  auto next = cur->next();
  REQUIRE(!next.ok());
  CHECK(next.status().code() == Code::kClosed);
  CHECK(next.status().message().find(dir.path()) != std::string::npos);
  auto waited = cur->wait_next(std::chrono::steady_clock::now() + 1s);
  REQUIRE(!waited.ok());
  CHECK(waited.status().code() == Code::kClosed);
  (void)cur->close();  // nothing to wake: must not touch the journal either
  std::stop_source stop;
  CHECK(consumer.run(stop.get_token()).code() == Code::kClosed);
  CHECK(handler.seen.empty());
  CHECK(publisher.run(stop.get_token()).code() == Code::kClosed);
}

TEST_CASE("an offset store answers closed once its journal is closed or destroyed, and saves nothing more") {
  TempDir dir;
  std::unique_ptr<OffsetStore> kept;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    auto store = test::RequireOk(OffsetStore::open(*j));
    TXJ_REQUIRE_OK((*store)->save("c", 7));
    TXJ_REQUIRE_OK(j->close());
    Status s = (*store)->save("c", 9);
    CHECK(s.code() == Code::kClosed);
    CHECK(s.message().find(dir.path()) != std::string::npos);
    CHECK((*store)->load("c").status().code() == Code::kClosed);
    CHECK((*store)->get("t", "k").status().code() == Code::kClosed);
    CHECK((*store)->commit_with("c", 9, [](KvTxn&) { return Status::OK(); }).code() == Code::kClosed);
    kept = std::move(*store);
  }
  // The journal and its catalog are gone: the store touches nothing.
  CHECK(kept->save("c", 11).code() == Code::kClosed);
  CHECK(kept->load("c").status().code() == Code::kClosed);
  kept.reset();
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto store = test::RequireOk(OffsetStore::open(*j));
  auto off = test::RequireOk((*store)->load("c"));
  CHECK(*off == 7);
}
