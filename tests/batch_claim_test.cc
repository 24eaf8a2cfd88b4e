// Transaction::append_batch (many events in one call) and Transaction::claim
// (a payload written in place): what readers see, what is refused, and a
// randomized run against a model of what must be committed.
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST_CASE("append_batch writes the same events as one append per event") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d));
    std::mt19937_64 rng(seed);
    TempDir a, b;
    auto ja = test::OpenOrDie(a.path(), test::SmallOptions(d));
    auto jb = test::OpenOrDie(b.path(), test::SmallOptions(d));
    for (int t = 0; t < 30; ++t) {
      std::vector<std::string> topics, payloads, keys;
      const int n = static_cast<int>(rng() % 20);
      for (int i = 0; i < n; ++i) {
        topics.push_back(rng() % 3 ? "orders" : "t" + std::to_string(rng() % 4));
        payloads.push_back(RandomBytes(rng, rng() % 700));
        keys.push_back("k" + std::to_string(rng() % 5));
      }
      std::vector<NewEvent> batch;
      for (int i = 0; i < n; ++i) {
        NewEvent e{topics[i], "placed", payloads[i], {}};
        if (i % 3 == 0) e.options.key = keys[i];
        if (i % 4 == 0) e.options.timestamp_ns = 1000 + i;
        batch.push_back(e);
      }
      auto ta = ja->begin();
      auto tb = jb->begin();
      TXJ_REQUIRE_OK(ta);
      TXJ_REQUIRE_OK(tb);
      for (const auto& e : batch) TXJ_REQUIRE_OK(ta->append(e.topic, e.type, e.payload, e.options));
      TXJ_REQUIRE_OK(tb->append_batch(batch));
      TXJ_REQUIRE_OK(ta->commit());
      TXJ_REQUIRE_OK(tb->commit());
    }
    const auto sa = test::ReadAllEvents(*ja);
    const auto sb = test::ReadAllEvents(*jb);
    REQUIRE(sa.size() == sb.size());
    for (std::size_t i = 0; i < sa.size(); ++i) {
      INFO("event ", i);
      CHECK(sb[i].offset == i);
      CHECK(sa[i].topic == sb[i].topic);
      CHECK(sa[i].payload == sb[i].payload);
      CHECK(sa[i].key == sb[i].key);
      if (sa[i].timestamp_ns < 100000) CHECK(sa[i].timestamp_ns == sb[i].timestamp_ns);
    }
  }
}

TEST_CASE("a batch with an invalid event appends nothing of it and names the event") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto tx = test::RequireOk(j->begin());
  const std::string big(70 * 1024, 'x');  // more than a 64 KiB segment holds
  SUBCASE("an empty topic") {
    std::vector<NewEvent> batch = {{"a", "x", "1"}, {"a", "x", "2"}, {"", "x", "3"}};
    Status s = tx->append_batch(batch);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("event 2 of a batch of 3") != std::string::npos);
  }
  SUBCASE("a payload too large for a segment") {
    std::vector<NewEvent> batch = {{"a", "x", "1"}, {"a", "x", big}};
    Status s = tx->append_batch(batch);
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message().find("event 1 of a batch of 2") != std::string::npos);
    CHECK(s.message().find("does not fit a segment") != std::string::npos);
  }
  // The transaction goes on: nothing of the refused batch is in it.
  TXJ_REQUIRE_OK(tx->append("a", "x", "after"));
  auto info = test::RequireOk(tx->commit());
  CHECK(info->count == 1);
  const auto seen = test::ReadAllEvents(*j);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].payload == "after");
}

TEST_CASE("while an event claim is open its transaction accepts nothing else") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  auto tx = test::RequireOk(j->begin());
  auto c = test::RequireOk(tx->claim("t", "x", 5));
  CHECK(c->payload().size() == 5);
  CHECK(tx->append("t", "x", "no").code() == Code::kInvalidState);
  CHECK(tx->begin().status().code() == Code::kInvalidState);
  CHECK(tx->commit().status().code() == Code::kInvalidState);
  CHECK(tx->claim("t", "x", 1).status().code() == Code::kInvalidState);
  std::memcpy(c->payload().data(), "hello", 5);
  TXJ_CHECK_OK(c->publish());
  CHECK(c->publish().code() == Code::kInvalidState);  // once
  CHECK(c->payload().empty());
  TXJ_REQUIRE_OK(tx->commit());
  const auto seen = test::ReadAllEvents(*j);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].payload == "hello");
}

