// Cursors over the committed view: blocking waits and their ends, filters,
// positions, readers in other processes, and what is never returned.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stop_token>
#include <string>
#include <random>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

void Commit(Journal& j, const std::vector<std::pair<std::string, std::string>>& topic_payloads,
            const std::string& type = "x") {
  auto tx = j.begin();
  REQUIRE(tx.ok());
  for (const auto& [topic, payload] : topic_payloads) REQUIRE(tx->append(topic, type, payload).ok());
  REQUIRE(tx->commit().ok());
}

void Commit(Journal& j, const std::string& payload) { Commit(j, {{"t", payload}}); }

std::vector<std::string> Drain(Cursor& c) {
  std::vector<std::string> out;
  for (;;) {
    auto e = c.next();
    INFO((e.ok() ? std::string("ok") : e.status().ToString()));
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    out.emplace_back((**e).payload);
  }
  return out;
}

}  // namespace

TEST_CASE("wait_next wakes when another thread commits") {
  for (Durability d : {Durability::kNone, Durability::kCommit, Durability::kPeriodic}) {
    INFO("durability ", static_cast<int>(d));
    TempDir dir;
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    auto c = test::RequireOk(j->open_cursor(0));
    Clock::time_point committed_at{};
    std::thread writer([&] {
      std::this_thread::sleep_for(30ms);
      committed_at = Clock::now();
      Commit(*j, "hello");
    });
    auto e = c->wait_next(Clock::now() + 20s);
    const auto woke = Clock::now();
    writer.join();
    TXJ_REQUIRE_OK(e);
    CHECK(e->payload == "hello");
    CHECK(e->offset == 0);
    CHECK(woke - committed_at < 2s);
    CHECK(c->position() == 1);
    // And again, for an event in a later transaction.
    std::thread writer2([&] {
      std::this_thread::sleep_for(10ms);
      Commit(*j, "again");
    });
    auto e2 = c->wait_next(Clock::now() + 20s);
    writer2.join();
    TXJ_REQUIRE_OK(e2);
    CHECK(e2->payload == "again");
    CHECK(e2->offset == 1);
  }
}

TEST_CASE_FIXTURE(test::FreshJournal, "wait_next returns at once when a matching event is already committed") {
  Commit(*j, "ready");
  auto c = test::RequireOk(j->open_cursor(0));
  auto e = c->wait_next(Clock::now());  // a deadline that has passed already
  TXJ_REQUIRE_OK(e);
  CHECK(e->payload == "ready");
}

TEST_CASE_FIXTURE(test::FreshJournal, "wait_next times out at its deadline") {
  Commit(*j, "one");
  auto c = test::RequireOk(j->open_cursor(1));
  const auto t0 = Clock::now();
  auto e = c->wait_next(t0 + 60ms);
  const auto waited = Clock::now() - t0;
  CHECK(e.status().code() == Code::kTimedOut);
  CHECK(waited >= 55ms);
  CHECK(waited < 5s);
  // The cursor is still usable.
  Commit(*j, "two");
  auto e2 = test::RequireOk(c->wait_next(Clock::now() + 5s));
  CHECK(e2->payload == "two");
}

TEST_CASE_FIXTURE(test::FreshJournal, "wait_next is cancelled by a stop request, before or during the wait") {
  auto c = test::RequireOk(j->open_cursor(0));
  {
    std::stop_source stopped;
    stopped.request_stop();
    CHECK(c->wait_next(Clock::now() + 10s, stopped.get_token()).status().code() == Code::kCancelled);
  }
  std::stop_source src;
  std::thread stopper([&] {
    std::this_thread::sleep_for(40ms);
    src.request_stop();
  });
  const auto t0 = Clock::now();
  auto e = c->wait_next(Clock::now() + 30s, src.get_token());
  stopper.join();
  CHECK(e.status().code() == Code::kCancelled);
  CHECK(Clock::now() - t0 < 5s);
  Commit(*j, "after");
  auto e2 = test::RequireOk(c->wait_next(Clock::now() + 5s));
  CHECK(e2->payload == "after");
}

