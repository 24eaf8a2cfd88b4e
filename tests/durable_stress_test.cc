// Durable (kCommit) journals written through the staging buffer: small and
// large transactions, rolls and rollbacks, read back before and after a
// reopen. (Written for a background zero-fill ahead of the writer, measured
// and removed: docs/performance.md; the stress stays.)
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ack_rule_fs.h"
#include "format.h"
#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

std::vector<std::string> ReadPayloads(Journal& j) {
  std::vector<std::string> out;
  for (auto& e : test::ReadAllEvents(j)) out.push_back(std::move(e.payload));
  return out;
}

// Follows, per segment file, which pages hold non-zero bytes that an
// fdatasync made durable, and counts every write that touches such a page
// again (a torn rewrite of it could destroy an acknowledged commit). The
// header page (segment header, watermark slot) is rewritten by design and
// left out. Also counts the pages written with zeros ahead of the writer and
// the writes that start on such a page.
class PageRuleFs final : public test::ForwardingFileSystem {
 public:
  int Open(const std::string& p, int f, mode_t m, int* fd) override {
    int e = base_->Open(p, f, m, fd);
    std::lock_guard<std::mutex> lock(mu_);
    if (e == 0) {
      paths_[*fd] = p;
      files_.erase(p);  // a new file under this name (segments are created once)
    }
    return e;
  }
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string& path = paths_[fd];
      if (path.size() > 4 && path.compare(path.size() - 4, 4, ".seg") == 0 && n > 0) {
        File& f = files_[path];
        const auto* b = static_cast<const unsigned char*>(d);
        const bool all_zero = std::all_of(b, b + n, [](unsigned char c) { return c == 0; });
        if (all_zero && n == kPage && o % kPage == 0) ++zero_pages_;
        if (!all_zero && f.zeroed.count(o / kPage)) ++writes_into_zeroed_;
        for (std::uint64_t page = o / kPage; page <= (o + n - 1) / kPage; ++page) {
          if (page == 0) continue;
          if (f.durable.count(page)) ++violations_;
          const std::uint64_t from = std::max(o, page * kPage), to = std::min(o + n, (page + 1) * kPage);
          if (std::any_of(b + (from - o), b + (to - o), [](unsigned char c) { return c != 0; })) {
            f.pending.insert(page);
          } else {
            f.zeroed.insert(page);
          }
        }
      }
    }
    return base_->PWrite(fd, d, n, o);
  }
  int DataSync(int fd) override {
    int e = base_->DataSync(fd);
    std::lock_guard<std::mutex> lock(mu_);
    if (e == 0 && files_.count(paths_[fd])) {
      File& f = files_[paths_[fd]];
      f.durable.insert(f.pending.begin(), f.pending.end());
      f.pending.clear();
    }
    return e;
  }
  int Rename(const std::string& f, const std::string& t) override {
    int e = base_->Rename(f, t);
    std::lock_guard<std::mutex> lock(mu_);
    if (e == 0) {
      if (auto it = files_.find(f); it != files_.end()) {
        files_[t] = std::move(it->second);
        files_.erase(f);
      }
      for (auto& [fd, p] : paths_) {
        if (p == f) p = t;
      }
    }
    return e;
  }

  std::uint64_t violations() { return test::ReadLocked(mu_, violations_); }
  std::uint64_t zero_pages() { return test::ReadLocked(mu_, zero_pages_); }
  std::uint64_t writes_into_zeroed() { return test::ReadLocked(mu_, writes_into_zeroed_); }

 private:
  static constexpr std::uint64_t kPage = 4096;
  struct File {
    std::set<std::uint64_t> durable, pending, zeroed;
  };
  std::mutex mu_;
  std::map<int, std::string> paths_;
  std::map<std::string, File> files_;
  std::uint64_t violations_ = 0, zero_pages_ = 0, writes_into_zeroed_ = 0;
};

}  // namespace

TEST_CASE("durable commits never write again into a page that an earlier sync made durable with data") {
  // One-event commits (zeros are written ahead of them so that the next
  // commits overwrite written blocks), larger ones (none), rollbacks and
  // segment rolls.
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  auto fs = std::make_shared<PageRuleFs>();
  Options o = test::SmallOptions(Durability::kCommit);
  o.segment_size = 1ull << 20;
  o.file_system = fs;
  std::uint64_t commits = 0;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    for (int t = 0; t < 400; ++t) {
      auto tx = test::RequireOk(j->begin());
      const int events = rng() % 8 == 0 ? 40 : 1;
      for (int e = 0; e < events; ++e) {
        TXJ_REQUIRE_OK(tx->append("t", "x", std::string(1 + rng() % (rng() % 10 == 0 ? 9000 : 300), 'p')));
      }
      if (rng() % 10 == 0) {
        TXJ_REQUIRE_OK(tx->rollback());
      } else {
        TXJ_REQUIRE_OK(tx->commit());
        ++commits;
      }
    }
    TXJ_CHECK_OK(j->close());
  }
  CHECK(fs->violations() == 0);
  MESSAGE("zero pages written ahead: ", fs->zero_pages(), "; writes that began in one: ", fs->writes_into_zeroed(),
          "; commits: ", commits);
  CHECK(fs->zero_pages() > 0);
  // Most small commits land in pages written with zeros beforehand.
  CHECK(fs->writes_into_zeroed() > commits / 2);
}

