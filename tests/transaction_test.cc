// Nested transaction semantics, through the public API.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "format.h"
#include "journal_state.h"
#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

std::vector<std::string> ReadAllPayloads(Journal& j, std::uint64_t from = 0) {
  std::vector<std::string> out;
  auto c = j.open_cursor(from);
  REQUIRE(c.ok());
  for (;;) {
    auto e = c->next();
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    out.emplace_back((**e).payload);
  }
  return out;
}

}  // namespace

TEST_CASE_FIXTURE(test::FreshJournal, "a committed sub-transaction's events become visible with its parent's commit") {
  auto tx = test::RequireOk(j->begin());
  TXJ_CHECK_OK(tx->append("t", "a", "1"));
  auto sub = test::RequireOk(tx->begin());
  TXJ_CHECK_OK(sub->append("t", "b", "2"));
  TXJ_CHECK_OK(sub->commit());
  CHECK(ReadAllPayloads(*j).empty());
  auto info = test::RequireOk(tx->commit());
  CHECK(info->first_offset == 0);
  CHECK(info->count == 2);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"1", "2"});
}

TEST_CASE_FIXTURE(test::FreshJournal, "a rolled-back sub-transaction discards its committed descendants and the parent goes on") {
  auto tx = test::RequireOk(j->begin());
  TXJ_CHECK_OK(tx->append("t", "a", "keep-1"));
  auto sub = test::RequireOk(tx->begin());
  TXJ_CHECK_OK(sub->append("t", "a", "drop-1"));
  auto subsub = test::RequireOk(sub->begin());
  TXJ_CHECK_OK(subsub->append("t", "a", "drop-2"));
  TXJ_CHECK_OK(subsub->commit());
  TXJ_CHECK_OK(sub->rollback());
  TXJ_CHECK_OK(tx->append("t", "a", "keep-2"));
  CHECK(test::RequireOk(tx->commit())->count == 2);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"keep-1", "keep-2"});
}

TEST_CASE_FIXTURE(test::FreshJournal, "ending a parent while a child is open is an invalid-state error") {
  auto tx = test::RequireOk(j->begin());
  auto sub = test::RequireOk(tx->begin());
  CHECK(tx->commit().status().code() == Code::kInvalidState);
  CHECK(tx->rollback().code() == Code::kInvalidState);
  CHECK(tx->append("t", "a", "x").code() == Code::kInvalidState);
  TXJ_CHECK_OK(sub->commit());
  CHECK(sub->append("t", "a", "x").code() == Code::kInvalidState);
  TXJ_CHECK_OK(tx->commit());
  CHECK(tx->commit().status().code() == Code::kInvalidState);
}

// ---------------------------------------------------------------------------
// Nesting

namespace {

struct Seen {
  std::uint64_t offset, txn_id;
  std::string topic, type, payload;
  std::optional<std::string> key;
};

std::vector<Seen> ReadAll(Journal& j, std::uint64_t from = 0) {
  std::vector<Seen> out;
  for (auto& e : test::ReadAllEvents(j, from)) {
    out.push_back({e.offset, e.txn_id, std::move(e.topic), std::move(e.type), std::move(e.payload), std::move(e.key)});
  }
  return out;
}

}  // namespace

TEST_CASE_FIXTURE(test::FreshJournal, "sub-transactions nest deeper than ten levels and commit level by level") {
  auto top = test::RequireOk(j->begin());
  std::vector<Transaction> chain;
  chain.push_back(std::move(top).value());
  const int kDepth = 40;
  std::vector<std::string> want;
  for (int d = 0; d <= kDepth; ++d) {
    TXJ_REQUIRE_OK(chain.back().append("deep", "level", "d" + std::to_string(d)));
    want.push_back("d" + std::to_string(d));
    if (d == kDepth) break;
    auto sub = test::RequireOk(chain.back().begin());
    CHECK(sub->depth() == static_cast<std::uint32_t>(d + 1));
    CHECK(sub->sub_id() == static_cast<std::uint32_t>(d + 1));
    CHECK(sub->id() == chain[0].id());
    CHECK_FALSE(sub->is_top_level());
    chain.push_back(std::move(sub).value());
  }
  // Commit from the innermost out: each commit hands its events (and those
  // of its descendants) to its parent.
  for (int d = kDepth; d >= 1; --d) {
    auto info = test::RequireOk(chain.back().commit());
    CHECK(info->count == static_cast<std::uint64_t>(kDepth - d + 1));
    CHECK(info->sub_id == static_cast<std::uint32_t>(d));
    CHECK(info->first_offset == 0);
    chain.pop_back();
  }
  CHECK(ReadAllPayloads(*j).empty());
  auto info = test::RequireOk(chain[0].commit());
  CHECK(info->count == static_cast<std::uint64_t>(kDepth + 1));
  CHECK(ReadAllPayloads(*j) == want);
}

