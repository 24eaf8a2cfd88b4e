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
// A fourth variant also writes single-event transactions to a compacted
// topic ("kv", latest value by key) and compacts it as it goes: the
// acknowledged commits of the other topics are checked as above, and the
// state rebuilt from snapshot plus the rest must equal the fold of every
// acknowledged "kv" commit (and the in-flight one, if it reached the disk).
//
// TXJ_CRASH_CYCLES sets the number of cycles of each variant (the soak
// suite, tests/meson.build, runs many). Each loop prints how many cycles it
// survived, also when one fails.
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

// kKvIntent / kKvAck: a single-event "kv" transaction; first_offset of the
// intent is unused, count holds the key index and digest the value.
enum MsgKind : std::uint64_t { kIntent = 1, kAck = 2, kKvIntent = 3, kKvAck = 4, kFailure = 9 };

struct Msg {
  std::uint64_t kind, txn_id, first_offset, count, digest;
};
static_assert(sizeof(Msg) <= PIPE_BUF);

struct Commit {
  std::uint64_t txn_id, first_offset, count, digest;
  bool kv = false;  // a "kv" commit: one event, key index in key, value in digest
  std::uint64_t key = 0;
};

const char kKvTopic[] = "kv";

std::string KvKey(std::uint64_t k) { return "k" + std::to_string(k); }

// Every topic but the compacted one: what the plain checks read.
Filter PlainTopics() {
  std::vector<std::string> t = test::ModelTopics();
  t.push_back("parent");
  return Filter::for_topics(t);
}

// TXJ_CRASH_CYCLES, else the default (ten times it in the soak suite).
int Cycles(int fallback) {
  if (const char* s = std::getenv("TXJ_CRASH_CYCLES")) return std::atoi(s);
  return std::getenv("TXJ_SOAK") ? 10 * fallback : fallback;
}

// The writer child: never returns.
// `large`: transactions often past JournalState::kSpillBytes (8 KiB), so
// that under kNone and kPeriodic the writer moves between the mapping and
// the stage.
[[noreturn]] void Writer(const std::string& dir, Durability d, std::uint64_t seed, int fd, bool compact, bool large) {
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
  if (compact && !(*j)->register_compactor(kKvTopic, std::make_shared<LatestByKeyCompactor>()).ok()) {
    send({kFailure, 3, 0, 0, 0});
    ::_exit(23);
  }
  TxnDriver::Config cfg;
  cfg.max_ops = 30;
  cfg.max_payload = large ? 6000 : 400;
  cfg.big_payload = large ? 60000 : 20000;
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
    if (compact) {
      // A "kv" commit after every model transaction, a compaction every
      // tenth: compaction runs while the model's transactions come and go.
      const std::uint64_t key = driver.Uniform(0, 7), value = driver.Uniform(0, 1u << 30);
      auto tx = (*j)->begin();
      if (!tx.ok()) ::_exit(24);
      send({kKvIntent, tx->id(), 0, key, value});
      AppendOptions ao;
      const std::string k = KvKey(key);
      ao.key = k;
      if (!tx->append(kKvTopic, "set", std::to_string(value), ao).ok()) ::_exit(25);
      auto info = tx->commit();
      if (!info.ok()) {
        std::fprintf(stderr, "writer: kv commit: %s\n", info.status().ToString().c_str());
        send({kFailure, 4, 0, 0, 0});
        ::_exit(26);
      }
      send({kKvAck, info->txn_id, info->first_offset, key, value});
      if (t % 10 == 9) {
        Status cs = (*j)->compact(kKvTopic).status();
        if (!cs.ok()) {
          std::fprintf(stderr, "writer: compact: %s\n", cs.ToString().c_str());
          send({kFailure, 5, 0, 0, 0});
          ::_exit(27);
        }
      }
    }
  }
  for (;;) ::pause();
}

class CrashLoop {
 public:
  CrashLoop(Durability d, std::uint64_t seed, bool compact = false, bool large = false)
      : d_(d), rng_(seed), seed_(seed), compact_(compact), large_(large) {}

