// Block reservation ahead of the writer (Segment::Reserve and the ahead
// thread of lib/journal/writer.cc) near a segment's end.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

// Passes everything to the default file system, except that a reservation
// of 0 bytes succeeds (posix_fallocate refuses it; a user's FileSystem need
// not) and is counted.
class ZeroAllocateFs final : public test::ForwardingFileSystem {
 public:
  int Allocate(int fd, std::uint64_t o, std::uint64_t n) override {
    if (n == 0) {
      zero_allocates.fetch_add(1);
      return 0;
    }
    return base_->Allocate(fd, o, n);
  }

  std::atomic<std::uint64_t> zero_allocates{0};
};

}  // namespace

TEST_CASE("the writer's last megabytes of a segment never ask the file system to reserve zero bytes") {
  // Before: in the last 2 MiB of a segment the ahead thread's target lies
  // past the end, Reserve asked for 0 bytes, and a file system that accepts
  // that left the thread looping without waiting (a core at 100 %).
  TempDir dir;
  auto fs = std::make_shared<ZeroAllocateFs>();
  Options o = test::SmallOptions(Durability::kNone);
  o.segment_size = 4ull << 20;
  o.file_system = fs;
  auto j = test::OpenOrDie(dir.path(), o);
  const std::string payload(1000, 'p');
  std::uint64_t written = 0;
  // Through three segments, each time through its last 2 MiB.
  while (written < 11ull << 20) {
    auto tx = test::RequireOk(j->begin());
    for (int i = 0; i < 64; ++i) TXJ_REQUIRE_OK(tx->append("t", "x", payload));
    TXJ_REQUIRE_OK(tx->commit());
    written += 64 * payload.size();
  }
  TXJ_CHECK_OK(j->close());
  CHECK(fs->zero_allocates.load() == 0);
  auto again = test::OpenOrDie(dir.path(), o);
  CHECK(test::ReadAllEvents(*again).size() == written / payload.size());
}

namespace {

// The VmFlags of each writable shared mapping of a segment file under `dir`
// in this process (/proc/self/smaps): "hg" marks one advised
// MADV_HUGEPAGE.
std::vector<std::string> WritableSegmentMappingFlags(const std::string& dir) {
  std::vector<std::string> flags;
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  REQUIRE(f != nullptr);
  char line[4096];
  bool in = false;
  std::string name;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    const std::string l = line;
    // A mapping's first line: "start-end perms offset dev inode path".
    const std::size_t dash = l.find('-');
    const bool header = dash != std::string::npos && dash > 0 &&
                        l.find_first_not_of("0123456789abcdef") == dash && l.find(' ') > dash;
    if (header) {
      in = l.find(" rw-s ") != std::string::npos && l.find(dir) != std::string::npos &&
           l.find(".seg\n") != std::string::npos;
      if (in) name = l;
    } else if (in && l.rfind("VmFlags:", 0) == 0) {
      flags.push_back(name + l);
      in = false;
    }
  }
  std::fclose(f);
  return flags;
}

bool HasFlag(const std::string& vmflags, const std::string& flag) {
  return (vmflags + " ").find(" " + flag + " ") != std::string::npos;
}

}  // namespace

