// Model-based randomized test: random trees of nested transactions, checked
// against an in-memory model of exactly what the committed view must hold.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "txn_model.h"

using namespace txj;
using namespace txj::test;

namespace {

struct Model {
  std::vector<ModelEvent> events;  // the committed view, offsets 0..N-1
  std::uint64_t next_txn_id = 1;
  std::uint64_t commits = 0, rollbacks = 0, abandons = 0, reopens = 0, checks = 0;
};

const char* ModeName(Durability d) {
  switch (d) {
    case Durability::kNone: return "none";
    case Durability::kCommit: return "commit";
    case Durability::kPeriodic: return "periodic";
  }
  return "?";
}

// Compares what a cursor at `from` with `filter` returns (at most `limit`
// events) with what the model says it must return.
void CheckCursor(Journal& j, const Model& m, std::uint64_t from, const Filter& filter, std::size_t limit) {
  INFO("cursor from ", from, " (", limit, " events at most), view of ", m.events.size());
  auto got = test::ReadView(j, from, filter, limit);
  INFO("read: ", (got.ok() ? std::string("ok") : got.status().ToString()));
  REQUIRE(got.ok());
  std::vector<const ModelEvent*> want;
  for (std::size_t i = static_cast<std::size_t>(std::min<std::uint64_t>(from, m.events.size()));
       i < m.events.size() && want.size() < limit; ++i) {
    if (filter.matches(m.events[i].topic, m.events[i].type)) want.push_back(&m.events[i]);
  }
  REQUIRE(got->size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const ModelEvent& g = (*got)[i];
    Event ev{g.offset, g.txn_id, g.timestamp_ns, 0, g.topic, g.type,
             g.key ? std::optional<std::string_view>(*g.key) : std::nullopt, g.payload};
    std::string why;
    INFO("event ", i, " of the cursor");
    if (!test::SameEvent(*want[i], ev, &why)) FAIL(why);
  }
}

Filter RandomFilter(TxnDriver& d) {
  const auto& topics = test::ModelTopics();
  const auto& types = test::ModelTypes();
  Filter f;
  switch (d.Uniform(0, 3)) {
    case 0:
      return Filter::all();
    case 1: {
      std::vector<std::string> t;
      for (const auto& s : topics) {
        if (d.Uniform(0, 2) == 0) t.push_back(s);
      }
      if (t.empty()) t.push_back(topics[d.Uniform(0, topics.size() - 1)]);
      return Filter::for_topics(t);
    }
    case 2:
      f.types.push_back(types[d.Uniform(0, types.size() - 1)]);
      if (d.Uniform(0, 1)) f.types.push_back(types[d.Uniform(0, types.size() - 1)]);
      return f;
    default:
      f.topics.push_back(topics[d.Uniform(0, topics.size() - 1)]);
      f.types.push_back(types[d.Uniform(0, types.size() - 1)]);
      return f;
  }
}

// A thread that follows the journal with wait_next() from `from` until the
// journal closes, copying every event.
class Follower {
 public:
  void Start(Journal& j, std::uint64_t from) {
    from_ = from;
    events_.clear();
    end_ = Status::OK();
    auto opened = j.open_cursor(from_);  // here, before the journal can close
    REQUIRE(opened.ok());
    thread_ = std::thread([this, c = std::move(opened).value()]() mutable {
      for (;;) {
        auto e = c.wait_next();
        if (!e.ok()) {
          end_ = e.status();
          return;
        }
        events_.push_back(test::Copy(*e));
      }
    });
  }
  // After the journal was closed: everything committed before the close was
  // seen, and the wait ended with kClosed.
  void Finish(const Model& m) {
    thread_.join();
    INFO("follower from ", from_, ": ", end_.ToString());
    CHECK(end_.code() == Code::kClosed);
    REQUIRE(from_ + events_.size() == m.events.size());
    for (std::size_t i = 0; i < events_.size(); ++i) {
      const ModelEvent& g = events_[i];
      Event ev{g.offset, g.txn_id, g.timestamp_ns, 0, g.topic, g.type,
               g.key ? std::optional<std::string_view>(*g.key) : std::nullopt, g.payload};
      std::string why;
      if (!test::SameEvent(m.events[from_ + i], ev, &why)) FAIL("follower: " << why);
    }
  }

