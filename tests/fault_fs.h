// A FileSystem for tests that fails chosen calls.
//
// FaultFileSystem passes every call to another FileSystem (the default POSIX
// one unless told otherwise), counts the calls of each kind, and fails the
// N-th call of a kind (counted from 1 since the last ResetCounts) with an
// errno value of the test's choosing: once, or that call and every later one
// of the kind ("sticky", a disk that stays broken or full). A write can also
// fail short: the first half of the bytes reach the file, then EIO.
//
//   auto fs = std::make_shared<txj::test::FaultFileSystem>();
//   fs->Arm(FsOp::kSync, 3, EIO);          // the third fdatasync fails
//   Options o; o.file_system = fs;
//
// A failed call does nothing, as if the kernel had refused it, except
// Close, which closes the descriptor anyway (as close(2) does on Linux), and
// a short write. Thread-safe: the journal's background thread calls it too.
//
// Header-only, so that a test file alone is a test (tests/meson.build).
#ifndef TXJOURNAL_TESTS_FAULT_FS_H_
#define TXJOURNAL_TESTS_FAULT_FS_H_

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "txjournal/file_system.h"

namespace txj::test {

// The kinds of call, one per FileSystem function.
enum class FsOp : int {
  kOpen,
  kClose,
  kWrite,
  kRead,
  kAllocate,
  kTruncate,
  kSync,
  kFileSize,
  kMap,
  kUnmap,
  kRename,
  kUnlink,
  kMakeDir,
  kDirSync,
  kListDir,
};
inline constexpr int kFsOpCount = 15;

inline std::string_view FsOpName(FsOp op) {
  static constexpr std::array<std::string_view, kFsOpCount> names = {
      "open", "close", "write", "read", "allocate", "truncate", "sync", "file-size",
      "map", "unmap", "rename", "unlink", "make-dir", "dir-sync", "list-dir"};
  return names[static_cast<std::size_t>(op)];
}

inline std::vector<FsOp> AllFsOps() {
  std::vector<FsOp> v;
  for (int i = 0; i < kFsOpCount; ++i) v.push_back(static_cast<FsOp>(i));
  return v;
}

// What to do to a chosen call.
struct Fault {
  std::uint64_t nth = 0;   // 1-based index of the call of its kind; 0 = disarmed
  int error = EIO;         // errno value returned
  bool sticky = false;     // fail every later call of the kind too
  bool short_write = false;  // kWrite only: write the first half, then fail with `error`
  // Only calls whose path ends with this fail (calls are counted all the
  // same); a once-only fault then fires at the first matching call at or
  // after the nth. Empty: any path.
  std::string path_suffix;
  bool fired = false;
};

class FaultFileSystem final : public FileSystem {
 public:
  explicit FaultFileSystem(std::shared_ptr<FileSystem> base = DefaultFileSystem()) : base_(std::move(base)) {}

