// Replay through a cursor: the events handed out by next(), next_batch()
// and both mixed are exactly the committed ones, checked against what the
// writer committed (not against another read path), and nothing of a
// transaction that is unfinished, rolled back or damaged ever reaches the
// caller, not even in the part of a batch past the count it returns.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace txj {
namespace {

using test::TempDir;

struct Want {
  std::uint64_t offset, txn_id;
  std::string topic, type, payload;
  std::optional<std::string> key;
};

std::string Key(const Event& e) {
  return std::to_string(e.offset) + "/" + std::to_string(e.txn_id) + "/" + std::string(e.topic) + "/" +
         std::string(e.type) + "/" + (e.key ? "k:" + std::string(*e.key) : std::string("-")) + "/" +
         std::string(e.payload);
}
std::string Key(const Want& w) {
  return std::to_string(w.offset) + "/" + std::to_string(w.txn_id) + "/" + w.topic + "/" + w.type + "/" +
         (w.key ? "k:" + *w.key : std::string("-")) + "/" + w.payload;
}

// A random journal: transactions of 1 to 700 events (many larger than a
// batch), nested sub-transactions committed or rolled back, rolled-back
// transactions, keys, across many 64 KiB segments. Returns the committed
// events as the writer saw them commit.
std::vector<Want> WriteRandom(Journal& j, std::mt19937_64& rng) {
  std::vector<Want> want;
  const char* topics[] = {"a", "b", "c"};
  for (int t = 0; t < 250; ++t) {
    auto tx = j.begin();
    REQUIRE(tx.ok());
    // Pending events per open level; a sub-transaction's go to its parent
    // when it commits.
    std::vector<std::vector<Want>> levels(1);
    const int n = 1 + static_cast<int>(rng() % (t % 8 == 0 ? 700 : 12));
    const bool subs = t % 3 != 0;
    auto make = [&](const char* type) {
      Want w{0, 0, topics[rng() % 3], type, std::string(rng() % 200, static_cast<char>('a' + rng() % 26)), {}};
      if (rng() % 4 == 0) w.key = "key" + std::to_string(rng() % 1000);
      return w;
    };
    auto append = [](Transaction& level, const Want& w) {
      return level.append(w.topic, w.type, w.payload,
                          {.key = w.key ? std::optional<std::string_view>(*w.key) : std::nullopt});
    };
    for (int i = 0; i < n; ++i) {
      Want w = make(rng() % 2 ? "x" : "y");
      TXJ_REQUIRE_OK(append(*tx, w));
      levels[0].push_back(w);
      if (subs && rng() % 9 == 0) {
        auto sub = test::RequireOk(tx->begin());
        levels.emplace_back();
        const int m = 1 + static_cast<int>(rng() % 5);
        for (int k = 0; k < m; ++k) {
          Want s = make("s");
          TXJ_REQUIRE_OK(append(*sub, s));
          levels.back().push_back(s);
        }
        if (rng() % 3 == 0) {
          auto inner = test::RequireOk(sub->begin());
          Want s = make("inner");
          TXJ_REQUIRE_OK(append(*inner, s));
          if (rng() % 2) {
            TXJ_REQUIRE_OK(inner->commit());
            levels.back().push_back(s);
          } else {
            TXJ_REQUIRE_OK(inner->rollback());
          }
        }
        std::vector<Want> mine = std::move(levels.back());
        levels.pop_back();
        if (rng() % 2) {
          TXJ_REQUIRE_OK(sub->commit());
          levels[0].insert(levels[0].end(), mine.begin(), mine.end());
        } else {
          TXJ_REQUIRE_OK(sub->rollback());
        }
      }
    }
    if (rng() % 6 == 0) {
      TXJ_REQUIRE_OK(tx->rollback());
      continue;
    }
    auto info = test::RequireOk(tx->commit());
    REQUIRE(info->count == levels[0].size());
    for (std::size_t i = 0; i < levels[0].size(); ++i) {
      Want w = levels[0][i];
      w.offset = info->first_offset + i;
      w.txn_id = info->txn_id;
      want.push_back(std::move(w));
    }
  }
  return want;
}

// Reads from `from` with `filter`: next_batch() with batches of `batch`
// events (0: next() only; a negative size alternates next() and batches of
// -batch events).
std::vector<std::string> ReadAll(Journal& j, std::uint64_t from, const Filter& filter, int batch) {
  auto c = j.open_cursor(from, filter);
  REQUIRE(c.ok());
  std::vector<std::string> got;
  std::vector<Event> buf(static_cast<std::size_t>(std::max(1, std::abs(batch))));
  for (int call = 0;; ++call) {
    if (batch == 0 || (batch < 0 && call % 2 == 0)) {
      auto e = test::RequireOk(c->next());
      if (!e->has_value()) {
        if (batch == 0) break;
        continue;
      }
      got.push_back(Key(**e));
      CHECK(c->position() == (**e).offset + 1);
      continue;
    }
    auto n = test::RequireOk(c->next_batch(buf));
    if (*n == 0) break;
    REQUIRE(*n <= buf.size());
    for (std::size_t i = 0; i < *n; ++i) got.push_back(Key(buf[i]));
    CHECK(c->position() >= buf[*n - 1].offset + 1);
  }
  return got;
}

TEST_CASE_FIXTURE(test::FreshJournal, "replay through next, next_batch of any size and both mixed hands out exactly the events the writer committed") {
  std::mt19937_64 rng(test::Seed());
  const std::vector<Want> all = WriteRandom(*j, rng);
  REQUIRE(all.size() > 1000);
  std::vector<Filter> filters = {Filter::all(), Filter::for_topics({"b"})};
  Filter types;
  types.types = {"s", "inner"};
  filters.push_back(types);
  for (const std::uint64_t from : {std::uint64_t{0}, std::uint64_t{1}, all[all.size() / 3].offset + 5,
                                   all.back().offset, all.back().offset + 1}) {
    for (std::size_t f = 0; f < filters.size(); ++f) {
      std::vector<std::string> want;
      for (const Want& w : all) {
        if (w.offset >= from && filters[f].matches(w.topic, w.type)) want.push_back(Key(w));
      }
      for (int batch : {0, 1, 2, 7, 99, 100, 101, 256, 1000, -3, -130}) {
        INFO("from ", from, ", filter ", f, ", batch ", batch);
        const std::vector<std::string> got = ReadAll(*j, from, filters[f], batch);
        std::size_t i = 0;
        while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
        INFO("read ", got.size(), " events, want ", want.size(), "; first difference at ", i, ": ",
             (i < got.size() ? got[i] : std::string("(end)")), " against ", (i < want.size() ? want[i] : std::string("(end)")));
        CHECK(got == want);
      }
    }
  }
}

// Three readers follow a writer step by step: one through next(), one
// through batches of random sizes, one alternating both. After every step
// of the writer (an append, a sub-transaction begun, committed or rolled
// back, a top-level commit or rollback, an unfinished transaction left
// open across segment rolls) each reader drains what it can read, and what
// it holds must be exactly the events committed so far: nothing of a
// transaction still open, nothing rolled back, offsets dense.
TEST_CASE_FIXTURE(test::FreshJournal, "readers that drain after every step of a writer hold exactly the events committed so far") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  struct Reader {
    Cursor c;
    int mode;  // 0 next(), 1 batches, 2 both alternately
    std::vector<std::string> got;
    std::size_t checked = 0;  // got[0, checked) matched already
  };
  std::vector<Reader> readers;
  for (int mode = 0; mode < 3; ++mode) readers.push_back({test::RequireOk(j->open_cursor(0)).value(), mode, {}, 0});
  std::vector<Event> buf(300);
  auto drain = [&](Reader& r) {
    for (int call = 0;; ++call) {
      if (r.mode == 0 || (r.mode == 2 && call % 2 == 0)) {
        auto e = test::RequireOk(r.c.next());
        if (!e->has_value()) {
          if (r.mode == 0 || call > 0) return;
          continue;
        }
        r.got.push_back(Key(**e));
        continue;
      }
      const std::size_t n = 1 + rng() % buf.size();
      auto k = test::RequireOk(r.c.next_batch(std::span<Event>(buf.data(), n)));
      if (*k == 0) return;
      for (std::size_t i = 0; i < *k; ++i) r.got.push_back(Key(buf[i]));
    }
  };
  std::vector<std::string> committed;
  auto check_all = [&](int step) {
    for (Reader& r : readers) {
      drain(r);
      INFO("step ", step, ", reader ", r.mode, ": read ", r.got.size(), ", committed ", committed.size());
      REQUIRE(r.got.size() == committed.size());
      for (; r.checked < committed.size(); ++r.checked) {
        INFO("event ", r.checked);
        REQUIRE(r.got[r.checked] == committed[r.checked]);
      }
    }
  };
  const char* topics[] = {"a", "b"};
  int step = 0;
  for (int t = 0; t < test::Scaled(120); ++t) {
    std::vector<Transaction> open;
    open.push_back(test::RequireOk(j->begin()).value());
    std::vector<std::vector<Want>> levels(1);
    const int ops = 1 + static_cast<int>(rng() % (t % 10 == 0 ? 400 : 30));
    for (int op = 0; op < ops; ++op) {
      const unsigned pick = static_cast<unsigned>(rng() % 10);
      if (pick < 6 || (open.size() == 1 && pick < 8)) {
        Want w{0, 0, topics[rng() % 2], open.size() > 1 ? "sub" : "top",
               std::string(rng() % 300, static_cast<char>('a' + rng() % 26)), {}};
        if (rng() % 3 == 0) w.key = "k" + std::to_string(rng() % 100);
        TXJ_REQUIRE_OK(open.back().append(w.topic, w.type, w.payload,
                                          {.key = w.key ? std::optional<std::string_view>(*w.key) : std::nullopt}));
        levels.back().push_back(std::move(w));
      } else if (pick < 8 && open.size() < 4) {
        open.push_back(test::RequireOk(open.back().begin()).value());
        levels.emplace_back();
      } else if (open.size() > 1) {
        std::vector<Want> mine = std::move(levels.back());
        levels.pop_back();
        if (rng() % 2) {
          TXJ_REQUIRE_OK(open.back().commit());
          levels.back().insert(levels.back().end(), mine.begin(), mine.end());
        } else {
          TXJ_REQUIRE_OK(open.back().rollback());
        }
        open.pop_back();
      }
      if (rng() % 4 == 0) check_all(++step);  // mid-transaction: nothing new
    }
    while (open.size() > 1) {
      TXJ_REQUIRE_OK(open.back().commit());
      std::vector<Want> mine = std::move(levels.back());
      levels.pop_back();
      levels.back().insert(levels.back().end(), mine.begin(), mine.end());
      open.pop_back();
    }
    check_all(++step);
    if (rng() % 5 == 0) {
      TXJ_REQUIRE_OK(open.back().rollback());
    } else {
      auto info = test::RequireOk(open.back().commit());
      REQUIRE(info->count == levels[0].size());
      for (std::size_t i = 0; i < levels[0].size(); ++i) {
        levels[0][i].offset = info->first_offset + i;
        levels[0][i].txn_id = info->txn_id;
        committed.push_back(Key(levels[0][i]));
      }
    }
    check_all(++step);
  }
  REQUIRE(committed.size() > static_cast<std::size_t>(test::Scaled(100)));
}