TEST_CASE_FIXTURE(test::FreshJournal, "closing a cursor from another thread wakes its wait with closed") {
  auto c = test::RequireOk(j->open_cursor(0));
  Status close_status;
  std::thread closer([&] {
    std::this_thread::sleep_for(40ms);
    close_status = c->close();
  });
  const auto t0 = Clock::now();
  auto e = c->wait_next(Clock::now() + 30s);
  closer.join();
  CHECK(e.status().code() == Code::kClosed);
  CHECK(Clock::now() - t0 < 5s);
  TXJ_CHECK_OK(close_status);
  // next() and wait_next() after close, and a second close.
  Commit(*j, "late");
  CHECK(c->next().status().code() == Code::kClosed);
  CHECK(c->wait_next(Clock::now() + 1s).status().code() == Code::kClosed);
  CHECK(c->close().code() == Code::kClosed);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a closed cursor returns closed; an empty cursor handle too") {
  Commit(*j, "a");
  auto c = test::RequireOk(j->open_cursor(0));
  TXJ_CHECK_OK(c->close());
  CHECK(c->next().status().code() == Code::kClosed);
  CHECK(c->close().code() == Code::kClosed);
  Cursor empty;
  CHECK(empty.next().status().code() == Code::kClosed);
  CHECK(empty.wait_next(Clock::now()).status().code() == Code::kClosed);
  CHECK(empty.close().code() == Code::kClosed);
  // A moved-from cursor is empty; the moved-to one works.
  auto c2 = test::RequireOk(j->open_cursor(0));
  Cursor moved = std::move(c2).value();
  auto e = test::RequireOk(moved.next());
  REQUIRE(e->has_value());
  CHECK((**e).payload == "a");
  // A journal that is closed refuses new cursors.
  TXJ_REQUIRE_OK(j->close());
  CHECK(j->open_cursor(0).status().code() == Code::kClosed);
}

TEST_CASE_FIXTURE(test::FreshJournal, "filtered-out events advance the cursor position") {
  Commit(*j, {{"a", "a0"}, {"b", "b0"}, {"b", "b1"}, {"a", "a1"}});
  Commit(*j, {{"b", "b2"}, {"b", "b3"}});
  auto c = test::RequireOk(j->open_cursor(0, Filter::for_topics({"a"})));
  CHECK(c->position() == 0);
  auto e = test::RequireOk(c->next());
  REQUIRE(e->has_value());
  CHECK((**e).offset == 0);
  CHECK(c->position() == 1);
  e = c->next();
  TXJ_REQUIRE_OK(e);
  REQUIRE(e->has_value());
  CHECK((**e).offset == 3);
  CHECK((**e).payload == "a1");
  CHECK(c->position() == 4);
  e = c->next();
  TXJ_REQUIRE_OK(e);
  CHECK_FALSE(e->has_value());
  CHECK(c->position() == 6);  // the b events of the second transaction were passed
  // A later matching event comes with its own offset.
  Commit(*j, {{"b", "b4"}, {"a", "a2"}});
  e = c->next();
  TXJ_REQUIRE_OK(e);
  REQUIRE(e->has_value());
  CHECK((**e).offset == 7);
  CHECK(c->position() == 8);
  // wait_next skips non-matching commits while waiting.
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    Commit(*j, {{"b", "b5"}});
    std::this_thread::sleep_for(20ms);
    Commit(*j, {{"b", "b6"}, {"a", "a3"}});
  });
  auto w = c->wait_next(Clock::now() + 20s);
  writer.join();
  TXJ_REQUIRE_OK(w);
  CHECK(w->payload == "a3");
  CHECK(w->offset == 10);
}

TEST_CASE_FIXTURE(test::FreshJournal, "filters by topic, by type, and by both") {
  Commit(*j, {{"orders", "o1"}, {"stock", "s1"}}, "created");
  Commit(*j, {{"orders", "o2"}, {"billing", "b1"}}, "deleted");
  Commit(*j, {{"orders", "o3"}, {"stock", "s2"}}, "");
  auto read = [&](const Filter& f) {
    auto c = j->open_cursor(0, f);
    REQUIRE(c.ok());
    return Drain(*c);
  };
  CHECK(read(Filter::all()) == std::vector<std::string>{"o1", "s1", "o2", "b1", "o3", "s2"});
  CHECK(read(Filter::for_topics({"stock", "billing"})) == std::vector<std::string>{"s1", "b1", "s2"});
  CHECK(read(Filter::for_topics({"none"})).empty());
  Filter types;
  types.types = {"deleted", ""};
  CHECK(read(types) == std::vector<std::string>{"o2", "b1", "o3", "s2"});
  Filter both;
  both.topics = {"orders"};
  both.types = {"created", "deleted"};
  CHECK(read(both) == std::vector<std::string>{"o1", "o2"});
}