TEST_CASE_FIXTURE(test::FreshJournal, "rolling back a middle level of a deep chain discards everything below it, levels above go on") {
  auto top = test::RequireOk(j->begin());
  std::vector<Transaction> chain;
  chain.push_back(std::move(top).value());
  for (int d = 0; d < 12; ++d) {
    TXJ_REQUIRE_OK(chain.back().append("t", "x", "d" + std::to_string(d)));
    auto sub = test::RequireOk(chain.back().begin());
    chain.push_back(std::move(sub).value());
  }
  TXJ_REQUIRE_OK(chain.back().append("t", "x", "d12"));
  // Commit levels 12..7 into level 6, then roll level 6 back.
  for (int d = 12; d > 6; --d) {
    TXJ_REQUIRE_OK(chain.back().commit());
    chain.pop_back();
  }
  TXJ_REQUIRE_OK(chain.back().rollback());
  chain.pop_back();
  // Level 5 goes on: more events and a new sub-transaction.
  TXJ_REQUIRE_OK(chain.back().append("t", "x", "d5-after"));
  {
    test::CommitOne(chain.back(), "t", "x", "d6-new");
  }
  while (chain.size() > 1) {
    TXJ_REQUIRE_OK(chain.back().commit());
    chain.pop_back();
  }
  auto info = test::RequireOk(chain[0].commit());
  const std::vector<std::string> want = {"d0", "d1", "d2", "d3", "d4", "d5", "d5-after", "d6-new"};
  CHECK(info->count == want.size());
  CHECK(ReadAllPayloads(*j) == want);
}

TEST_CASE_FIXTURE(test::FreshJournal, "siblings: a rolled-back sub-transaction does not affect committed siblings") {
  auto tx = test::RequireOk(j->begin());
  for (int i = 0; i < 6; ++i) {
    auto sub = test::RequireOk(tx->begin());
    TXJ_REQUIRE_OK(sub->append("t", "x", "s" + std::to_string(i)));
    auto inner = test::RequireOk(sub->begin());
    TXJ_REQUIRE_OK(inner->append("t", "x", "i" + std::to_string(i)));
    test::CommitOrRollBack(*inner, i % 3 == 1);
    test::CommitOrRollBack(*sub, i % 2 == 1);
  }
  TXJ_REQUIRE_OK(tx->commit());
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"s0", "i0", "s2", "i2", "s4"});
}

// ---------------------------------------------------------------------------
// Destroying open handles

TEST_CASE_FIXTURE(test::FreshJournal, "destroying an open top-level handle rolls the transaction back and frees the write slot") {
  std::uint64_t id;
  {
    auto tx = test::RequireOk(j->begin());
    id = tx->id();
    TXJ_REQUIRE_OK(tx->append("t", "x", "gone"));
    auto sub = test::RequireOk(tx->begin());
    TXJ_REQUIRE_OK(sub->append("t", "x", "gone too"));
    // Destroyed in reverse order: sub first (rolled back), then tx.
  }
  {
    auto tx = test::RequireOk(j->begin());
    auto sub = test::RequireOk(tx->begin());
    TXJ_REQUIRE_OK(sub->append("t", "x", "gone 3"));
    // The top-level handle dies first; the sub handle outlives it.
    Transaction keep_sub = std::move(sub).value();
    { Transaction doomed = std::move(tx).value(); }
    CHECK_FALSE(keep_sub.is_open());
    CHECK(keep_sub.append("t", "x", "late").code() == Code::kInvalidState);
    CHECK(keep_sub.commit().status().code() == Code::kInvalidState);
    CHECK(keep_sub.rollback().code() == Code::kInvalidState);
    CHECK(keep_sub.begin().status().code() == Code::kInvalidState);
  }
  auto tx = test::RequireOk(j->try_begin());
  CHECK(tx->id() == id + 2);
  TXJ_REQUIRE_OK(tx->append("t", "x", "kept"));
  auto info = test::RequireOk(tx->commit());
  CHECK(info->first_offset == 0);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"kept"});
  // The rollbacks are durable: a reopen sees the same.
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), test::SmallOptions());
  CHECK(j->recovery_report().repairs.empty());
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"kept"});
}

TEST_CASE_FIXTURE(test::FreshJournal, "destroying an open sub-transaction rolls back it and its open descendants; the parent goes on") {
  auto tx = test::RequireOk(j->begin());
  TXJ_REQUIRE_OK(tx->append("t", "x", "a"));
  Transaction deeper;
  {
    auto sub = test::RequireOk(tx->begin());
    TXJ_REQUIRE_OK(sub->append("t", "x", "b"));
    auto s2 = test::RequireOk(sub->begin());
    TXJ_REQUIRE_OK(s2->append("t", "x", "c"));
    test::CommitOne(*s2, "t", "x", "d");
    auto s3 = test::RequireOk(s2->begin());
    TXJ_REQUIRE_OK(s3->append("t", "x", "e"));
    deeper = std::move(s3).value();  // outlives `sub`
    CHECK(deeper.is_open());
    // s2 and sub die here, s2 first: s2's destruction rolls back s2 and
    // the open s3 below it; then sub.
  }
  CHECK_FALSE(deeper.is_open());
  CHECK(deeper.append("t", "x", "f").code() == Code::kInvalidState);
  CHECK(tx->is_open());
  TXJ_REQUIRE_OK(tx->append("t", "x", "g"));
  CHECK(test::RequireOk(tx->commit())->count == 2);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"a", "g"});
}