TEST_CASE_FIXTURE(test::FreshJournal, "a batch never holds events of a transaction rolled back or not committed yet, not even past the count") {
  {
    auto tx = j->begin();
    REQUIRE(tx.ok());
    for (int i = 0; i < 30; ++i) TXJ_REQUIRE_OK(tx->append("t", "committed", std::to_string(i)));
    TXJ_REQUIRE_OK(tx->commit());
  }
  {
    auto tx = j->begin();
    REQUIRE(tx.ok());
    for (int i = 0; i < 40; ++i) TXJ_REQUIRE_OK(tx->append("t", "rolled back", std::to_string(i)));
    TXJ_REQUIRE_OK(tx->rollback());
  }
  // A transaction being written: its records are in the shared mapping
  // already (durability kNone writes them there as they come).
  auto open = j->begin();
  REQUIRE(open.ok());
  for (int i = 0; i < 50; ++i) TXJ_REQUIRE_OK(open->append("t", "open", std::to_string(i)));
  auto c = j->open_cursor(0);
  REQUIRE(c.ok());
  const Event sentinel{7, 7, 7, 7, "sentinel", "sentinel", std::nullopt, "sentinel"};
  std::vector<Event> buf(256, sentinel);
  auto n = test::RequireOk(c->next_batch(buf));
  CHECK(*n == 30);
  for (std::size_t i = 0; i < buf.size(); ++i) {
    INFO("slot ", i);
    CHECK(buf[i].type != "open");
    CHECK(buf[i].type != "rolled back");
  }
  std::fill(buf.begin(), buf.end(), sentinel);
  n = c->next_batch(buf);
  TXJ_REQUIRE_OK(n);
  CHECK(*n == 0);
  for (const Event& e : buf) CHECK((e.type != "open" && e.type != "rolled back"));
  auto e = test::RequireOk(c->next());
  CHECK_FALSE(e->has_value());
  // Once it commits, its events come.
  TXJ_REQUIRE_OK(open->commit());
  n = c->next_batch(buf);
  TXJ_REQUIRE_OK(n);
  CHECK(*n == 50);
  CHECK(buf[0].offset == 30);
  CHECK(buf[49].type == "open");
}