TEST_CASE_FIXTURE(test::FreshJournal, "an empty filter is an invalid argument") {
  CHECK(j->open_cursor(0, Filter{}).status().code() == Code::kInvalidArgument);
  Filter f;
  f.match_all = false;
  CHECK(j->open_cursor(5, f).status().code() == Code::kInvalidArgument);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a cursor reopened at the last offset plus one never returns the last offset again") {
  std::mt19937_64 rng(test::Seed());
  std::uint64_t total = 0;
  for (int t = 0; t < 40; ++t) {
    auto tx = test::RequireOk(j->begin());
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      TXJ_REQUIRE_OK(tx->append(i % 2 ? "odd" : "even", "x", std::string(rng() % 4000, 'p')));
    }
    TXJ_REQUIRE_OK(tx->commit());
    total += static_cast<std::uint64_t>(n);
  }
  for (const Filter& f : {Filter::all(), Filter::for_topics({"odd"})}) {
    // Read one event at a time, reopening after each at last + 1.
    std::uint64_t next = 0, seen = 0;
    std::int64_t last = -1;
    for (;;) {
      auto c = test::RequireOk(j->open_cursor(next, f));
      auto e = test::RequireOk(c->next());
      if (!e->has_value()) break;
      CHECK(static_cast<std::int64_t>((**e).offset) > last);
      CHECK((**e).offset >= next);
      last = static_cast<std::int64_t>((**e).offset);
      next = (**e).offset + 1;
      ++seen;
    }
    if (f.match_all) CHECK(seen == total);
  }
  // Positioned past the end: nothing now, the next commit later.
  auto c = test::RequireOk(j->open_cursor(total + 1));
  auto e = test::RequireOk(c->next());
  CHECK_FALSE(e->has_value());
  Commit(*j, {{"t", "at total"}, {"t", "at total+1"}});
  e = c->next();
  TXJ_REQUIRE_OK(e);
  REQUIRE(e->has_value());
  CHECK((**e).offset == total + 1);
  CHECK((**e).payload == "at total+1");
}

TEST_CASE("uncommitted and rolled-back events are never returned, even while a transaction is in progress") {
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    TempDir dir;
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    Commit(*j, "before");
    auto c = test::RequireOk(j->open_cursor(0));
    CHECK(Drain(*c) == std::vector<std::string>{"before"});
    {
      auto tx = test::RequireOk(j->begin());
      TXJ_REQUIRE_OK(tx->append("t", "x", "pending"));
      test::CommitOne(*tx, "t", "x", "pending-sub");
      // Enough to spill into later segments.
      for (int i = 0; i < 100; ++i) TXJ_REQUIRE_OK(tx->append("t", "x", std::string(2000, 'q')));
      CHECK(Drain(*c).empty());
      auto other = test::RequireOk(j->open_cursor(0));
      CHECK(Drain(*other) == std::vector<std::string>{"before"});
      CHECK(c->wait_next(Clock::now() + 20ms).status().code() == Code::kTimedOut);
      TXJ_REQUIRE_OK(tx->rollback());
    }
    CHECK(Drain(*c).empty());
    {
      auto tx = test::RequireOk(j->begin());
      auto sub = test::RequireOk(tx->begin());
      TXJ_REQUIRE_OK(sub->append("t", "x", "rolled-back-sub"));
      TXJ_REQUIRE_OK(sub->rollback());
      TXJ_REQUIRE_OK(tx->append("t", "x", "kept"));
      CHECK(Drain(*c).empty());
      TXJ_REQUIRE_OK(tx->commit());
    }
    CHECK(Drain(*c) == std::vector<std::string>{"kept"});
    CHECK(j->next_offset() == 2);
  }
}

