// The library's one hex helper (lib/util/hex.h), which replaced the copies in
// the manifest, compactor, eventbox and replication code, and TimeoutSink's
// single worker thread.
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "hex.h"
#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/sink.h"
#include "txjournal/sinks.h"

using namespace txj;
using namespace std::chrono_literals;

TEST_CASE("hex helper encodes bytes high nibble first and decodes only lowercase pairs") {
  const std::string bytes("\x00\x01\x7f\x80\xab\xff", 6);
  CHECK(internal::HexEncode(bytes) == "00017f80abff");
  CHECK(internal::HexU64(0x0123456789abcdefULL) == "0123456789abcdef");
  CHECK(internal::HexU64(0) == "0000000000000000");
  std::string back;
  REQUIRE(internal::HexDecode("00017f80abff", &back));
  CHECK(back == bytes);
  CHECK_FALSE(internal::HexDecode("abc", &back));  // odd length
  CHECK_FALSE(internal::HexDecode("AB", &back));   // uppercase is not what the library writes
  CHECK_FALSE(internal::HexDecode("0g", &back));
  // The state hash is the 128-bit hash as 32 digits, high half first.
  CHECK(StateHash("").size() == 32);
  CHECK(StateHash("x").find_first_not_of("0123456789abcdef") == std::string::npos);
}

namespace {

// Records, for each write, how many writes the calling thread had made
// before (a thread-local count: a new thread starts again at zero, even if
// it reuses an earlier thread's id).
class CountingSink final : public Sink {
 public:
  Status write(const EventPtr&) override {
    thread_local int writes_on_this_thread = 0;
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(++writes_on_this_thread);
    ids_.push_back(std::this_thread::get_id());
    return Status::OK();
  }
  Status close() override { return Status::OK(); }
  SinkMetrics metrics() const override { return {}; }
  std::vector<int> seen() const { return test::ReadLocked(mu_, seen_); }
  std::vector<std::thread::id> ids() const { return test::ReadLocked(mu_, ids_); }

 private:
  mutable std::mutex mu_;
  std::vector<int> seen_;
  std::vector<std::thread::id> ids_;
};

}  // namespace

TEST_CASE("a timeout sink runs its writes on one worker thread, not a thread per write") {
  auto dest = std::make_shared<CountingSink>();
  {
    TimeoutSink t(dest, 30s);
    for (std::uint64_t i = 0; i < 5; ++i) {
      auto e = std::make_shared<OwnedEvent>();
      e->offset = i;
      TXJ_CHECK_OK(t.write(e));
    }
    CHECK(t.metrics().written == 5);
    TXJ_CHECK_OK(t.close());
  }
  CHECK(dest->seen() == std::vector<int>{1, 2, 3, 4, 5});
  for (const auto& id : dest->ids()) CHECK(id != std::this_thread::get_id());
}

TEST_CASE("a timeout sink destroyed while a write is still running lets that write finish") {
  class SlowSink final : public Sink {
   public:
    Status write(const EventPtr&) override {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return released; });
      done = true;
      cv.notify_all();
      return Status::OK();
    }
    Status close() override { return Status::OK(); }
    SinkMetrics metrics() const override { return {}; }
    std::mutex mu;
    std::condition_variable cv;
    bool released = false, done = false;
  };
  auto dest = std::make_shared<SlowSink>();
  {
    TimeoutSink t(dest, 1ms);
    CHECK(t.write(std::make_shared<OwnedEvent>()).code() == Code::kTimedOut);
  }  // destroyed with the write in flight
  {
    std::lock_guard<std::mutex> lock(dest->mu);
    dest->released = true;
    dest->cv.notify_all();
  }
  std::unique_lock<std::mutex> lock(dest->mu);
  CHECK(dest->cv.wait_for(lock, 60s, [&] { return dest->done; }));  // a hang guard, not a timing assertion
}