TEST_CASE_FIXTURE(test::FreshJournal, "destroying a sub-transaction while its children's handles are alive ends those children") {
  auto tx = test::RequireOk(j->begin());
  auto sub = test::RequireOk(tx->begin());
  TXJ_REQUIRE_OK(sub->append("t", "x", "b"));
  auto child = test::RequireOk(sub->begin());
  auto grandchild = test::RequireOk(child->begin());
  TXJ_REQUIRE_OK(grandchild->append("t", "x", "c"));
  { Transaction doomed = std::move(sub).value(); }  // parent of the open child dies first
  CHECK_FALSE(child->is_open());
  CHECK_FALSE(grandchild->is_open());
  CHECK(grandchild->commit().status().code() == Code::kInvalidState);
  CHECK(child->rollback().code() == Code::kInvalidState);
  // A new sub-transaction after that works and gets a fresh sub id.
  auto again = test::RequireOk(tx->begin());
  CHECK(again->sub_id() == 4);
  TXJ_REQUIRE_OK(again->append("t", "x", "z"));
  TXJ_REQUIRE_OK(again->commit());
  TXJ_REQUIRE_OK(tx->commit());
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"z"});
}

// ---------------------------------------------------------------------------
// Usage errors

TEST_CASE_FIXTURE(test::FreshJournal, "every call on an ended or empty handle is an invalid-state error") {
  auto check_ended = [](Transaction& t) {
    CHECK_FALSE(t.is_open());
    CHECK(t.append("t", "x", "p").code() == Code::kInvalidState);
    CHECK(t.begin().status().code() == Code::kInvalidState);
    CHECK(t.commit().status().code() == Code::kInvalidState);
    CHECK(t.rollback().code() == Code::kInvalidState);
  };
  Transaction empty;
  check_ended(empty);
  CHECK(empty.id() == 0);

  auto committed = test::RequireOk(j->begin());
  auto sub_committed = test::RequireOk(committed->begin());
  TXJ_REQUIRE_OK(sub_committed->commit());
  check_ended(*sub_committed);
  auto sub_rolled = test::RequireOk(committed->begin());
  TXJ_REQUIRE_OK(sub_rolled->rollback());
  check_ended(*sub_rolled);
  TXJ_REQUIRE_OK(committed->commit());
  check_ended(*committed);
  check_ended(*sub_committed);

  auto rolled = test::RequireOk(j->begin());
  TXJ_REQUIRE_OK(rolled->append("t", "x", "p"));
  TXJ_REQUIRE_OK(rolled->rollback());
  check_ended(*rolled);
  CHECK(ReadAll(*j).empty());
  CHECK(j->next_offset() == 0);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a parent with an open child accepts nothing but the end of that child") {
  auto tx = test::RequireOk(j->begin());
  auto a = test::RequireOk(tx->begin());
  auto b = test::RequireOk(a->begin());
  for (Transaction* blocked : {&*tx, &*a}) {
    CHECK(blocked->is_open());
    CHECK(blocked->append("t", "x", "p").code() == Code::kInvalidState);
    CHECK(blocked->begin().status().code() == Code::kInvalidState);
    CHECK(blocked->commit().status().code() == Code::kInvalidState);
    CHECK(blocked->rollback().code() == Code::kInvalidState);
  }
  // Nothing above was written: the structure is still valid.
  TXJ_REQUIRE_OK(b->append("t", "x", "b"));
  TXJ_REQUIRE_OK(b->commit());
  TXJ_REQUIRE_OK(a->append("t", "x", "a"));
  TXJ_REQUIRE_OK(a->commit());
  TXJ_REQUIRE_OK(tx->commit());
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"b", "a"});
  // Closing with an open transaction is refused too.
  auto open = test::RequireOk(j->begin());
  CHECK(j->close().code() == Code::kInvalidState);
  TXJ_REQUIRE_OK(open->rollback());
  TXJ_CHECK_OK(j->close());
}

TEST_CASE_FIXTURE(test::FreshJournal, "moving a transaction handle moves ownership; assigning over an open handle rolls that one back") {
  auto r = test::RequireOk(j->begin());
  Transaction tx(std::move(r).value());
  CHECK(tx.is_open());
  Transaction moved(std::move(tx));
  CHECK_FALSE(tx.is_open());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(tx.append("t", "x", "p").code() == Code::kInvalidState);
  CHECK(moved.is_open());
  TXJ_REQUIRE_OK(moved.append("t", "x", "1"));

  Transaction assigned;
  assigned = std::move(moved);
  CHECK_FALSE(moved.is_open());  // NOLINT(bugprone-use-after-move)
  CHECK(assigned.is_open());
  assigned = std::move(assigned);  // self-move leaves it as it is
  CHECK(assigned.is_open());

  // Assigning a child over its open parent rolls the parent back (with the
  // child, which is its descendant); the target then holds an ended handle.
  auto sub = test::RequireOk(assigned.begin());
  TXJ_REQUIRE_OK(sub->append("t", "x", "2"));
  auto subsub = test::RequireOk(sub->begin());
  TXJ_REQUIRE_OK(subsub->append("t", "x", "3"));
  Transaction s = std::move(sub).value();
  s = std::move(subsub).value();
  CHECK_FALSE(s.is_open());
  CHECK(s.append("t", "x", "4").code() == Code::kInvalidState);
  CHECK(assigned.is_open());
  TXJ_REQUIRE_OK(assigned.append("t", "x", "5"));

  // Handles can live in containers.
  std::vector<Transaction> v;
  auto s2 = test::RequireOk(assigned.begin());
  v.push_back(std::move(s2).value());
  TXJ_REQUIRE_OK(v.back().append("t", "x", "6"));
  for (int i = 0; i < 20; ++i) v.emplace_back();  // reallocations move the open handle
  TXJ_REQUIRE_OK(v[0].commit());
  TXJ_REQUIRE_OK(assigned.commit());
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"1", "5", "6"});
}