TEST_CASE("concurrent durable commits share pages between syncs, and none writes into a page holding an acknowledged commit") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  TempDir dir;
  auto fs = std::make_shared<test::AckRuleFs>();
  Options o = test::SmallOptions(Durability::kCommit);
  o.segment_size = 256 << 10;  // rolls on the way
  o.file_system = fs;
  constexpr int kThreads = 6, kPerThread = 60;
  std::mutex mu;
  std::map<std::string, std::uint64_t> acked;  // payload -> offset
  std::set<std::uint64_t> commit_pages;
  std::vector<std::string> errors;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(seed + t);
        for (int i = 0; i < kPerThread; ++i) {
          auto tx = j->begin();
          const std::string payload = "t" + std::to_string(t) + "-" + std::to_string(i) + std::string(rng() % 400, 'p');
          Status s = tx.ok() ? tx->append("t", "x", payload) : tx.status();
          if (s.ok() && rng() % 8 == 0) {
            s = tx->rollback();
            std::lock_guard<std::mutex> lock(mu);
            if (!s.ok()) errors.push_back(s.ToString());
            continue;
          }
          auto info = s.ok() ? tx->commit() : Result<CommitInfo>(s);
          std::lock_guard<std::mutex> lock(mu);
          if (!info.ok()) {
            errors.push_back(info.status().ToString());
            continue;
          }
          std::uint64_t a = fs->acked.load();
          while (info->lsn > a && !fs->acked.compare_exchange_weak(a, info->lsn)) {
          }
          acked[payload] = info->first_offset;
          commit_pages.insert((info->lsn - 1) / 4096);
        }
      });
    }
    for (auto& th : threads) th.join();
    TXJ_CHECK_OK(j->close());
  }
  INFO("errors: ", errors.size(), errors.empty() ? "" : " first: " + errors.front());
  REQUIRE(errors.empty());
  CHECK(fs->violations() == 0);
  MESSAGE(acked.size(), " commits from ", kThreads, " threads ended in ", commit_pages.size(), " pages; ",
          fs->writes(), " segment writes");
  // Every acknowledged commit is there after reopening, with its offset.
  auto j = test::OpenOrDie(dir.path(), o);
  const auto events = test::ReadAllEvents(*j);
  REQUIRE(events.size() == acked.size());
  for (const auto& e : events) {
    auto it = acked.find(e.payload);
    REQUIRE(it != acked.end());
    CHECK(it->second == e.offset);
  }
}

TEST_CASE("durable commits of every size keep every byte, across segment rolls and a reopen") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  Options o;
  o.durability = Durability::kCommit;
  o.segment_size = 1ull << 20;  // rolls every few transactions
  std::vector<std::string> expected;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    for (int t = 0; t < 120; ++t) {
      auto tx = test::RequireOk(j->begin());
      // From one small event to ~300 KiB (more than the staging buffer
      // holds at times), with rolls every few transactions.
      const int events = std::uniform_int_distribution<int>(1, 6)(rng);
      std::vector<std::string> mine;
      for (int e = 0; e < events; ++e) {
        const std::size_t size = rng() % 4 == 0 ? std::uniform_int_distribution<std::size_t>(1, 60000)(rng)
                                                : std::uniform_int_distribution<std::size_t>(1, 300)(rng);
        std::string p(size, '\0');
        for (auto& ch : p) ch = static_cast<char>('a' + rng() % 26);
        TXJ_REQUIRE_OK(tx->append("t", "x", p));
        mine.push_back(std::move(p));
      }
      if (rng() % 5 == 0) {
        TXJ_REQUIRE_OK(tx->rollback());
      } else {
        TXJ_REQUIRE_OK(tx->commit());
        expected.insert(expected.end(), mine.begin(), mine.end());
      }
    }
    const auto got = ReadPayloads(*j);
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("event ", i);
      CHECK(got[i] == expected[i]);
    }
    TXJ_CHECK_OK(j->close());
  }
  auto j = test::OpenOrDie(dir.path(), o);
  const auto got = ReadPayloads(*j);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("event ", i, " after reopening");
    CHECK(got[i] == expected[i]);
  }
}

