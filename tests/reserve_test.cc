// Block reservation ahead of the writer (Segment::Reserve and the ahead
// thread of lib/journal/writer.cc) near a segment's end.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
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
  while (std::fgets(line, sizeof line, f) != nullptr) {
    const std::string l = line;
    // A mapping's first line: "start-end perms offset dev inode path".
    const std::size_t dash = l.find('-');
    const bool header = dash != std::string::npos && dash > 0 &&
                        l.find_first_not_of("0123456789abcdef") == dash && l.find(' ') > dash;
    if (header) {
      in = l.find(" rw-s ") != std::string::npos && l.find(dir) != std::string::npos &&
           l.find(".seg\n") != std::string::npos;
    } else if (in && l.rfind("VmFlags:", 0) == 0) {
      flags.push_back(l);
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

TEST_CASE("a kNone writer maps the segments it makes with huge pages unless told not to; kCommit and kPeriodic never") {
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
    for (const std::string& f : flags) {
      INFO(f);
      CHECK(HasFlag(f, "hg") == c.expect);
    }
    TXJ_CHECK_OK(j->close());
    auto again = test::OpenOrDie(dir.path(), o);
    CHECK(test::ReadAllEvents(*again).size() == 80u * 64u);
  }
}