TEST_CASE_FIXTURE(test::FreshJournal, "a damaged record inside a committed transaction hands out none of that transaction's events") {
  for (int t = 0; t < 2; ++t) {
    auto tx = j->begin();
    REQUIRE(tx.ok());
    for (int i = 0; i < 100; ++i) TXJ_REQUIRE_OK(tx->append("t", t == 0 ? "good" : "damaged", std::string(40, 'p')));
    TXJ_REQUIRE_OK(tx->commit());
  }
  // The 60th event of the second transaction: one byte of its payload
  // flipped in the file (the cursor's mapping shares the page).
  std::uint64_t lsn = 0;
  {
    auto c = j->open_cursor(159);
    REQUIRE(c.ok());
    auto e = test::RequireOk(c->next());
    REQUIRE(e->has_value());
    lsn = (**e).lsn + 60;
  }
  std::string seg;
  std::uint64_t base = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = f.path().filename().string();
    if (name.size() != 20 || name.substr(16) != ".seg") continue;
    const std::uint64_t b = std::stoull(name.substr(0, 16), nullptr, 16);
    if (b <= lsn && (seg.empty() || b > base)) {
      seg = f.path().string();
      base = b;
    }
  }
  REQUIRE(!seg.empty());
  const int fd = ::open(seg.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  char byte = 0;
  REQUIRE(::pread(fd, &byte, 1, static_cast<off_t>(lsn - base)) == 1);
  byte ^= 0x20;
  REQUIRE(::pwrite(fd, &byte, 1, static_cast<off_t>(lsn - base)) == 1);
  ::close(fd);

  const Event sentinel{7, 7, 7, 7, "sentinel", "sentinel", std::nullopt, "sentinel"};
  std::vector<Event> buf(256, sentinel);
  auto c = j->open_cursor(0);
  REQUIRE(c.ok());
  auto n = test::RequireOk(c->next_batch(buf));
  CHECK(*n == 100);
  for (const Event& e : buf) CHECK(e.type != "damaged");
  n = c->next_batch(buf);
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().code() == Code::kCorruption);
  CHECK(n.status().message().find(std::filesystem::path(seg).filename().string()) != std::string::npos);
  for (const Event& e : buf) CHECK(e.type != "damaged");

  auto c2 = j->open_cursor(0);
  REQUIRE(c2.ok());
  int good = 0;
  for (;;) {
    auto e = c2->next();
    if (!e.ok()) {
      CHECK(e.status().code() == Code::kCorruption);
      break;
    }
    REQUIRE(e->has_value());
    CHECK((**e).type == "good");
    ++good;
  }
  CHECK(good == 100);
  // The error stays: the cursor does not skip the damaged transaction.
  auto again = c2->next();
  CHECK(again.status().code() == Code::kCorruption);
}

}  // namespace
}  // namespace txj