// ---------------------------------------------------------------------------
// The write slot

TEST_CASE_FIXTURE(test::FreshJournal, "try_begin is busy and begin_for times out while another transaction is open") {
  auto tx = test::RequireOk(j->begin());
  // From another thread: on this one they are a misuse (see below).
  Code busy = Code::kOk, timed = Code::kOk;
  std::chrono::steady_clock::duration waited{};
  std::thread([&] {
    busy = j->try_begin().status().code();
    const auto t0 = std::chrono::steady_clock::now();
    timed = j->begin_for(std::chrono::milliseconds(50)).status().code();
    waited = std::chrono::steady_clock::now() - t0;
  }).join();
  CHECK(busy == Code::kBusy);
  CHECK(timed == Code::kTimedOut);
  CHECK(waited >= std::chrono::milliseconds(45));
  CHECK(waited < std::chrono::seconds(5));
  // The open transaction was not disturbed.
  TXJ_REQUIRE_OK(tx->append("t", "x", "p"));
  TXJ_REQUIRE_OK(tx->commit());
  auto next = test::RequireOk(j->try_begin());
  CHECK(next->id() == tx->id() + 1);
  TXJ_REQUIRE_OK(next->rollback());
  auto quick = test::RequireOk(j->begin_for(std::chrono::milliseconds(1)));
  TXJ_REQUIRE_OK(quick->rollback());
}

TEST_CASE_FIXTURE(test::FreshJournal, "begin on the thread that holds the open write transaction is an invalid-state error, not a wait forever") {
  auto tx = test::RequireOk(j->begin());
  TXJ_REQUIRE_OK(tx->append("t", "x", "kept"));
  // Bounded calls first, so that before the fix this test fails instead of
  // hanging in begin().
  auto timed = j->begin_for(std::chrono::milliseconds(20));
  INFO("begin_for: ", timed.status().ToString());
  REQUIRE(timed.status().code() == Code::kInvalidState);
  CHECK(timed.status().message().find("this thread") != std::string::npos);
  CHECK(timed.status().message().find("transaction " + std::to_string(tx->id())) != std::string::npos);
  auto tried = j->try_begin();
  REQUIRE(tried.status().code() == Code::kInvalidState);
  auto waited = j->begin();
  REQUIRE(waited.status().code() == Code::kInvalidState);
  CHECK(waited.status().message().find(dir.path()) != std::string::npos);
  // Another thread still waits its turn (busy for try_begin).
  Code other = Code::kOk;
  std::thread([&] { other = j->try_begin().status().code(); }).join();
  CHECK(other == Code::kBusy);
  // The open transaction was not disturbed, and the slot frees as usual.
  TXJ_REQUIRE_OK(tx->commit());
  test::CommitOne(*j, "t", "x", "second");
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"kept", "second"});
}

TEST_CASE("begin from a second thread waits for the open transaction and proceeds after its commit") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  auto tx = test::RequireOk(j->begin());
  TXJ_REQUIRE_OK(tx->append("t", "x", "first"));
  std::atomic<bool> got{false};
  Status thread_status;
  std::uint64_t thread_first = 0;
  std::thread other([&] {
    auto t2 = j->begin();
    if (!t2.ok()) {
      thread_status = t2.status();
      return;
    }
    got = true;
    thread_status = t2->append("t", "x", "second");
    if (!thread_status.ok()) return;
    auto info = t2->commit();
    thread_status = info.status();
    if (info.ok()) thread_first = info->first_offset;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  CHECK_FALSE(got.load());
  TXJ_REQUIRE_OK(tx->commit());
  other.join();
  CHECK(got.load());
  TXJ_CHECK_OK(thread_status);
  CHECK(thread_first == 1);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"first", "second"});
}

TEST_CASE("many threads taking turns at the write slot commit every transaction exactly once") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  constexpr int kThreads = 4, kEach = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto tx = (i % 3 == 0) ? j->begin_for(std::chrono::seconds(30)) : j->begin();
        if (!tx.ok()) {
          ++failures;
          continue;
        }
        auto sub = tx->begin();
        if (!sub.ok() || !sub->append("t", std::to_string(t), std::to_string(i)).ok() || !sub->commit().ok() ||
            !tx->commit().ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  CHECK(failures.load() == 0);
  auto all = ReadAll(*j);
  REQUIRE(all.size() == kThreads * kEach);
  std::vector<int> next(kThreads, 0);
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].offset == i);
    const int t = std::stoi(all[i].type);
    CHECK(std::stoi(all[i].payload) == next[static_cast<std::size_t>(t)]++);  // each thread's order kept
    if (i > 0) CHECK(all[i].txn_id > all[i - 1].txn_id);
  }
}

// ---------------------------------------------------------------------------
// Argument checks

