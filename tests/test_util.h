// Shared helpers for the test suite.
#ifndef TXJOURNAL_TESTS_TEST_UTIL_H_
#define TXJOURNAL_TESTS_TEST_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "txjournal/file_system.h"
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

// A FileSystem that passes every call to the default one: derive from it
// and override the calls a test watches or changes.
class ForwardingFileSystem : public FileSystem {
 public:
  int Open(const std::string& p, int f, mode_t m, int* fd) override { return base_->Open(p, f, m, fd); }
  int Close(int fd) override { return base_->Close(fd); }
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override { return base_->PWrite(fd, d, n, o); }
  int PRead(int fd, void* d, std::size_t n, std::uint64_t o, std::size_t* g) override {
    return base_->PRead(fd, d, n, o, g);
  }
  int Allocate(int fd, std::uint64_t o, std::uint64_t n) override { return base_->Allocate(fd, o, n); }
  int Truncate(int fd, std::uint64_t s) override { return base_->Truncate(fd, s); }
  int DataSync(int fd) override { return base_->DataSync(fd); }
  int FileSize(int fd, std::uint64_t* s) override { return base_->FileSize(fd, s); }
  int Map(int fd, std::uint64_t o, std::size_t n, bool w, void** a) override { return base_->Map(fd, o, n, w, a); }
  int Unmap(void* a, std::size_t n) override { return base_->Unmap(a, n); }
  int Rename(const std::string& f, const std::string& t) override { return base_->Rename(f, t); }
  int Unlink(const std::string& p) override { return base_->Unlink(p); }
  int MakeDir(const std::string& p, mode_t m) override { return base_->MakeDir(p, m); }
  int SyncDir(const std::string& p) override { return base_->SyncDir(p); }
  int ListDir(const std::string& d, std::vector<std::string>* n) override { return base_->ListDir(d, n); }

 protected:
  std::shared_ptr<FileSystem> base_ = DefaultFileSystem();
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

// What most tests begin with: a fresh journal with SmallOptions() in a
// temporary directory (TEST_CASE_FIXTURE(test::FreshJournal, "...")).
struct FreshJournal {
  TempDir dir;
  std::unique_ptr<Journal> j = OpenOrDie(dir.path(), SmallOptions());
};

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
}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_TEST_UTIL_H_