namespace {

// Holds the first fdatasync made by a thread marked `gated` until the test
// lets it go, and tells the test when a thread marked `watched` has begun
// one: the test orders a group commit's sync and another transaction's
// writes as it wants.
thread_local bool gated = false, watched = false;

class SyncGateFs final : public test::ForwardingFileSystem {
 public:
  int DataSync(int fd) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (gated && !held_) {
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return open_; });
      }
      if (watched) {
        watched_began_ = true;
        cv_.notify_all();
      }
    }
    return base_->DataSync(fd);
  }
  void WaitHeld() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return held_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitWatchedBegan() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return watched_began_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, open_ = false, watched_began_ = false;
};

// Offsets in its segment file of the records of transaction `txn_id` that begin a page flagged as
// following a gap, read from the segment files in `dir`.
std::vector<std::uint64_t> RecordsAfterGaps(const std::string& dir, std::uint64_t txn_id, RecordType type) {
  std::vector<std::uint64_t> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".seg") continue;
    const std::string bytes = test::ReadFile(f.path().string());
    for (std::size_t at = format::kPageSize; at + sizeof(format::RecordHeader) <= bytes.size();
         at += format::kPageSize) {
      format::RecordHeader h;
      std::memcpy(&h, bytes.data() + at, sizeof h);
      if (h.txn_id == txn_id && h.type == static_cast<std::uint8_t>(type) && (h.flags & format::kFlagFollowsGap)) {
        out.push_back(at);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "a sync that begins while a large durable transaction is half written leaves a gap inside it, and every event "
    "reads back") {
  // Transaction 1 commits and its sync is held; transaction 2 commits and
  // waits for that sync; transaction 3 writes its first megabyte. Once the
  // held sync ends, transaction 2's sync begins with part of transaction 3
  // in the file: the rest of transaction 3 must start past that page, its
  // first record there flagged, its hash and events intact.
  TempDir dir;
  auto fs = std::make_shared<SyncGateFs>();
  Options o = test::SmallOptions(Durability::kCommit);
  o.segment_size = 8ull << 20;
  o.file_system = fs;
  std::vector<std::string> expected;
  std::uint64_t txn3 = 0;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    Status first, second;
    std::thread a([&] {
      gated = true;
      auto tx = j->begin();
      first = tx.ok() ? tx->append("t", "one", "first") : tx.status();
      if (first.ok()) first = tx->commit().status();
    });
    fs->WaitHeld();
    std::atomic<bool> b_began{false};
    std::thread b([&] {
      watched = true;
      auto tx = j->begin();
      b_began = true;
      second = tx.ok() ? tx->append("t", "two", "second") : tx.status();
      if (second.ok()) second = tx->commit().status();
    });
    expected = {"first", "second"};
    // Begins once transaction 2 has (so when its commit left the slot),
    // then fills more than the stage holds: a write of the stage inside
    // transaction 3.
    while (!b_began) std::this_thread::yield();
    auto tx = test::RequireOk(j->begin());
    txn3 = tx->id();
    std::mt19937_64 rng(test::Seed());
    auto event = [&] {
      std::string p(50001, '\0');
      for (auto& ch : p) ch = static_cast<char>('a' + rng() % 26);
      TXJ_REQUIRE_OK(tx->append("t", "three", p));
      expected.push_back(std::move(p));
    };
    while (expected.size() < 2 + 24) event();  // 1.2 MB: one write of the stage
    fs->Open();
    fs->WaitWatchedBegan();  // transaction 2's sync froze what is written
    event();
    {
      // A claim cancelled: a padding whose hashed bytes (its first 48) do
      // not reach the next record, staged before the move past the gap.
      auto claim = test::RequireOk(tx->claim("t", "claimed", 3000));
      claim->cancel();
    }
    while (expected.size() < 2 + 40) event();
    TXJ_REQUIRE_OK(tx->commit());
    a.join();
    b.join();
    TXJ_REQUIRE_OK(first);
    TXJ_REQUIRE_OK(second);
    const auto got = ReadPayloads(*j);
    CHECK(got == expected);
    TXJ_CHECK_OK(j->close());
  }
  // The gap is inside transaction 3: an event (not its begin marker) starts
  // a page flagged as following a gap.
  CHECK(RecordsAfterGaps(dir.path(), txn3, RecordType::kEvent).size() == 1);
  auto j = test::OpenOrDie(dir.path(), o);
  CHECK(j->recovery_report().repairs.empty());
  CHECK(ReadPayloads(*j) == expected);
}
