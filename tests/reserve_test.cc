// Block reservation ahead of the writer (Segment::Reserve and the ahead
// thread of lib/journal/writer.cc) near a segment's end.
#include <atomic>
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