  // Fails the `nth` call of `op` (counted since the last ResetCounts) with
  // `error`; with `sticky`, that call and every later one. Replaces an
  // earlier fault of the same kind.
  void Arm(FsOp op, std::uint64_t nth, int error, bool sticky = false, std::string path_suffix = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[Index(op)] = Fault{nth, error, sticky, false, std::move(path_suffix), false};
  }
  // The `nth` pwrite writes only the first half of its bytes, then returns
  // EIO (the interface reports a short write as EIO).
  void ArmShortWrite(std::uint64_t nth, bool sticky = false) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[Index(FsOp::kWrite)] = Fault{nth, EIO, sticky, true, {}, false};
  }
  // Fails the next call of `op` (and with `sticky` every later one).
  void ArmNext(FsOp op, int error, bool sticky = false, std::string path_suffix = {}) {
    Arm(op, Count(op) + 1, error, sticky, std::move(path_suffix));
  }
  void Disarm(FsOp op) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_[Index(op)] = Fault{};
  }
  void DisarmAll() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.fill(Fault{});
  }

  // Calls of `op` made since the last ResetCounts (failed ones included).
  std::uint64_t Count(FsOp op) const { return counts_[Index(op)].load(); }
  std::array<std::uint64_t, kFsOpCount> Counts() const {
    std::array<std::uint64_t, kFsOpCount> c{};
    for (int i = 0; i < kFsOpCount; ++i) c[static_cast<std::size_t>(i)] = counts_[static_cast<std::size_t>(i)].load();
    return c;
  }
  void ResetCounts() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : counts_) c.store(0);
    injected_.store(0);
  }
  // Calls failed on purpose so far.
  std::uint64_t Injected() const { return injected_.load(); }

  // Called before every call with its kind and the path it concerns (for
  // calls on a descriptor: the path it was opened with, followed through
  // renames; empty for a mapping). Set it before the journal uses this file
  // system; the call runs under no lock of this class.
  void SetObserver(std::function<void(FsOp, const std::string&)> f) { observer_ = std::move(f); }

  // The path a descriptor was opened with ("" if unknown).
  std::string PathOf(int fd) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = fd_paths_.find(fd);
    return it == fd_paths_.end() ? std::string() : it->second;
  }

  // ---- FileSystem ----
  int Open(const std::string& path, int flags, mode_t mode, int* fd) override {
    if (int e = Enter(FsOp::kOpen, path)) return e;
    int r = base_->Open(path, flags, mode, fd);
    if (r == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      fd_paths_[*fd] = path;
    }
    return r;
  }
  int Close(int fd) override {
    int e = Enter(FsOp::kClose, PathOf(fd));
    int r = base_->Close(fd);
    {
      std::lock_guard<std::mutex> lock(mu_);
      fd_paths_.erase(fd);
    }
    return e ? e : r;
  }
  int PWrite(int fd, const void* data, std::size_t n, std::uint64_t offset) override {
    Fault f;
    if (int e = Enter(FsOp::kWrite, PathOf(fd), &f)) {
      if (f.short_write && n / 2 > 0) (void)base_->PWrite(fd, data, n / 2, offset);
      return e;
    }
    return base_->PWrite(fd, data, n, offset);
  }
  int PRead(int fd, void* data, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    if (int e = Enter(FsOp::kRead, PathOf(fd))) return e;
    return base_->PRead(fd, data, n, offset, got);
  }
  int Allocate(int fd, std::uint64_t offset, std::uint64_t n) override {
    if (int e = Enter(FsOp::kAllocate, PathOf(fd))) return e;
    return base_->Allocate(fd, offset, n);
  }
  int Truncate(int fd, std::uint64_t size) override {
    if (int e = Enter(FsOp::kTruncate, PathOf(fd))) return e;
    return base_->Truncate(fd, size);
  }
  int DataSync(int fd) override {
    if (int e = Enter(FsOp::kSync, PathOf(fd))) return e;
    return base_->DataSync(fd);
  }
  int FileSize(int fd, std::uint64_t* size) override {
    if (int e = Enter(FsOp::kFileSize, PathOf(fd))) return e;
    return base_->FileSize(fd, size);
  }
  int Map(int fd, std::uint64_t offset, std::size_t n, bool writable, void** addr) override {
    if (int e = Enter(FsOp::kMap, PathOf(fd))) return e;
    return base_->Map(fd, offset, n, writable, addr);
  }
  int Unmap(void* addr, std::size_t n) override {
    if (int e = Enter(FsOp::kUnmap, std::string())) return e;
    return base_->Unmap(addr, n);
  }
  int Rename(const std::string& from, const std::string& to) override {
    if (int e = Enter(FsOp::kRename, from)) return e;
    int r = base_->Rename(from, to);
    if (r == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [fd, p] : fd_paths_) {
        if (p == from) p = to;
      }
    }
    return r;
  }
  int Unlink(const std::string& path) override {
    if (int e = Enter(FsOp::kUnlink, path)) return e;
    return base_->Unlink(path);
  }
  int MakeDir(const std::string& path, mode_t mode) override {
    if (int e = Enter(FsOp::kMakeDir, path)) return e;
    return base_->MakeDir(path, mode);
  }
  int SyncDir(const std::string& path) override {
    if (int e = Enter(FsOp::kDirSync, path)) return e;
    return base_->SyncDir(path);
  }
  int ListDir(const std::string& dir, std::vector<std::string>* names) override {
    if (int e = Enter(FsOp::kListDir, dir)) return e;
    return base_->ListDir(dir, names);
  }
  // Not counted or failed (no kind of their own), only passed on: a base
  // other than the default (an in-memory one) answers them itself.
  int SetOwnerAndMode(int fd, uid_t uid, gid_t gid, mode_t mode) override {
    return base_->SetOwnerAndMode(fd, uid, gid, mode);
  }
  int RemoveDir(const std::string& path) override { return base_->RemoveDir(path); }
  int IsSymlink(const std::string& path, bool* link) override { return base_->IsSymlink(path, link); }

 private:
  static std::size_t Index(FsOp op) { return static_cast<std::size_t>(op); }

  // Counts the call and returns the errno to fail it with, or 0.
  int Enter(FsOp op, const std::string& path, Fault* fired = nullptr) {
    if (observer_) observer_(op, path);
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint64_t n = ++counts_[Index(op)];
    Fault& f = faults_[Index(op)];
    if (f.nth == 0 || n < f.nth || (f.fired && !f.sticky)) return 0;
    if (!f.path_suffix.empty() &&
        (path.size() < f.path_suffix.size() ||
         path.compare(path.size() - f.path_suffix.size(), f.path_suffix.size(), f.path_suffix) != 0)) {
      return 0;
    }
    f.fired = true;
    ++injected_;
    if (fired) *fired = f;
    return f.error;
  }

  std::shared_ptr<FileSystem> base_;
  mutable std::mutex mu_;
  std::array<std::atomic<std::uint64_t>, kFsOpCount> counts_{};
  std::array<Fault, kFsOpCount> faults_{};
  std::atomic<std::uint64_t> injected_{0};
  std::map<int, std::string> fd_paths_;
  std::function<void(FsOp, const std::string&)> observer_;
};

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_FAULT_FS_H_