TEST_CASE("invalid topics, types and keys are rejected and the transaction stays usable") {
  TempDir dir;
  Options o = test::SmallOptions();
  o.segment_size = 1 << 20;  // room for the longest key
  auto j = test::OpenOrDie(dir.path(), o);
  auto tx = test::RequireOk(j->begin());
  auto sub = test::RequireOk(tx->begin());
  const std::string too_long(256, 't');
  const std::vector<std::string> bad_topics = {
      "",
      too_long,
      std::string("a\nb"),
      std::string("tab\there"),
      std::string("nul\0x", 5),
      std::string("del\x7f"),
      std::string("\xc3"),              // truncated sequence
      std::string("\xff\xfe"),          // never valid
      std::string("\xc0\xaf"),          // overlong
      std::string("\xed\xa0\x80"),      // surrogate
      std::string("\xf4\x90\x80\x80"),  // beyond U+10FFFF
  };
  for (Transaction* t : {&*sub, &*tx}) {
    if (t == &*tx) TXJ_REQUIRE_OK(sub->commit());  // the parent is usable once the child ended
    for (const auto& topic : bad_topics) {
      INFO("topic bytes: ", topic.size());
      CHECK(t->append(topic, "x", "p").code() == Code::kInvalidArgument);
    }
    CHECK(t->append("ok", std::string(256, 'y'), "p").code() == Code::kInvalidArgument);
    CHECK(t->append("ok", "bad\x01type", "p").code() == Code::kInvalidArgument);
    CHECK(t->append("ok", "\xe2\x82", "p").code() == Code::kInvalidArgument);
    const std::string long_key(kMaxKeyLength + 1, 'k');
    CHECK(t->append("ok", "x", "p", {.key = std::string_view(long_key)}).code() == Code::kInvalidArgument);
    CHECK(t->is_open());
  }
  // Limits are inclusive; multi-byte UTF-8 counts bytes.
  const std::string max_topic(kMaxTopicLength, 't');
  std::string utf8_topic;
  while (utf8_topic.size() + 3 <= kMaxTopicLength) utf8_topic += "\xe2\x82\xac";  // euro sign
  const std::string max_key(kMaxKeyLength, 'k');
  TXJ_REQUIRE_OK(tx->append(max_topic, std::string(kMaxTypeLength, 'y'), "p1"));
  TXJ_REQUIRE_OK(tx->append(utf8_topic, "", "p2", {.key = std::string_view(max_key)}));
  TXJ_REQUIRE_OK(tx->append("ördér 日本", "тип", "p3", {.key = std::string_view("")}));
  auto info = test::RequireOk(tx->commit());
  CHECK(info->count == 3);
  auto all = ReadAll(*j);
  REQUIRE(all.size() == 3);
  CHECK(all[0].topic == max_topic);
  CHECK(all[0].type == std::string(kMaxTypeLength, 'y'));
  CHECK_FALSE(all[0].key.has_value());
  CHECK(all[1].topic == utf8_topic);
  CHECK(all[1].type.empty());
  CHECK(all[1].key == max_key);
  CHECK(all[2].topic == "ördér 日本");
  CHECK(all[2].key == std::string());
}

TEST_CASE("a payload bigger than a segment is rejected; the largest that fits is accepted") {
  TempDir dir;
  Options o = test::SmallOptions();
  auto j = test::OpenOrDie(dir.path(), o);
  auto tx = test::RequireOk(j->begin());
  TXJ_REQUIRE_OK(tx->append("t", "x", "small"));
  const std::string huge(o.segment_size + 1, 'h');
  CHECK(tx->append("t", "x", huge).code() == Code::kInvalidArgument);
  CHECK(tx->append("t", "x", std::string(o.segment_size - 100, 'h')).code() == Code::kInvalidArgument);
  // The largest record a segment takes: the segment minus its header page and
  // the reserve kept at its end for a rollback and a segment-end marker.
  const std::uint64_t max_record = o.segment_size - format::kSegmentHeaderSize - internal::kTailReserve;
  const std::uint64_t fixed = format::kRecordHeaderSize + sizeof(format::EventBody) + 1 + 1;  // topic "t", type "x"
  const std::string fits(max_record - fixed, 'f');
  CHECK(tx->append("t", "x", fits + "!").code() == Code::kInvalidArgument);
  TXJ_REQUIRE_OK(tx->append("t", "x", fits));
  auto sub = test::RequireOk(tx->begin());
  CHECK(sub->append("t", "x", huge).code() == Code::kInvalidArgument);
  TXJ_REQUIRE_OK(sub->append("t", "x", fits));
  TXJ_REQUIRE_OK(sub->commit());
  TXJ_REQUIRE_OK(tx->append("t", "x", "after"));
  auto info = test::RequireOk(tx->commit());
  CHECK(info->count == 4);
  auto all = ReadAll(*j);
  REQUIRE(all.size() == 4);
  CHECK(all[0].payload == "small");
  CHECK(all[1].payload == fits);
  CHECK(all[2].payload == fits);
  CHECK(all[3].payload == "after");
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(ReadAll(*j).size() == 4);
}

// ---------------------------------------------------------------------------
// CommitInfo and big transactions