 private:
  std::uint64_t from_ = 0;
  std::vector<ModelEvent> events_;
  Status end_;
  std::thread thread_;
};

// Runs `txns` random transactions with reopens, checking as it goes.
void RunModel(std::uint64_t seed, TxnDriver::Config cfg, int txns, int reopen_every,
              std::uint64_t segment_size = 64 * 1024) {
  TempDir dir;
  TxnDriver d(seed, cfg);
  Model m;
  const Durability modes[] = {Durability::kNone, Durability::kCommit, Durability::kPeriodic};
  int mode_i = static_cast<int>(d.Uniform(0, 2));
  Options o = test::SmallOptions(modes[mode_i]);
  o.segment_size = segment_size;
  o.sync_interval = std::chrono::milliseconds(5);
  auto j = test::OpenOrDie(dir.path(), o);
  CHECK(j->recovery_report().created);
  Follower follower;
  follower.Start(*j, 0);
  int until_reopen = static_cast<int>(d.Uniform(1, static_cast<std::uint64_t>(reopen_every)));
  for (int t = 0; t < txns; ++t) {
    INFO("seed ", seed, ", transaction ", t, ", mode ", std::string(ModeName(modes[mode_i])));
    TxnOutcome out;
    std::string failure;
    const std::uint64_t visible_before = j->visible_lsn();
    if (!d.Run(*j, &out, &failure)) FAIL(failure);
    REQUIRE(out.txn_id == m.next_txn_id);
    m.next_txn_id = out.txn_id + 1;
    if (out.kind == TxnOutcome::kCommitted) {
      ++m.commits;
      CHECK(out.info.first_offset == m.events.size());
      CHECK(out.info.lsn == j->visible_lsn());
      for (auto& e : out.events) m.events.push_back(std::move(e));
    } else {
      (out.kind == TxnOutcome::kRolledBack ? m.rollbacks : m.abandons)++;
      CHECK(j->visible_lsn() >= visible_before);
    }
    REQUIRE(j->next_offset() == m.events.size());
    // Spot checks: a positioned cursor and a filtered one.
    if (t % 5 == 0) {
      ++m.checks;
      const std::uint64_t n = m.events.size();
      CheckCursor(*j, m, d.Uniform(0, n), Filter::all(), 200);
      CheckCursor(*j, m, n ? n - d.Uniform(0, std::min<std::uint64_t>(n, 20)) : 0, Filter::all(), 50);
      CheckCursor(*j, m, d.Uniform(0, n + 2), RandomFilter(d), 200);
    }
    if (t % 60 == 59) CheckCursor(*j, m, 0, Filter::all(), SIZE_MAX);
    if (--until_reopen == 0) {
      until_reopen = static_cast<int>(d.Uniform(1, static_cast<std::uint64_t>(reopen_every)));
      ++m.reopens;
      if (d.Uniform(0, 3) == 0) TXJ_REQUIRE_OK(j->sync());
      TXJ_REQUIRE_OK(j->close());
      follower.Finish(m);
      j.reset();
      mode_i = (mode_i + 1 + static_cast<int>(d.Uniform(0, 1))) % 3;
      o.durability = modes[mode_i];
      j = test::OpenOrDie(dir.path(), o);
      const RecoveryReport& r = j->recovery_report();
      INFO(r.ToString());
      CHECK(r.repairs.empty());
      CHECK(!r.created);
      CHECK(r.next_offset == m.events.size());
      CHECK(r.next_txn_id == m.next_txn_id);
      CHECK(j->next_offset() == m.events.size());
      CheckCursor(*j, m, 0, Filter::all(), SIZE_MAX);
      follower.Start(*j, d.Uniform(0, m.events.size()));
    }
  }
  CheckCursor(*j, m, 0, Filter::all(), SIZE_MAX);
  for (const auto& topic : test::ModelTopics()) CheckCursor(*j, m, 0, Filter::for_topics({topic}), SIZE_MAX);
  TXJ_CHECK_OK(j->close());
  follower.Finish(m);
  j.reset();
  // A read-only open sees the same view.
  Options ro = o;
  ro.read_only = true;
  auto r = test::OpenOrDie(dir.path(), ro);
  CheckCursor(*r, m, 0, Filter::all(), SIZE_MAX);
  std::printf("model seed %llu: %llu commits, %llu rollbacks, %llu abandoned, %zu events, %llu reopens, %llu spot checks\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(m.commits),
              static_cast<unsigned long long>(m.rollbacks), static_cast<unsigned long long>(m.abandons),
              m.events.size(), static_cast<unsigned long long>(m.reopens), static_cast<unsigned long long>(m.checks));
  CHECK(m.commits > 0);
  CHECK(m.reopens > 0);
}

}  // namespace

TEST_CASE("random nested transactions with small events match the model across segment rolls and reopens") {
  TxnDriver::Config cfg;
  cfg.max_ops = 40;
  cfg.max_payload = 600;
  RunModel(test::Seed(), cfg, test::Scaled(3000), 150);
}

TEST_CASE("random deep transactions with large events stream across many segments and match the model") {
  TxnDriver::Config cfg;
  cfg.max_ops = 60;
  cfg.max_depth = 24;
  cfg.max_payload = 6000;
  cfg.big_payload = 58000;  // close to the largest record a 64 KiB segment takes
  RunModel(test::Seed() * 31 + 7, cfg, test::Scaled(700), 60);
}

TEST_CASE("random transactions on both sides of the stage threshold match the model as the writer moves between mapping and stage") {
  // Under kNone and kPeriodic a transaction past 8 KiB goes on in the
  // stage, and the next ones are staged from their begin marker while they
  // stay that large (JournalState::kSpillBytes): sizes around it, in 1 MiB
  // segments, move the writer back and forth inside a segment.
  TxnDriver::Config cfg;
  cfg.max_ops = 40;
  cfg.max_payload = 1200;
  cfg.big_payload = 40000;
  RunModel(test::Seed() * 17 + 3, cfg, test::Scaled(500), 80, 1 << 20);
}

TEST_CASE("transaction ids and offsets continue after reopening a journal that was not closed") {
  TempDir dir;
  TxnDriver d(test::Seed() + 1);
  Model m;
  for (int round = 0; round < 6; ++round) {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    CHECK(j->recovery_report().next_txn_id == m.next_txn_id);
    for (int t = 0; t < 20; ++t) {
      TxnOutcome out;
      std::string failure;
      if (!d.Run(*j, &out, &failure)) FAIL(failure);
      REQUIRE(out.txn_id == m.next_txn_id);
      m.next_txn_id++;
      if (out.kind == TxnOutcome::kCommitted) {
        REQUIRE(out.info.first_offset == m.events.size());
        for (auto& e : out.events) m.events.push_back(std::move(e));
      }
    }
    CheckCursor(*j, m, 0, Filter::all(), SIZE_MAX);
    // Dropped without close(): the destructor closes.
  }
}