  void Run(int cycles) {
    const auto t0 = std::chrono::steady_clock::now();
    // Says how far the loop got, also when a REQUIRE ends it early.
    struct Survival {
      const CrashLoop* loop;
      int cycles, done = 0;
      bool finished = false;
      ~Survival() {
        if (!finished) {
          std::printf("crash loop (durability %d%s, seed %llu): FAILED %s: survived %d of %d cycles\n",
                      static_cast<int>(loop->d_), loop->compact_ ? ", compacting" : "",
                      static_cast<unsigned long long>(loop->seed_),
                      done < cycles ? ("in cycle " + std::to_string(done)).c_str() : "in the final check", done,
                      cycles);
        }
      }
    } survival{this, cycles};
    for (int c = 0; c < cycles; ++c) {
      INFO("cycle ", c, " of ", cycles, ", seed ", seed_);
      Cycle(c);
      survival.done = c + 1;
    }
    // A last full check from offset 0, and a reopen that has nothing to repair.
    auto j = test::OpenOrDie(dir_.path(), test::SmallOptions(d_));
    CHECK(j->recovery_report().repairs.empty());
    VerifyAll(*j);
    if (compact_) {
      TXJ_REQUIRE_OK(j->register_compactor(kKvTopic, std::make_shared<LatestByKeyCompactor>()));
      CheckKvState(*j);
    }
    survival.finished = true;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("crash loop (durability %d%s, seed %llu): survived %d of %d cycles, %zu commits, %llu events, "
                "%d kills in flight, %d repairs, %d compactions seen, %.1f s\n",
                static_cast<int>(d_), compact_ ? ", compacting" : "", static_cast<unsigned long long>(seed_), cycles,
                cycles, commits_.size(), static_cast<unsigned long long>(next_offset_), in_flight_seen_,
                repairs_seen_, snapshots_seen_, secs);
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
      Writer(dir_.path(), d_, seed_ * 1000003 + static_cast<std::uint64_t>(c), p[1], compact_, large_);
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
      if (m.kind == kIntent || m.kind == kKvIntent) {
        in_flight = &m;
      } else if (m.kind == kAck || m.kind == kKvAck) {
        REQUIRE(in_flight != nullptr);
        REQUIRE(in_flight->kind + 1 == m.kind);
        REQUIRE(in_flight->txn_id == m.txn_id);
        REQUIRE(in_flight->digest == m.digest);
        in_flight = nullptr;
        if (m.kind == kAck) {
          acked.push_back({m.txn_id, m.first_offset, m.count, m.digest});
        } else {
          acked.push_back({m.txn_id, m.first_offset, 1, m.digest, true, m.count});
        }
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
    if (compact_) {
      TXJ_REQUIRE_OK(j->register_compactor(kKvTopic, std::make_shared<LatestByKeyCompactor>()));
      if (c % 5 == 0) CheckKvState(*j);
    }
    // The reopened journal takes new writes at the next offset.
    if (c % 4 == 0) {
      auto tx = test::RequireOk(j->begin());
      REQUIRE(tx->id() > last_txn_id_);
      std::vector<ModelEvent> evs(1);
      evs[0].topic = "parent";
      evs[0].type = "cycle";
      evs[0].payload = std::to_string(c);
      TXJ_REQUIRE_OK(tx->append(evs[0].topic, evs[0].type, evs[0].payload));
      auto info = test::RequireOk(tx->commit());
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
    auto view = test::ReadView(j, next_offset_, compact_ ? PlainTopics() : Filter::all());
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
    // A "kv" commit is not in the view read (its topic is compacted): its
    // offset is checked, its content by CheckKvState.
    auto take_kv = [&](const Commit& k) {
      REQUIRE(k.txn_id > last_txn);
      found.push_back(k);
      found.back().first_offset = next;
      next += 1;
      last_txn = k.txn_id;
    };
    for (const Commit& a : acked) {
      REQUIRE(a.first_offset == next);
      if (a.kv) {
        take_kv(a);
      } else {
        take_group(a.txn_id, a.count, a.digest, "acknowledged");
      }
    }
    if (in_flight != nullptr && in_flight->kind == kKvIntent && j.next_offset() > next) {
      // The in-flight "kv" commit reached the disk.
      REQUIRE(j.next_offset() == next + 1);
      take_kv({in_flight->txn_id, next, 1, in_flight->digest, true, in_flight->count});
      if (record) ++in_flight_seen_;
    }
    if (i < view->size()) {
      // Only the transaction whose commit was in flight may be there too.
      INFO("an event at offset ", (*view)[i].offset, " of transaction ", (*view)[i].txn_id,
           " that was not acknowledged");
      REQUIRE(in_flight != nullptr);
      REQUIRE(in_flight->kind == kIntent);
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
    auto view = test::ReadView(j, 0, compact_ ? PlainTopics() : Filter::all());
    INFO("read: ", (view.ok() ? std::string("ok") : view.status().ToString()));
    REQUIRE(view.ok());
    std::uint64_t plain = 0;
    for (const Commit& c : commits_) plain += c.kv ? 0 : c.count;
    REQUIRE(view->size() == plain);
    std::size_t i = 0;
    for (const Commit& c : commits_) {
      if (c.kv) continue;
      std::vector<ModelEvent> group(view->begin() + static_cast<long>(i),
                                    view->begin() + static_cast<long>(i + c.count));
      for (const auto& e : group) REQUIRE(e.txn_id == c.txn_id);
      CHECK(test::DigestEvents(group) == c.digest);
      i += c.count;
    }
  }

  // The "kv" state rebuilt from snapshot plus the rest equals the fold of
  // every "kv" commit found so far.
  void CheckKvState(Journal& j) {
    LatestByKeyCompactor fold;
    auto want = fold.initial();
    for (const Commit& c : commits_) {
      if (!c.kv) continue;
      const std::string key = KvKey(c.key), payload = std::to_string(c.digest);
      Event e;
      e.offset = c.first_offset;
      e.txn_id = c.txn_id;
      e.topic = kKvTopic;
      e.type = "set";
      e.key = key;
      e.payload = payload;
      TXJ_REQUIRE_OK(fold.apply(*want, e));
    }
    auto got = test::RequireOk(j.rebuild(kKvTopic));
    CHECK(got->encoded == fold.encode(*want));
    if (got->from_snapshot > 0) ++snapshots_seen_;
  }

  Durability d_;
  std::mt19937_64 rng_;
  std::uint64_t seed_;
  bool compact_ = false;
  bool large_ = false;
  int snapshots_seen_ = 0;
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

TEST_CASE("a writer killed at random moments without syncs, its large transactions staged, loses no acknowledged commit") {
  CrashLoop loop(Durability::kNone, test::Seed() + 4, /*compact=*/false, /*large=*/true);
  loop.Run(Cycles(150));
}

TEST_CASE("a writer killed at random moments under periodic durability loses no acknowledged commit") {
  CrashLoop loop(Durability::kPeriodic, test::Seed() + 2);
  loop.Run(Cycles(60));
}

TEST_CASE("a writer killed at random moments while it compacts a topic loses no acknowledged commit and no state") {
  CrashLoop loop(Durability::kCommit, test::Seed() + 3, /*compact=*/true);
  loop.Run(Cycles(100));
}
