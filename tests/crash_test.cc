// Crash loop: a writer process is killed with SIGKILL at random moments
// while it writes random nested transactions; after each kill the journal is
// reopened and checked against what the writer acknowledged.
//
// The writer reports each transaction through a pipe twice: an intent just
// before commit() is called, and an acknowledgement after commit() returned.
// After the kill, the committed view must hold every acknowledged commit,
// complete and identical, in order, with dense offsets; beyond them at most
// the one transaction whose commit was in flight (complete and identical);
// nothing else.
//
// TXJ_CRASH_CYCLES sets the number of cycles of each variant.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"
#include "txn_model.h"

using namespace txj;
using txj::test::ModelEvent;
using txj::test::TempDir;
using txj::test::TxnDriver;
using txj::test::TxnOutcome;

namespace {

enum MsgKind : std::uint64_t { kIntent = 1, kAck = 2, kFailure = 9 };

struct Msg {
  std::uint64_t kind, txn_id, first_offset, count, digest;
};
static_assert(sizeof(Msg) <= PIPE_BUF);

struct Commit {
  std::uint64_t txn_id, first_offset, count, digest;
};

int Cycles(int fallback) {
  const char* s = std::getenv("TXJ_CRASH_CYCLES");
  return s ? std::atoi(s) : fallback;
}

// The writer child: never returns.
[[noreturn]] void Writer(const std::string& dir, Durability d, std::uint64_t seed, int fd) {
  auto send = [&](const Msg& m) {
    if (::write(fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m)) ::_exit(20);
  };
  Options o = test::SmallOptions(d);
  o.sync_interval = std::chrono::milliseconds(3);
  auto j = Journal::open(dir, o);
  if (!j.ok()) {
    std::fprintf(stderr, "writer: open: %s\n", j.status().ToString().c_str());
    send({kFailure, 1, 0, 0, 0});
    ::_exit(21);
  }
  TxnDriver::Config cfg;
  cfg.max_ops = 30;
  cfg.max_payload = 400;
  cfg.big_payload = 20000;
  TxnDriver driver(seed, cfg);
  // A bounded number of transactions, so the journal stays small; then wait
  // for the kill.
  const int txns = static_cast<int>(driver.Uniform(1, 300));
  for (int t = 0; t < txns; ++t) {
    TxnOutcome out;
    std::string failure;
    const bool ok = driver.Run(**j, &out, &failure, [&](std::uint64_t id, const std::vector<ModelEvent>& events) {
      send({kIntent, id, 0, events.size(), test::DigestEvents(events)});
    });
    if (!ok) {
      std::fprintf(stderr, "writer: %s\n", failure.c_str());
      send({kFailure, 2, 0, 0, 0});
      ::_exit(22);
    }
    if (out.kind == TxnOutcome::kCommitted) {
      send({kAck, out.txn_id, out.info.first_offset, out.info.count, test::DigestEvents(out.events)});
    }
  }
  for (;;) ::pause();
}

class CrashLoop {
 public:
  CrashLoop(Durability d, std::uint64_t seed) : d_(d), rng_(seed), seed_(seed) {}