TEST_CASE("a kNone writer maps its segments with huge pages past the first 2 MiB unless told not to; others never") {
  // /sys/kernel/mm/transparent_hugepage exists where the kernel has them:
  // there madvise(MADV_HUGEPAGE) succeeds whatever the policy says.
  const bool thp = ::access("/sys/kernel/mm/transparent_hugepage", F_OK) == 0;
  INFO("kernel with transparent huge pages: ", thp);
  struct Case {
    Durability durability;
    bool huge_pages;
    bool expect;
  };
  for (const Case c : {Case{Durability::kNone, true, thp}, Case{Durability::kNone, false, false},
                       Case{Durability::kPeriodic, true, false}, Case{Durability::kCommit, true, false}}) {
    INFO("durability ", static_cast<int>(c.durability), ", huge_pages ", c.huge_pages);
    TempDir dir;
    Options o = test::SmallOptions(c.durability);
    o.segment_size = 4ull << 20;
    o.huge_pages = c.huge_pages;
    auto j = test::OpenOrDie(dir.path(), o);
    const std::string payload(1000, 'p');
    // Into the second segment: one made at open, one made by a roll.
    for (int t = 0; t < 80; ++t) {
      auto tx = test::RequireOk(j->begin());
      for (int i = 0; i < 64; ++i) TXJ_REQUIRE_OK(tx->append("t", "x", payload));
      TXJ_REQUIRE_OK(tx->commit());
    }
    const auto flags = WritableSegmentMappingFlags(dir.path());
    REQUIRE(!flags.empty());  // the active segment is mapped writable (the sealed ones, until made read-only)
    std::string all;
    for (const std::string& f : flags) all += f;
    INFO(all);
    // The first 2 MiB of a segment (file offset 0) hold the header page in
    // a small folio and are never advised (segment.cc, AdviseMapping); the
    // rest is one mapping advised or not.
    bool rest_seen = false;
    for (const std::string& f : flags) {
      INFO(f);
      std::istringstream fields(f);
      std::string range, perms, offset;
      fields >> range >> perms >> offset;
      const bool past_first_2mib = std::stoull(offset, nullptr, 16) >= (2u << 20);
      rest_seen = rest_seen || past_first_2mib;
      CHECK(HasFlag(f, "hg") == (c.expect && past_first_2mib));
    }
    CHECK(rest_seen == c.expect);  // an advised segment is two mappings
    TXJ_CHECK_OK(j->close());
    auto again = test::OpenOrDie(dir.path(), o);
    CHECK(test::ReadAllEvents(*again).size() == 80u * 64u);
  }
}

namespace {

// Counts the bytes written with pwrite into the record area of segment
// files (past the header page): what the writer staged, not headers or
// watermarks.
class StagedBytesFs final : public test::ForwardingFileSystem {
 public:
  int Open(const std::string& path, int flags, mode_t mode, int* fd) override {
    const int e = base_->Open(path, flags, mode, fd);
    // A new segment is made under a temporary name ("….seg" and a suffix),
    // a recycled one is opened under its retired name: any name with ".seg"
    // or "retired".
    if (e == 0 && (path.find(".seg") != std::string::npos || path.find("retired") != std::string::npos)) {
      std::lock_guard<std::mutex> lock(mu_);
      segment_fds_.insert(*fd);
    }
    return e;
  }
  int Close(int fd) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      segment_fds_.erase(fd);
    }
    return base_->Close(fd);
  }
  int PWrite(int fd, const void* data, std::size_t n, std::uint64_t offset) override {
    if (offset >= 4096) {
      std::lock_guard<std::mutex> lock(mu_);
      if (segment_fds_.count(fd) != 0) staged_ += n;
    }
    return base_->PWrite(fd, data, n, offset);
  }
  std::uint64_t staged() {
    std::lock_guard<std::mutex> lock(mu_);
    return staged_;
  }

 private:
  std::mutex mu_;
  std::set<int> segment_fds_;
  std::uint64_t staged_ = 0;
};

}  // namespace