TEST_CASE_FIXTURE(test::FreshJournal, "commit info: increasing ids, dense first offsets, counts and the LSN past the marker") {
  std::uint64_t last_id = 0, next_offset = 0, last_lsn = 0;
  for (int i = 0; i < 60; ++i) {
    auto tx = test::RequireOk(j->begin());
    CHECK(tx->id() > last_id);
    CHECK(tx->is_top_level());
    CHECK(tx->depth() == 0);
    CHECK(tx->sub_id() == 0);
    const int n = i % 7;
    for (int k = 0; k < n; ++k) TXJ_REQUIRE_OK(tx->append("t", "x", std::string(static_cast<std::size_t>(i * 97 % 3000), 'p')));
    if (i % 5 == 4) {
      TXJ_REQUIRE_OK(tx->rollback());
      last_id = tx->id();
      continue;
    }
    auto info = test::RequireOk(tx->commit());
    CHECK(info->txn_id == tx->id());
    CHECK(info->sub_id == 0);
    CHECK(info->first_offset == next_offset);  // also for empty commits: the next event's offset
    CHECK(info->count == static_cast<std::uint64_t>(n));
    CHECK(info->lsn > last_lsn);
    CHECK(info->lsn == j->visible_lsn());
    CHECK(j->next_offset() == next_offset + static_cast<std::uint64_t>(n));
    last_id = info->txn_id;
    last_lsn = info->lsn;
    next_offset += static_cast<std::uint64_t>(n);
  }
  auto all = ReadAll(*j);
  CHECK(all.size() == next_offset);
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i].offset == i);
}

TEST_CASE("a transaction bigger than many segments streams across segment rolls and reads back") {
  TempDir dir;
  Options o = test::SmallOptions(Durability::kCommit);
  auto j = test::OpenOrDie(dir.path(), o);
  std::mt19937_64 rng(test::Seed());
  auto make = [&](std::size_t n, std::uint64_t tag) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((tag * 131 + i * 7) & 0xff);
    return s;
  };
  // 2 MiB in events of random sizes, with a rolled-back sub-transaction in the
  // middle that spans segments too.
  auto tx = test::RequireOk(j->begin());
  std::vector<std::string> want;
  std::uint64_t bytes = 0, tag = 0;
  while (bytes < (2u << 20)) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 20000)(rng);
    std::string p = make(n, tag++);
    TXJ_REQUIRE_OK(tx->append("big", "chunk", p));
    want.push_back(std::move(p));
    bytes += n;
    if (tag == 40) {
      auto sub = test::RequireOk(tx->begin());
      for (int k = 0; k < 30; ++k) TXJ_REQUIRE_OK(sub->append("big", "dropped", make(15000, 999)));
      TXJ_REQUIRE_OK(sub->rollback());
    }
  }
  CHECK(ReadAll(*j).empty());
  auto info = test::RequireOk(tx->commit());
  CHECK(info->count == want.size());
  CHECK(info->lsn > 32 * o.segment_size);
  auto check = [&](Journal& jj) {
    auto all = ReadAll(jj);
    REQUIRE(all.size() == want.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(all[i].offset == i);
      CHECK(all[i].type == "chunk");
      CHECK(all[i].payload == want[i]);
    }
    // A cursor positioned in the middle of the transaction.
    auto mid = ReadAll(jj, want.size() / 2);
    REQUIRE(mid.size() == want.size() - want.size() / 2);
    CHECK(mid[0].payload == want[want.size() / 2]);
  };
  check(*j);
  // A big rolled-back transaction leaves nothing.
  auto tx2 = test::RequireOk(j->begin());
  for (int k = 0; k < 200; ++k) TXJ_REQUIRE_OK(tx2->append("big", "chunk", make(10000, 7)));
  TXJ_REQUIRE_OK(tx2->rollback());
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(j->recovery_report().repairs.empty());
  CHECK(j->next_offset() == want.size());
  check(*j);
}

// ---------------------------------------------------------------------------
// Group commit and visibility

namespace {

// Passes every call to the POSIX file system; the next DataSync after
// arm() sleeps first.
class SlowSyncFs final : public test::ForwardingFileSystem {
 public:
  void arm(std::chrono::milliseconds d) {
    delay_ = d;
    armed_ = true;
  }
  int DataSync(int fd) override {
    if (armed_.exchange(false)) std::this_thread::sleep_for(delay_);
    return base_->DataSync(fd);
  }

 private:
  std::atomic<bool> armed_{false};
  std::chrono::milliseconds delay_{0};
};

}  // namespace