  void Run(int cycles) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int c = 0; c < cycles; ++c) {
      INFO("cycle ", c, " of ", cycles, ", seed ", seed_);
      Cycle(c);
    }
    // A last full check from offset 0, and a reopen that has nothing to repair.
    auto j = test::OpenOrDie(dir_.path(), test::SmallOptions(d_));
    CHECK(j->recovery_report().repairs.empty());
    VerifyAll(*j);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("crash loop (durability %d, seed %llu): %d cycles, %zu commits, %llu events, %d kills in flight, "
                "%d repairs, %.1f s\n",
                static_cast<int>(d_), static_cast<unsigned long long>(seed_), cycles, commits_.size(),
                static_cast<unsigned long long>(next_offset_), in_flight_seen_, repairs_seen_, secs);
  }

 private:
  void Cycle(int c) {
    int p[2];
    REQUIRE(::pipe(p) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(p[0]);
      Writer(dir_.path(), d_, seed_ * 1000003 + static_cast<std::uint64_t>(c), p[1]);
    }
    ::close(p[1]);
    // Collect messages until a random moment, then kill the writer.
    std::vector<Msg> msgs;
    std::string buf;
    auto pump = [&](int timeout_ms) -> bool {  // false at end of file
      pollfd pfd{p[0], POLLIN, 0};
      if (::poll(&pfd, 1, timeout_ms) <= 0) return true;
      char chunk[4096];
      ssize_t n = ::read(p[0], chunk, sizeof chunk);
      if (n <= 0) return false;
      buf.append(chunk, static_cast<std::size_t>(n));
      return true;
    };
    // Mostly anywhere in the first 30 ms; sometimes within the first 3 ms,
    // while the writer is still opening (and repairing) the journal.
    const int window_us = std::uniform_int_distribution<int>(0, 4)(rng_) == 0 ? 3000 : 30000;
    const auto kill_at = std::chrono::steady_clock::now() +
                         std::chrono::microseconds(std::uniform_int_distribution<int>(0, window_us)(rng_));
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (!pump(static_cast<int>(left.count()))) break;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    while (pump(-1)) {
    }
    ::close(p[0]);
    REQUIRE(buf.size() % sizeof(Msg) == 0);
    for (std::size_t i = 0; i < buf.size(); i += sizeof(Msg)) {
      Msg m;
      std::memcpy(&m, buf.data() + i, sizeof m);
      msgs.push_back(m);
    }
    for (const Msg& m : msgs) {
      INFO("writer failure ", m.txn_id);
      REQUIRE(m.kind != kFailure);
    }
    INFO("writer status ", status);
    REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    // Acknowledged commits, and the intent that was in flight (if any).
    std::vector<Commit> acked;
    const Msg* in_flight = nullptr;
    for (const Msg& m : msgs) {
      if (m.kind == kIntent) {
        in_flight = &m;
      } else if (m.kind == kAck) {
        REQUIRE(in_flight != nullptr);
        REQUIRE(in_flight->txn_id == m.txn_id);
        REQUIRE(in_flight->digest == m.digest);
        in_flight = nullptr;
        acked.push_back({m.txn_id, m.first_offset, m.count, m.digest});
      }
    }
    // A reader first (it repairs nothing), then the writer's reopen: both
    // must show what is new since the last cycle.
    if (c % 3 == 0) {
      Options ro = test::SmallOptions(d_);
      ro.read_only = true;
      auto r = Journal::open(dir_.path(), ro);
      if (r.ok()) {
        INFO("read-only: ", (*r)->recovery_report().ToString());
        CheckNew(**r, acked, in_flight, false);
      } else {
        // Only a writer killed while creating the journal leaves none.
        INFO("read-only open: ", r.status().ToString());
        CHECK(r.status().code() == Code::kNotFound);
        CHECK(commits_.empty());
        CHECK(acked.empty());
      }
    }
    auto j = test::OpenOrDie(dir_.path(), test::SmallOptions(d_));
    const RecoveryReport& r = j->recovery_report();
    INFO(r.ToString());
    if (!r.repairs.empty()) ++repairs_seen_;
    for (const auto& rep : r.repairs) {
      CHECK(rep.file.rfind(dir_.path(), 0) == 0);
      CHECK(rep.file_offset >= 4096);
    }
    CheckNew(*j, acked, in_flight, true);
    CHECK(j->next_offset() == next_offset_);
    CHECK(r.next_offset == next_offset_);
    // The reopened journal takes new writes at the next offset.
    if (c % 4 == 0) {
      auto tx = j->begin();
      TXJ_REQUIRE_OK(tx);
      REQUIRE(tx->id() > last_txn_id_);
      std::vector<ModelEvent> evs(1);
      evs[0].topic = "parent";
      evs[0].type = "cycle";
      evs[0].payload = std::to_string(c);
      TXJ_REQUIRE_OK(tx->append(evs[0].topic, evs[0].type, evs[0].payload));
      auto info = tx->commit();
      TXJ_REQUIRE_OK(info);
      REQUIRE(info->first_offset == next_offset_);
      commits_.push_back({info->txn_id, next_offset_, 1, test::DigestEvents(evs)});
      next_offset_ += 1;
      last_txn_id_ = info->txn_id;
    }
    if (c % 25 == 24) VerifyAll(*j);
  }

  // Compares the view from the last verified offset with the acknowledged
  // commits and the in-flight intent; with `record`, adds them to the model.
  void CheckNew(Journal& j, const std::vector<Commit>& acked, const Msg* in_flight, bool record) {
    auto view = test::ReadView(j, next_offset_);
    INFO("read: ", (view.ok() ? std::string("ok") : view.status().ToString()));
    REQUIRE(view.ok());
    std::size_t i = 0;
    std::uint64_t next = next_offset_, last_txn = last_txn_id_;
    std::vector<Commit> found;
    auto take_group = [&](std::uint64_t txn_id, std::uint64_t count, std::uint64_t digest, const char* what) {
      INFO(what, " transaction ", txn_id, " of ", count, " events at offset ", next);
      REQUIRE(txn_id > last_txn);
      std::vector<ModelEvent> group;
      for (std::uint64_t k = 0; k < count; ++k) {
        REQUIRE(i < view->size());
        const ModelEvent& e = (*view)[i++];
        REQUIRE(e.offset == next + k);
        REQUIRE(e.txn_id == txn_id);
        group.push_back(e);
      }
      CHECK(test::DigestEvents(group) == digest);
      found.push_back({txn_id, next, count, digest});
      next += count;
      last_txn = txn_id;
    };
    for (const Commit& a : acked) {
      REQUIRE(a.first_offset == next);
      take_group(a.txn_id, a.count, a.digest, "acknowledged");
    }
    if (i < view->size()) {
      // Only the transaction whose commit was in flight may be there too.
      INFO("an event at offset ", (*view)[i].offset, " of transaction ", (*view)[i].txn_id,
           " that was not acknowledged");
      REQUIRE(in_flight != nullptr);
      REQUIRE((*view)[i].txn_id == in_flight->txn_id);
      take_group(in_flight->txn_id, in_flight->count, in_flight->digest, "in-flight");
      if (record) ++in_flight_seen_;
    }
    REQUIRE(i == view->size());
    if (record) {
      commits_.insert(commits_.end(), found.begin(), found.end());
      next_offset_ = next;
      last_txn_id_ = last_txn;
    }
  }

  void VerifyAll(Journal& j) {
    auto view = test::ReadView(j, 0);
    INFO("read: ", (view.ok() ? std::string("ok") : view.status().ToString()));
    REQUIRE(view.ok());
    REQUIRE(view->size() == next_offset_);
    std::size_t i = 0;
    for (const Commit& c : commits_) {
      std::vector<ModelEvent> group(view->begin() + static_cast<long>(i),
                                    view->begin() + static_cast<long>(i + c.count));
      for (const auto& e : group) REQUIRE(e.txn_id == c.txn_id);
      CHECK(test::DigestEvents(group) == c.digest);
      i += c.count;
    }
  }

  Durability d_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
  TempDir dir_;
  std::vector<Commit> commits_;
  std::uint64_t next_offset_ = 0;
  std::uint64_t last_txn_id_ = 0;
  int in_flight_seen_ = 0, repairs_seen_ = 0;
};

}  // namespace

TEST_CASE("a writer killed at random moments under commit durability loses no acknowledged commit") {
  CrashLoop loop(Durability::kCommit, test::Seed());
  loop.Run(Cycles(200));
}

TEST_CASE("a writer killed at random moments without syncs loses no acknowledged commit either (process crash)") {
  CrashLoop loop(Durability::kNone, test::Seed() + 1);
  loop.Run(Cycles(200));
}

TEST_CASE("a writer killed at random moments under periodic durability loses no acknowledged commit") {
  CrashLoop loop(Durability::kPeriodic, test::Seed() + 2);
  loop.Run(Cycles(60));
}