TEST_CASE_FIXTURE(test::FreshJournal, "a reader thread following a writer sees every committed event once, in order, never a partial transaction") {
  constexpr int kTxns = 300;
  std::atomic<bool> bad{false};
  std::string why;
  std::thread reader([&] {
    auto c = j->open_cursor(0);
    if (!c.ok()) {
      bad = true;
      return;
    }
    std::uint64_t expect = 0;
    std::uint64_t current_txn = 0, in_txn = 0, want_in_txn = 0;
    while (expect < static_cast<std::uint64_t>(kTxns) * 3) {
      auto e = c->wait_next(Clock::now() + 20s);
      if (!e.ok()) {
        bad = true;
        why = e.status().ToString();
        return;
      }
      if (e->offset != expect) {
        bad = true;
        why = "offset " + std::to_string(e->offset) + ", expected " + std::to_string(expect);
        return;
      }
      ++expect;
      if (e->txn_id != current_txn) {
        // A transaction's events arrive together: the previous one was whole.
        if (in_txn != want_in_txn) {
          bad = true;
          why = "partial transaction " + std::to_string(current_txn);
          return;
        }
        current_txn = e->txn_id;
        in_txn = 0;
        want_in_txn = std::stoull(std::string(e->type));
      }
      ++in_txn;
    }
  });
  for (int t = 0; t < kTxns; ++t) {
    auto tx = test::RequireOk(j->begin());
    // Three surviving events (type says how many), plus a rolled-back sub.
    TXJ_REQUIRE_OK(tx->append("t", "3", std::string(static_cast<std::size_t>(t * 37 % 3000), 'a')));
    test::CommitOne(*tx, "t", "3", "sub");
    auto dead = test::RequireOk(tx->begin());
    TXJ_REQUIRE_OK(dead->append("t", "99", "dead"));
    TXJ_REQUIRE_OK(dead->rollback());
    TXJ_REQUIRE_OK(tx->append("t", "3", "last"));
    TXJ_REQUIRE_OK(tx->commit());
  }
  reader.join();
  INFO(why);
  CHECK_FALSE(bad.load());
}

TEST_CASE("a reader in another process sees commits promptly") {
  TempDir dir;
  { auto j = test::OpenOrDie(dir.path(), test::SmallOptions()); }  // created, closed
  int from_child[2];
  REQUIRE(::pipe(from_child) == 0);
  constexpr int kEvents = 20;
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The reader: opens read-only before the writer, waits for each event
    // and reports its offset and payload length.
    ::close(from_child[0]);
    Options o = test::ReadOnlyOptions();
    auto j = Journal::open(dir.path(), o);
    if (!j.ok()) ::_exit(3);
    auto c = (*j)->open_cursor(0);
    if (!c.ok()) ::_exit(4);
    char ready = 'r';
    if (::write(from_child[1], &ready, 1) != 1) ::_exit(5);
    for (int i = 0; i < kEvents; ++i) {
      auto e = c->wait_next(Clock::now() + 30s);
      if (!e.ok()) ::_exit(6);
      std::uint64_t msg[2] = {e->offset, e->payload.size()};
      if (::write(from_child[1], msg, sizeof msg) != static_cast<ssize_t>(sizeof msg)) ::_exit(7);
    }
    ::_exit(0);
  }
  ::close(from_child[1]);
  char ready = 0;
  REQUIRE(::read(from_child[0], &ready, 1) == 1);
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  std::vector<double> latency_ms;
  bool in_order = true;
  for (int i = 0; i < kEvents; ++i) {
    // Some events are big enough to move the writer to new segments the
    // reader has not mapped yet.
    const std::size_t size = (i % 4 == 3) ? 40000 : static_cast<std::size_t>(i);
    const auto t0 = Clock::now();
    Commit(*j, std::string(size, 'e'));
    std::uint64_t msg[2];
    std::size_t got = 0;
    while (got < sizeof msg) {
      ssize_t n = ::read(from_child[0], reinterpret_cast<char*>(msg) + got, sizeof msg - got);
      REQUIRE(n > 0);
      got += static_cast<std::size_t>(n);
    }
    latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (msg[0] != static_cast<std::uint64_t>(i) || msg[1] != size) in_order = false;
    std::this_thread::sleep_for(std::chrono::milliseconds(i % 3));
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ::close(from_child[0]);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(in_order);
  std::sort(latency_ms.begin(), latency_ms.end());
  INFO("median latency ", latency_ms[latency_ms.size() / 2], " ms, worst ", latency_ms.back(), " ms");
  CHECK(latency_ms[latency_ms.size() / 2] < 500.0);
  CHECK(latency_ms.back() < 3000.0);
}

TEST_CASE("a read-only journal's cursor in the same process follows the writer") {
  TempDir dir;
  auto w = test::OpenOrDie(dir.path(), test::SmallOptions());
  Commit(*w, "first");
  Options o = test::ReadOnlyOptions();
  auto r = test::OpenOrDie(dir.path(), o);
  auto c = test::RequireOk(r->open_cursor(0));
  auto e = test::RequireOk(c->wait_next(Clock::now() + 5s));
  CHECK(e->payload == "first");
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    Commit(*w, "second");
  });
  auto e2 = c->wait_next(Clock::now() + 20s);
  writer.join();
  TXJ_REQUIRE_OK(e2);
  CHECK(e2->payload == "second");
}