TEST_CASE("a commit is visible when commit() returns, also when a segment seal made it durable first") {
  // Committer C syncs slowly; committer A waits behind C's sync (group
  // commit); meanwhile a third transaction fills the segment and the
  // background thread seals it, which makes A's commit durable. When A's
  // commit() returns, readers must see it.
  TempDir dir;
  auto slow = std::make_shared<SlowSyncFs>();
  Options o = test::SmallOptions(Durability::kCommit);
  o.file_system = slow;
  auto j = test::OpenOrDie(dir.path(), o);
  Result<CommitInfo> c_info = Status::Cancelled("not run"), a_info = Status::Cancelled("not run");
  std::uint64_t visible_after_a = 0, next_offset_after_a = 0;
  std::atomic<bool> c_holds_slot{false}, a_holds_slot{false};
  auto wait_for = [](std::atomic<bool>& flag) {
    while (!flag.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  // The order of the three transactions is fixed by the write slot; the
  // sleeps only make the interleaving that matters likely.
  std::thread c([&] {
    auto tx = j->begin();
    c_holds_slot = true;
    if (!tx.ok() || !tx->append("t", "x", "C").ok()) return;
    slow->arm(std::chrono::milliseconds(300));
    c_info = tx->commit();
  });
  wait_for(c_holds_slot);
  std::this_thread::sleep_for(std::chrono::milliseconds(40));
  std::thread a([&] {
    auto tx = j->begin();
    a_holds_slot = true;
    if (!tx.ok() || !tx->append("t", "x", "A").ok()) return;
    a_info = tx->commit();
    visible_after_a = j->visible_lsn();
    next_offset_after_a = j->next_offset();
  });
  wait_for(a_holds_slot);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  {
    auto b = j->begin();  // after A released the write slot
    TXJ_REQUIRE_OK(b);
    TXJ_REQUIRE_OK(b->append("t", "x", std::string(40000, 'b')));
    TXJ_REQUIRE_OK(b->append("t", "x", std::string(40000, 'b')));  // rolls to the next segment
    a.join();
    TXJ_REQUIRE_OK(b->rollback());
  }
  c.join();
  TXJ_REQUIRE_OK(c_info);
  TXJ_REQUIRE_OK(a_info);
  CHECK(a_info->first_offset == 1);
  CHECK(visible_after_a >= a_info->lsn);
  CHECK(next_offset_after_a == 2);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"C", "A"});
}

TEST_CASE("sub-transactions nest to the record format's limit of 65535 levels, and no deeper") {
  TempDir dir;
  Options o = test::SmallOptions();
  o.segment_size = 1 << 20;
  auto j = test::OpenOrDie(dir.path(), o);
  auto top = test::RequireOk(j->begin());
  std::vector<Transaction> chain;
  chain.reserve(65536);
  chain.push_back(std::move(top).value());
  while (chain.size() <= 65535) {
    auto sub = test::RequireOk(chain.back().begin());
    chain.push_back(std::move(sub).value());
  }
  CHECK(chain.back().depth() == 65535);
  TXJ_REQUIRE_OK(chain.back().append("deep", "x", "bottom"));
  auto deeper = chain.back().begin();
  CHECK(deeper.status().code() == Code::kInvalidArgument);
  CHECK(chain.back().is_open());  // still usable
  // Roll back the middle: the bottom event goes with it; commit the rest.
  while (chain.size() > 30001) {
    TXJ_REQUIRE_OK(chain.back().commit());
    chain.pop_back();
  }
  TXJ_REQUIRE_OK(chain.back().rollback());
  chain.pop_back();
  TXJ_REQUIRE_OK(chain.back().append("deep", "x", "kept"));
  while (chain.size() > 1) {
    TXJ_REQUIRE_OK(chain.back().commit());
    chain.pop_back();
  }
  auto info = test::RequireOk(chain[0].commit());
  CHECK(info->count == 1);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"kept"});
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(ReadAllPayloads(*j) == std::vector<std::string>{"kept"});
}

TEST_CASE("an event too large for the segment is refused, stating the largest record the segment takes") {
  test::TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto tx = test::RequireOk(j->begin());
  Status s = tx->append("t", "big", std::string(70000, 'x'));
  INFO(s.ToString());
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("does not fit a segment of 65536 bytes") != std::string::npos);
  CHECK(s.message().find("whose largest record is") != std::string::npos);
  CHECK(s.message().find("Options::segment_size") != std::string::npos);
  // The transaction goes on.
  TXJ_CHECK_OK(tx->append("t", "small", "x"));
  TXJ_CHECK_OK(tx->commit());
}

TEST_CASE("the writer checks each topic and type pair once, and every invalid or unlisted pair is refused every time") {
  // Random events over more pairs than the writer remembers as checked
  // (ValidatedNames::kSlots), some not allowed by the schema and some not
  // valid names, in random order and across transactions: each append
  // succeeds exactly when its pair is allowed, and the journal holds exactly
  // the appended events (a model).
  struct Pair {
    std::string topic, type;
    bool ok;
  };
  std::vector<Pair> pairs;
  Options o = test::SmallOptions(Durability::kNone);
  for (int t = 0; t < 6; ++t) {
    const std::string topic = "topic-" + std::to_string(t);
    for (int k = 0; k < 6; ++k) {
      const std::string type = "type-" + std::to_string(k);
      if (k < 4) o.schema[topic].push_back(type);
      pairs.push_back({topic, type, k < 4});  // types 4 and 5: not in the schema
    }
  }
  // The same lengths as valid names, not valid themselves (a control
  // character; an empty type), and a topic the schema does not list.
  pairs.push_back({"topic-1", std::string("type\x01") + "0", false});
  pairs.push_back({"topic\n2", "type-0", false});
  pairs.push_back({"topic-3", "", false});
  pairs.push_back({"topic-9", "type-0", false});
  REQUIRE(pairs.size() > 2 * internal::ValidatedNames::kSlots);
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), o);
  std::mt19937_64 rng(test::Seed());
  std::vector<std::string> want;
  int refused = 0;
  for (int txn = 0; txn < 200; ++txn) {
    auto tx = test::RequireOk(j->begin());
    std::vector<std::string> added;
    for (int i = 0; i < 30; ++i) {
      const Pair& p = pairs[rng() % pairs.size()];
      const std::string payload = p.topic + "/" + p.type + "/" + std::to_string(txn) + "/" + std::to_string(i);
      const Status s = tx->append(p.topic, p.type, payload);
      INFO("transaction ", txn, " event ", i, ": ", payload, " -> ", s.ToString());
      CHECK(s.ok() == p.ok);
      if (s.ok()) {
        added.push_back(payload);
      } else {
        CHECK(s.code() == Code::kInvalidArgument);
        ++refused;
      }
    }
    if (rng() % 4 == 0) {
      TXJ_REQUIRE_OK(tx->rollback());
    } else {
      TXJ_REQUIRE_OK(tx->commit());
      want.insert(want.end(), added.begin(), added.end());
    }
  }
  CHECK(refused > 0);
  CHECK(ReadAllPayloads(*j) == want);
}