TEST_CASE("without syncs a transaction past 8 KiB goes on through pwrite, and small ones after it through the mapping") {
  for (const Durability d : {Durability::kNone, Durability::kPeriodic}) {
    INFO("durability ", static_cast<int>(d));
    TempDir dir;
    auto fs = std::make_shared<StagedBytesFs>();
    Options o = test::SmallOptions(d);
    o.segment_size = 16ull << 20;
    o.file_system = fs;
    auto j = test::OpenOrDie(dir.path(), o);
    std::uint64_t events = 0;
    auto txn = [&](int n, std::size_t size) {
      auto tx = test::RequireOk(j->begin());
      for (int i = 0; i < n; ++i) {
        TXJ_REQUIRE_OK(tx->append("t", "x", std::string(size, static_cast<char>('a' + i % 26))));
      }
      TXJ_REQUIRE_OK(tx->commit());
      events += static_cast<std::uint64_t>(n);
    };
    for (int t = 0; t < 20; ++t) txn(10, 100);
    CHECK(fs->staged() == 0);  // small: through the mapping
    txn(100, 4096);            // 400 KiB: the first 8 KiB through the mapping, the rest staged
    const std::uint64_t first = fs->staged();
    CHECK(first > 300u * 1024);
    CHECK(first < 100u * (4096 + 64));  // not more than the transaction
    txn(100, 4096);  // after a large one: staged from its begin marker
    CHECK(fs->staged() - first > 400u * 1024);
    txn(10, 100);  // small, but the one before was large: staged
    const std::uint64_t after_small = fs->staged();
    for (int t = 0; t < 20; ++t) txn(10, 100);
    CHECK(fs->staged() == after_small);  // back to the mapping
    // A large transaction rolled back is staged too, and leaves nothing.
    {
      auto tx = test::RequireOk(j->begin());
      for (int i = 0; i < 100; ++i) TXJ_REQUIRE_OK(tx->append("t", "x", std::string(4096, '#')));
      TXJ_REQUIRE_OK(tx->rollback());
    }
    txn(3, 100);
    TXJ_CHECK_OK(j->close());
    auto again = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    CHECK(again->recovery_report().repairs.empty());
    const auto all = test::ReadAllEvents(*again);
    REQUIRE(all.size() == events);
    for (const auto& e : all) CHECK(e.payload.find('#') == std::string::npos);
  }
}

TEST_CASE("a growing journal holds its data plus a bounded step on disk, through the mapping and through pwrite") {
  // Blocks are reserved ahead of the writer a step at a time (the mapping's
  // window, the stage's steps, the zeros written ahead of durable commits),
  // never the whole 64 MiB segment: after each round of small and large
  // transactions, the segment files' allocated blocks stay within the
  // records written plus 10 MiB (the ahead window and a reservation step,
  // the prepared next segment's first megabyte, header pages).
  for (const Durability d : {Durability::kNone, Durability::kPeriodic, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d));
    TempDir dir;
    Options o = test::SmallOptions(d);
    o.segment_size = 64ull << 20;
    auto j = test::OpenOrDie(dir.path(), o);
    std::uint64_t records = 0;  // bytes of the records written (an upper bound per event)
    auto allocated = [&] {
      std::uint64_t total = 0;
      for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        struct stat st;
        if (e.path().extension() == ".seg" && ::stat(e.path().c_str(), &st) == 0) {
          total += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
      }
      return total;
    };
    for (int round = 0; round < 6; ++round) {
      for (int t = 0; t < 50; ++t) {  // small: through the mapping (or staged, under kCommit)
        auto tx = test::RequireOk(j->begin());
        for (int i = 0; i < 10; ++i) TXJ_REQUIRE_OK(tx->append("t", "x", std::string(100, 's')));
        TXJ_REQUIRE_OK(tx->commit());
        records += 80 + 10 * 160;
      }
      for (int t = 0; t < 4; ++t) {  // large: through pwrite
        auto tx = test::RequireOk(j->begin());
        for (int i = 0; i < 100; ++i) TXJ_REQUIRE_OK(tx->append("t", "x", std::string(4096, 'L')));
        TXJ_REQUIRE_OK(tx->commit());
        records += 80 + 100 * (4096 + 64);
      }
      const std::uint64_t held = allocated();
      INFO("round ", round, ": ", records, " record bytes, ", held, " bytes allocated");
      CHECK(held <= records + (10ull << 20));
      CHECK(held < (64ull << 20));
    }
    TXJ_CHECK_OK(j->close());
  }
}