TEST_CASE("closing the journal wakes a cursor waiting at the end with closed") {
  for (bool read_only : {false, true}) {
    INFO("read-only journal: ", read_only);
    TempDir dir;
    auto w = test::OpenOrDie(dir.path(), test::SmallOptions());
    Commit(*w, "one");
    std::unique_ptr<Journal> ro;
    if (read_only) {
      Options o = test::ReadOnlyOptions();
      ro = test::OpenOrDie(dir.path(), o);
    }
    Journal& j = read_only ? *ro : *w;
    auto c = test::RequireOk(j.open_cursor(0));
    auto first = test::RequireOk(c->next());
    REQUIRE(first->has_value());
    Result<Event> got = Status::Cancelled("not run");
    const auto t0 = Clock::now();
    std::thread waiter([&] { got = c->wait_next(Clock::now() + 10s); });
    std::this_thread::sleep_for(40ms);
    TXJ_CHECK_OK(j.close());
    waiter.join();
    INFO(got.status().ToString());
    CHECK(got.status().code() == Code::kClosed);
    CHECK(Clock::now() - t0 < 5s);
  }
}

TEST_CASE("a waiting cursor gets the commits made before the journal closed, then closed") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  auto c = test::RequireOk(j->open_cursor(0));
  std::vector<std::string> got;
  Status end;
  std::thread reader([&] {
    for (;;) {
      auto e = c->wait_next(Clock::now() + 20s);
      if (!e.ok()) {
        end = e.status();
        return;
      }
      got.emplace_back(e->payload);
    }
  });
  for (int i = 0; i < 50; ++i) Commit(*j, std::to_string(i));
  TXJ_CHECK_OK(j->close());
  reader.join();
  CHECK(end.code() == Code::kClosed);
  REQUIRE(got.size() == 50);
  for (int i = 0; i < 50; ++i) CHECK(got[static_cast<std::size_t>(i)] == std::to_string(i));
}

