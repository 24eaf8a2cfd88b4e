// Shared helpers for the test suite.
#ifndef TXJOURNAL_TESTS_TEST_UTIL_H_
#define TXJOURNAL_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "forwarding_fs.h"
#include "txjournal/file_system.h"
#include "txjournal/journal.h"

namespace txj::test {

// The suite's random seed: TXJ_TEST_SEED from the environment, or a fixed
// default so CI runs are repeatable. test_main.cc prints it.
std::uint64_t Seed();

// `n` scaled by TXJ_TEST_SCALE, a percentage (default 100), at least 1: the
// randomized suites' sizes. The ThreadSanitizer run lowers it
// (scripts/sanitize.sh), where every step costs many times more.
int Scaled(int n);

// The steps of an exhaustive walk (every fault site of fault_walk.h, every
// catalog call of catalog_fault_test.cc) to take at the current
// TXJ_TEST_SCALE: all of them at full scale; below it (the ThreadSanitizer
// run, where each step costs many times more and the walks were most of its
// time) a sample seeded by the suite seed and `salt`, each step kept with
// probability max(1/4, scale). The caller keeps a walk's first and last
// step regardless.
class ScaledSample {
 public:
  explicit ScaledSample(std::uint64_t salt)
      : keep_(Scaled(100) >= 100 ? 1.0 : std::max(0.25, Scaled(100) / 100.0)), rng_(Seed() ^ salt) {}
  bool full() const { return keep_ >= 1.0; }
  double probability() const { return keep_; }
  bool Keep() { return keep_ >= 1.0 || std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < keep_; }

 private:
  double keep_;
  std::mt19937_64 rng_;
};

// A fresh, empty directory under $TMPDIR, removed when the object dies
// (kept when TXJ_KEEP_TEST_DIRS is set, for inspection).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};


// `v`, read under `mu` (for the counters the tests' fakes keep).
template <class T>
T ReadLocked(std::mutex& mu, const T& v) {
  std::lock_guard<std::mutex> lock(mu);
  return v;
}

// Options for small, fast test journals: 64 KiB segments, no syncs unless asked.
inline Options SmallOptions(Durability d = Durability::kNone) {
  Options o;
  o.segment_size = 64 * 1024;
  o.durability = d;
  return o;
}

// The whole content of the file at `path` (empty when it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// SmallOptions() for opening a journal read-only.
inline Options ReadOnlyOptions() {
  Options o = SmallOptions();
  o.read_only = true;
  return o;
}

// Opens or fails the current test with the status text.
std::unique_ptr<Journal> OpenOrDie(const std::string& dir, const Options& o);

// What most tests begin with: a fresh journal with SmallOptions() in a
// temporary directory (TEST_CASE_FIXTURE(test::FreshJournal, "...")).
struct FreshJournal {
  TempDir dir;
  std::unique_ptr<Journal> j = OpenOrDie(dir.path(), SmallOptions());
};

}  // namespace txj::test

// CHECKs (REQUIREs) that a Status or Result is OK, printing the error when
// not.
#define TXJ_ASSERT_OK_(expr, ASSERT)                                                       \
  do {                                                                                     \
    auto&& txj_r_ = (expr);                                                                \
    INFO("status: ", (txj_r_.ok() ? std::string("ok") : ::txj::test::StatusText(txj_r_))); \
    ASSERT(txj_r_.ok());                                                                   \
  } while (0)
#define TXJ_CHECK_OK(expr) TXJ_ASSERT_OK_(expr, CHECK)
#define TXJ_REQUIRE_OK(expr) TXJ_ASSERT_OK_(expr, REQUIRE)

namespace txj::test {
inline std::string StatusText(const Status& s) { return s.ToString(); }

// Every committed event from `from` on that `filter` matches, copied
// (REQUIREs that reading works).
inline std::vector<OwnedEvent> ReadAllEvents(Journal& j, std::uint64_t from = 0, const Filter& filter = Filter::all()) {
  std::vector<OwnedEvent> out;
  auto c = j.open_cursor(from, filter);
  INFO("cursor from ", from, ": ", (c.ok() ? std::string("ok") : c.status().ToString()));
  REQUIRE(c.ok());
  for (;;) {
    auto e = c->next();
    INFO((e.ok() ? std::string("ok") : e.status().ToString()));
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    out.push_back((**e).to_owned());
  }
  return out;
}
template <typename T>
std::string StatusText(const Result<T>& r) { return r.status().ToString(); }

// `r`, after REQUIRing that it is OK (the failure names the caller's line
// and the status text): `auto tx = test::RequireOk(j->begin());`.
template <typename R>
R RequireOk(R r, std::source_location at = std::source_location::current()) {
  INFO(at.file_name(), ":", at.line(), ": ", (r.ok() ? std::string("ok") : StatusText(r)));
  REQUIRE(r.ok());
  return r;
}

// Reads `c` until the first error and returns it; every event before it
// goes to `each`. REQUIREs that the cursor does not reach the end first.
template <class Cursor, class Each>
Status FirstReadError(Cursor& c, Each each) {
  for (;;) {
    auto e = c.next();
    if (!e.ok()) return e.status();
    REQUIRE(e->has_value());
    each(**e);
  }
}

// Rolls `tx` back when `roll_back`, else commits it, REQUIRing that it
// works (the failure names the caller's line).
inline void CommitOrRollBack(Transaction& tx, bool roll_back,
                             std::source_location at = std::source_location::current()) {
  if (roll_back) {
    (void)RequireOk(tx.rollback(), at);
  } else {
    (void)RequireOk(tx.commit(), at);
  }
}

// Commits a transaction of one event in `parent` (a Journal, or a
// Transaction for a sub-transaction), REQUIRing that each step works (the
// failure names the caller's line); returns what the commit reported.
template <class Parent>
CommitInfo CommitOne(Parent& parent, std::string_view topic, std::string_view type, std::string_view payload,
                     const AppendOptions& o = {}, std::source_location at = std::source_location::current()) {
  auto tx = RequireOk(parent.begin(), at);
  (void)RequireOk(tx->append(topic, type, payload, o), at);
  return *RequireOk(tx->commit(), at);
}
}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_TEST_UTIL_H_
