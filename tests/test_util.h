// Shared helpers for the test suite.
#ifndef TXJOURNAL_TESTS_TEST_UTIL_H_
#define TXJOURNAL_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "txjournal/journal.h"

namespace txj::test {

// The suite's random seed: TXJ_TEST_SEED from the environment, or a fixed
// default so CI runs are repeatable. test_main.cc prints it.
std::uint64_t Seed();

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

// Options for small, fast test journals: 64 KiB segments, no syncs unless asked.
inline Options SmallOptions(Durability d = Durability::kNone) {
  Options o;
  o.segment_size = 64 * 1024;
  o.durability = d;
  return o;
}

// Opens or fails the current test with the status text.
std::unique_ptr<Journal> OpenOrDie(const std::string& dir, const Options& o);

}  // namespace txj::test

// CHECKs that a Status or Result is OK, printing the error when not.
#define TXJ_CHECK_OK(expr)                                  \
  do {                                                      \
    auto&& txj_r_ = (expr);                                 \
    INFO("status: ", (txj_r_.ok() ? std::string("ok") : ::txj::test::StatusText(txj_r_))); \
    CHECK(txj_r_.ok());                                     \
  } while (0)
#define TXJ_REQUIRE_OK(expr)                                \
  do {                                                      \
    auto&& txj_r_ = (expr);                                 \
    INFO("status: ", (txj_r_.ok() ? std::string("ok") : ::txj::test::StatusText(txj_r_))); \
    REQUIRE(txj_r_.ok());                                   \
  } while (0)

namespace txj::test {
inline std::string StatusText(const Status& s) { return s.ToString(); }

// Every committed event from `from` on, copied (REQUIREs that reading works).
inline std::vector<OwnedEvent> ReadAllEvents(Journal& j, std::uint64_t from = 0) {
  std::vector<OwnedEvent> out;
  auto c = j.open_cursor(from);
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
}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_TEST_UTIL_H_