TEST_CASE("a reader that may only read the head page polls, and closing its cursors does not write the page") {
  TempDir dir;
  {
    auto w = test::OpenOrDie(dir.path(), test::SmallOptions());
    Commit(*w, "one");
  }
  // Make DIR/HEAD unwritable for the reader: immutable as root, read-only
  // permissions otherwise.
  const std::string head = dir.sub("HEAD");
  bool immutable = false;
  if (::geteuid() == 0) {
    int fd = ::open(head.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
      flags |= FS_IMMUTABLE_FL;
      immutable = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    ::close(fd);
    if (!immutable) {
      MESSAGE("cannot make HEAD immutable here; skipped");
      return;
    }
  } else {
    REQUIRE(::chmod(head.c_str(), 0400) == 0);
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Options o = test::ReadOnlyOptions();
    auto j = Journal::open(dir.path(), o);
    if (!j.ok()) ::_exit(3);
    auto c = (*j)->open_cursor(0);
    if (!c.ok()) ::_exit(4);
    auto e = c->wait_next(Clock::now() + 5s);
    if (!e.ok() || e->payload != "one") ::_exit(5);
    if (c->wait_next(Clock::now() + 30ms).status().code() != Code::kTimedOut) ::_exit(6);
    if (!c->close().ok()) ::_exit(7);
    if (c->close().code() != Code::kClosed) ::_exit(8);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (immutable) {
    int fd = ::open(head.c_str(), O_RDONLY);
    int flags = 0;
    if (fd >= 0 && ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
      flags &= ~FS_IMMUTABLE_FL;
      (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    if (fd >= 0) ::close(fd);
  }
  INFO("reader status ", status);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("a transaction of more than a million events, past what a cursor remembers, reads back whole") {
  TempDir dir;
  Options o = test::SmallOptions();
  o.segment_size = 8 << 20;
  auto j = test::OpenOrDie(dir.path(), o);
  Commit(*j, "before");
  constexpr std::uint64_t kEvents = (1u << 20) + 50000;
  auto tx = test::RequireOk(j->begin());
  std::uint64_t appended = 0;
  std::vector<std::uint64_t> survivors_at;  // index -> value of every 100000th survivor
  for (std::uint64_t i = 0; appended < kEvents; ++i) {
    if (i % 100000 == 99999) {
      // A committed sub-transaction with a rolled-back one inside it.
      auto sub = test::RequireOk(tx->begin());
      TXJ_REQUIRE_OK(sub->append("t", "s", std::to_string(appended)));
      ++appended;
      auto dead = test::RequireOk(sub->begin());
      for (int k = 0; k < 10; ++k) TXJ_REQUIRE_OK(dead->append("t", "dead", "x"));
      TXJ_REQUIRE_OK(dead->rollback());
      TXJ_REQUIRE_OK(sub->commit());
      continue;
    }
    TXJ_REQUIRE_OK(tx->append("t", "", std::to_string(appended)));
    ++appended;
  }
  auto info = test::RequireOk(tx->commit());
  CHECK(info->first_offset == 1);
  CHECK(info->count == kEvents);
  Commit(*j, "after");
  auto check_from = [&](std::uint64_t from) {
    auto c = j->open_cursor(from);
    REQUIRE(c.ok());
    std::uint64_t expect = from, bad = 0;
    for (;;) {
      auto e = c->next();
      REQUIRE(e.ok());
      if (!e->has_value()) break;
      const Event& ev = **e;
      if (ev.offset != expect) ++bad;
      if (ev.offset == 0) {
        if (ev.payload != "before") ++bad;
      } else if (ev.offset == kEvents + 1) {
        if (ev.payload != "after") ++bad;
      } else if (ev.payload != std::to_string(ev.offset - 1) || ev.type == "dead") {
        ++bad;
      }
      ++expect;
    }
    CHECK(bad == 0);
    CHECK(expect == kEvents + 2);
  };
  check_from(0);
  check_from(kEvents - 10);
  // Filtered: only the events of the sub-transactions.
  Filter subs;
  subs.types = {"s"};
  auto c = test::RequireOk(j->open_cursor(0, subs));
  std::uint64_t n = 0;
  for (;;) {
    auto e = test::RequireOk(c->next());
    if (!e->has_value()) break;
    ++n;
  }
  CHECK(n == 10);
  CHECK(c->position() == kEvents + 2);
}

TEST_CASE("next_batch returns exactly what next returns, in batches of any size, with any filter") {
  // A random journal: nested transactions, rolled-back levels, several
  // topics, transactions of one to many events; then every filter is read
  // with next() and with next_batch() at several batch sizes.
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  std::mt19937_64 rng(test::Seed());
  const char* topics[] = {"a", "b", "c"};
  for (int t = 0; t < 300; ++t) {
    auto tx = test::RequireOk(j->begin());
    const int n = 1 + static_cast<int>(rng() % (t % 10 == 0 ? 400 : 6));
    for (int i = 0; i < n; ++i) {
      TXJ_REQUIRE_OK(tx->append(topics[rng() % 3], rng() % 2 ? "x" : "y", std::string(rng() % 300, 'p')));
      if (rng() % 5 == 0) {
        auto sub = test::RequireOk(tx->begin());
        TXJ_REQUIRE_OK(sub->append(topics[rng() % 3], "s", std::to_string(t)));
        test::CommitOrRollBack(*sub, rng() % 2);
      }
    }
    test::CommitOrRollBack(*tx, rng() % 7 == 0);
  }
  auto key = [](const Event& e) {
    return std::to_string(e.offset) + "/" + std::to_string(e.txn_id) + "/" + std::string(e.topic) + "/" +
           std::string(e.type) + "/" + std::string(e.payload) + "/" + std::to_string(e.lsn);
  };
  for (const Filter& f : {Filter::all(), Filter::for_topics({"b"}), Filter::for_topics({"a", "c"})}) {
    std::vector<std::string> want;
    {
      auto c = test::RequireOk(j->open_cursor(0, f));
      for (;;) {
        auto e = test::RequireOk(c->next());
        if (!e->has_value()) break;
        want.push_back(key(**e));
      }
    }
    REQUIRE(want.size() > 100);
    for (std::size_t batch : {1u, 7u, 64u, 1000u}) {
      INFO("batch size ", batch);
      auto c = test::RequireOk(j->open_cursor(0, f));
      std::vector<Event> buf(batch);
      std::vector<std::string> got;
      for (;;) {
        auto n = test::RequireOk(c->next_batch(buf));
        if (*n == 0) break;
        REQUIRE(*n <= batch);
        // Every event of the batch is still valid when the batch is read.
        for (std::size_t i = 0; i < *n; ++i) got.push_back(key(buf[i]));
      }
      CHECK(got == want);
      // At the end, more commits are picked up by the next batch.
      CHECK(c->position() >= (want.empty() ? 0 : 1));
    }
  }
}
