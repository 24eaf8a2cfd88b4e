// A FileSystem for tests that counts writes into pages holding
// acknowledged commits. Header-only, so that a test file alone is a test
// (tests/meson.build).
#ifndef TXJOURNAL_TESTS_ACK_RULE_FS_H_
#define TXJOURNAL_TESTS_ACK_RULE_FS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "forwarding_fs.h"
#include "test_util.h"

namespace txj::test {

// Counts the writes into a segment page at or below the last page holding
// an acknowledged commit: `acked` is the highest commit end (LSN) a commit()
// has returned, raised by the committing threads. Every byte below it is
// durable and part of acknowledged history (or rolled back), so a write
// touching its pages could, torn by a power loss, destroy an acknowledged
// commit. The header page (segment header, watermark slot) is left out.
class AckRuleFs final : public ForwardingFileSystem {
 public:
  std::atomic<std::uint64_t> acked{0};

  int Open(const std::string& p, int f, mode_t m, int* fd) override {
    int e = base_->Open(p, f, m, fd);
    if (e == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      paths_[*fd] = p;
    }
    return e;
  }
  int Rename(const std::string& f, const std::string& t) override {
    int e = base_->Rename(f, t);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [fd, p] : paths_) {
      if (e == 0 && p == f) p = t;
    }
    return e;
  }
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override {
    if (n > 0 && o >= kPage) {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string& path = paths_[fd];
      const std::size_t slash = path.rfind('/');
      const std::string name = path.substr(slash + 1);
      if (name.size() == 20 && name.compare(16, 4, ".seg") == 0) {
        const std::uint64_t lsn = std::stoull(name.substr(0, 16), nullptr, 16) + o;
        const std::uint64_t a = acked.load();
        ++writes_;
        if (a > 0 && lsn / kPage <= (a - 1) / kPage) ++violations_;
      }
    }
    return base_->PWrite(fd, d, n, o);
  }
  std::uint64_t violations() { return test::ReadLocked(mu_, violations_); }
  std::uint64_t writes() { return test::ReadLocked(mu_, writes_); }

 private:
  static constexpr std::uint64_t kPage = 4096;
  std::mutex mu_;
  std::map<int, std::string> paths_;
  std::uint64_t violations_ = 0, writes_ = 0;
};

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_ACK_RULE_FS_H_