// A model-based run: appends, batches, claims published, cancelled or
// dropped, sub-transactions committed or rolled back, top levels committed
// or rolled back; what a cursor reads (and reads again after reopening)
// must be exactly the model's committed events, at dense offsets.
TEST_CASE("appends, batches and claims in nested transactions replay exactly what was committed") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d));
    std::mt19937_64 rng(seed + static_cast<int>(d));
    TempDir dir;
    Options o = test::SmallOptions(d);
    o.segment_size = 256 * 1024;
    std::vector<std::string> committed;
    {
      auto j = test::OpenOrDie(dir.path(), o);
      for (int t = 0; t < 60; ++t) {
        auto top = test::RequireOk(j->begin());
        // levels[k] holds the payloads level k would hand to its parent.
        std::vector<Transaction> handles;
        std::vector<std::vector<std::string>> levels(1);
        handles.push_back(std::move(*top));
        const int steps = static_cast<int>(rng() % 25);
        for (int s = 0; s < steps; ++s) {
          Transaction& cur = handles.back();
          auto& mine = levels.back();
          switch (rng() % 8) {
            case 0: {
              std::string p = RandomBytes(rng, rng() % 300);
              TXJ_REQUIRE_OK(cur.append("t", "x", p));
              mine.push_back(p);
              break;
            }
            case 1: {
              std::vector<std::string> ps;
              for (int i = static_cast<int>(rng() % 6); i > 0; --i) ps.push_back(RandomBytes(rng, rng() % 2000));
              std::vector<NewEvent> batch;
              for (const auto& p : ps) batch.push_back({"t", "x", p, {}});
              TXJ_REQUIRE_OK(cur.append_batch(batch));
              mine.insert(mine.end(), ps.begin(), ps.end());
              break;
            }
            case 2:
            case 3: {
              std::string p = RandomBytes(rng, rng() % 5000);
              auto c = test::RequireOk(cur.claim("t", "x", p.size()));
              REQUIRE(c->payload().size() == p.size());
              if (!p.empty()) std::memcpy(c->payload().data(), p.data(), p.size());
              const int fate = static_cast<int>(rng() % 4);
              if (fate <= 1) {
                TXJ_REQUIRE_OK(c->publish());
                mine.push_back(p);
              } else if (fate == 2) {
                c->cancel();
              }  // fate 3: dropped, the destructor cancels
              break;
            }
            case 4:
              if (levels.size() < 4) {
                auto sub = test::RequireOk(cur.begin());
                handles.push_back(std::move(*sub));
                levels.emplace_back();
              }
              break;
            case 5:
            case 6:
              if (levels.size() > 1) {
                const bool keep = rng() % 3 != 0;
                if (keep) {
                  TXJ_REQUIRE_OK(cur.commit());
                  auto done = std::move(levels.back());
                  levels.pop_back();
                  levels.back().insert(levels.back().end(), done.begin(), done.end());
                } else {
                  TXJ_REQUIRE_OK(cur.rollback());
                  levels.pop_back();
                }
                handles.pop_back();
              }
              break;
            default: {
              // A claim left open when its sub-transaction is rolled back.
              if (levels.size() > 1) {
                auto c = test::RequireOk(cur.claim("t", "x", 10));
                TXJ_REQUIRE_OK(cur.rollback());
                CHECK(c->publish().code() == Code::kInvalidState);
                levels.pop_back();
                handles.pop_back();
              }
              break;
            }
          }
        }
        while (handles.size() > 1) {
          TXJ_REQUIRE_OK(handles.back().commit());
          auto done = std::move(levels.back());
          levels.pop_back();
          levels.back().insert(levels.back().end(), done.begin(), done.end());
          handles.pop_back();
        }
        if (rng() % 5 == 0) {
          TXJ_REQUIRE_OK(handles.back().rollback());
        } else {
          TXJ_REQUIRE_OK(handles.back().commit());
          committed.insert(committed.end(), levels[0].begin(), levels[0].end());
        }
      }
      const auto seen = test::ReadAllEvents(*j);
      REQUIRE(seen.size() == committed.size());
      for (std::size_t i = 0; i < seen.size(); ++i) {
        INFO("event ", i);
        CHECK(seen[i].offset == i);
        CHECK(seen[i].payload == committed[i]);
      }
      TXJ_REQUIRE_OK(j->close());
    }
    auto j = test::OpenOrDie(dir.path(), o);
    const auto seen = test::ReadAllEvents(*j);
    REQUIRE(seen.size() == committed.size());
    for (std::size_t i = 0; i < seen.size(); ++i) {
      INFO("event ", i, " after reopening");
      CHECK(seen[i].payload == committed[i]);
    }
  }
}