TEST_CASE("the checked pairs a writer remembers behave as a bounded set") {
  // Against a model: a pair never added is never reported; a pair added is
  // reported until kSlots other pairs have been added after it, and the
  // pair reported last stays while it is the one looked up.
  internal::ValidatedNames names;
  std::mt19937_64 rng(test::Seed());
  std::vector<std::pair<std::string, std::string>> added;  // in order of addition (re-additions too)
  for (int step = 0; step < 20000; ++step) {
    const std::string topic = "t" + std::to_string(rng() % 8);
    const std::string type = std::string(rng() % 3, 'x') + std::to_string(rng() % 8);
    const bool hit = names.Contains(topic, type);
    const bool ever = std::find(added.begin(), added.end(), std::make_pair(topic, type)) != added.end();
    if (hit) CHECK(ever);
    // Added among the last kSlots additions: certainly still there.
    const std::size_t recent = std::min(added.size(), internal::ValidatedNames::kSlots - 1);
    if (std::find(added.end() - static_cast<std::ptrdiff_t>(recent), added.end(), std::make_pair(topic, type)) !=
        added.end()) {
      CHECK(hit);
    }
    if (!hit) {
      names.Add(topic, type);
      added.emplace_back(topic, type);
      CHECK(names.Contains(topic, type));
    }
  }
}

TEST_CASE("a remembered pair matches only the same bytes, at every name length") {
  // ValidatedNames compares short names with overlapping word loads: for
  // every length from 0 to 40, a name differing from a remembered one in
  // any single byte (each position, in turn) is not reported as checked.
  std::mt19937_64 rng(test::Seed());
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string topic(n, '\0'), type(n, '\0');
    for (auto& c : topic) c = static_cast<char>('a' + rng() % 26);
    for (auto& c : type) c = static_cast<char>('a' + rng() % 26);
    internal::ValidatedNames names;
    names.Add(topic, type);
    INFO("length ", n);
    CHECK(names.Contains(topic, type));
    for (std::size_t i = 0; i < n; ++i) {
      std::string t = topic, y = type;
      t[i] = static_cast<char>(t[i] ^ (1 + rng() % 127));
      y[i] = static_cast<char>(y[i] ^ (1 + rng() % 127));
      INFO("byte ", i);
      CHECK_FALSE(names.Contains(t, type));
      CHECK_FALSE(names.Contains(topic, y));
    }
    CHECK_FALSE(names.Contains(topic + "x", type));
    if (n > 0) CHECK_FALSE(names.Contains(topic, type.substr(0, n - 1)));
  }
}

TEST_CASE("topics, types and keys of every length are written and read back byte for byte") {
  // The writer copies names without memcpy below 17 bytes: every length
  // from 1 to 40 and the largest (255) for topics and types, keys of 0 to
  // 40 bytes, with payloads of 0 to 300 bytes; a name with a control
  // character in its last byte, after a valid name of the same length was
  // written, is still refused.
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
  std::mt19937_64 rng(test::Seed());
  auto name = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>('A' + rng() % 58);
    return s;
  };
  struct Want {
    std::string topic, type, key, payload;
  };
  std::vector<Want> want;
  std::vector<std::size_t> lengths;
  for (std::size_t n = 1; n <= 40; ++n) lengths.push_back(n);
  lengths.push_back(255);
  auto tx = test::RequireOk(j->begin());
  for (std::size_t n : lengths) {
    for (int round = 0; round < 3; ++round) {
      Want w{name(n), name(lengths[rng() % lengths.size()]), name(rng() % 41), name(rng() % 301)};
      AppendOptions o;
      if (!w.key.empty()) o.key = w.key;
      INFO("topic of ", n, " bytes, type of ", w.type.size(), ", key of ", w.key.size());
      TXJ_REQUIRE_OK(tx->append(w.topic, w.type, w.payload, o));
      want.push_back(w);
      std::string bad = w.topic;
      bad.back() = '\x01';
      CHECK(tx->append(bad, w.type, "x").code() == Code::kInvalidArgument);
    }
  }
  TXJ_REQUIRE_OK(tx->commit());
  auto c = test::RequireOk(j->open_cursor(0));
  for (const Want& w : want) {
    auto e = c->next();
    REQUIRE(e.ok());
    REQUIRE(e->has_value());
    CHECK((**e).topic == w.topic);
    CHECK((**e).type == w.type);
    CHECK(std::string((**e).key.value_or("")) == w.key);
    CHECK((**e).payload == w.payload);
  }
  auto end = c->next();
  REQUIRE(end.ok());
  CHECK_FALSE(end->has_value());
}
