// An in-memory FileSystem (include/txjournal/file_system.h) for the fuzz
// targets: a journal directory built from an input lives here instead of on
// disk, so an input costs no system call for its files. Map() hands out the
// file's own bytes (what a MAP_SHARED mapping of it would show); a file is
// never moved while mapped (growing one past its capacity then is a bug in
// the harness: it aborts).
//
// What the library does outside the file-system layer still happens on the
// real path: stat of the directory, lstat checks for symlinks, LMDB's
// catalog. Descriptors of most files start at kFirstFd, far above any real
// one, so a call outside the layer on one fails with EBADF. A segment file
// (*.seg, *.seg.tmp) has a shadow, a sparse memfd of its size whose data ends where the
// file's non-zero bytes end (an upper bound of it): its descriptors are
// real ones of that memfd (dup), so that the SEEK_DATA / SEEK_HOLE the
// recovery scan makes on them (recovery.cc, DataEnd) answers as on a disk,
// and the scan does not read 64 KiB of zeros per segment. Writes through a
// mapping are not seen by the shadow: call Resync() after anything that
// may have written a mapped segment.
//
// A file named LOCK is the real file at its path (the directory must exist
// on disk too): a writer's lock (dir_lock.cc) takes an OFD lock on its
// descriptor and compares it with an lstat of the path. Reset() leaves the
// LOCK files it made on disk (the next input's journal finds one, as a
// journal reopened does: no create and unlink per input); ~MemFileSystem
// and ForgetLocks() remove them.
//
// Every file knows how far its bytes may be non-zero (File::dirty: written
// through PWrite, a writable mapping, or Put's `filled`): a file reused
// from the pool is cleared, and the shadow's extent found, over that much
// only, not over the whole segment.
//
// One lock makes it safe for a writable journal's background threads
// (reserving and creating segments). Allocate of 0 bytes fails with EINVAL,
// as posix_fallocate(3) does (the journal's ahead thread spins on a file
// system that accepts it: see docs/pending/fuzz2.md).
#ifndef TXJOURNAL_FUZZ_MEM_FS_H_
#define TXJOURNAL_FUZZ_MEM_FS_H_

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "txjournal/file_system.h"

namespace txj::fuzz {

// Length of [p, p + n) up to its last non-zero byte. Neither ASan-checked
// (the caller gives the bounds) nor coverage-instrumented
// (fuzz/coverage-ignore.txt): it reads whole segments for every input.
__attribute__((no_sanitize("address"))) inline std::size_t LastNonZero(const std::uint8_t* p, std::size_t n) {
  while (n >= 64) {  // 64 bytes a step over the zeros
    std::uint64_t w[8];
    std::memcpy(w, p + n - 64, 64);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) break;
    n -= 64;
  }
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p + n - 8, 8);
    if (w != 0) break;
    n -= 8;
  }
  while (n > 0 && p[n - 1] == 0) --n;
  return n;
}

class MemFileSystem final : public FileSystem {
 public:
  static constexpr int kFirstFd = 1 << 20;

  struct File {
    // The bytes start kSkew bytes past a page boundary: a writer seals a
    // segment by mapping its descriptor (here the shadow's) over the old
    // mapping at the same address (Segment::MakeReadOnly, MAP_FIXED), which
    // must fail (EINVAL on an address that is not page-aligned) rather than
    // replace these bytes with the shadow's; the writer's prefault
    // (madvise) fails likewise and costs nothing.
    static constexpr std::size_t kSkew = 64;
    std::unique_ptr<std::uint8_t[]> data;
    std::uint8_t* data_at = nullptr;
    std::uint8_t* bytes() const { return data_at; }
    std::size_t capacity = 0;
    std::size_t size = 0;
    std::size_t dirty = 0;  // bytes at and past it are zero (up to capacity)
    int maps = 0;
    int shadow = -1;        // memfd, segment files only
    std::size_t extent = 0;  // the shadow holds data up to here (and none past its page)
    std::size_t shadow_size = 0;
    File() = default;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File() {
      if (shadow >= 0) ::close(shadow);
    }
    // Makes the shadow say that data may reach `end` (never less than it
    // said before unless `exact`). The shadow's size follows the file's.
    // Only the end of its last data region matters (recovery.cc's DataEnd):
    // data pages below `end` may stay.
    static std::size_t PageUp(std::size_t n) { return (n + 4095) / 4096 * 4096; }
    void MarkExtent(std::size_t end, bool exact = false) {
      if (shadow < 0) return;
      if (shadow_size != size) {
        if (::ftruncate(shadow, static_cast<off_t>(size)) != 0) std::abort();
        shadow_size = size;
        if (extent > size) extent = size;
      }
      if (end == extent || (end < extent && !exact)) return;
      if (end < extent) {
        // Punch the pages past the one holding byte end - 1.
        const std::size_t from = PageUp(end);
        if (from < extent &&
            ::fallocate(shadow, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(from),
                        static_cast<off_t>(PageUp(extent) - from)) != 0) {
          std::abort();
        }
      }
      if (end > 0) {
        const std::uint8_t zero = 0;
        if (::pwrite(shadow, &zero, 1, static_cast<off_t>(end - 1)) != 1) std::abort();
      }
      extent = end;
    }
    // The shadow holds no data (its size stays).
    void Punch() {
      if (shadow < 0 || extent == 0) return;
      // Whole pages: a page punched in part stays data for SEEK_DATA.
      if (::fallocate(shadow, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(PageUp(extent))) != 0) {
        std::abort();
      }
      extent = 0;
    }
    void Dirty(std::size_t end) {
      if (end > dirty) dirty = end;
    }
    // Zeros what may be non-zero from `from` on.
    void ClearFrom(std::size_t from) {
      if (dirty > from) std::memset(data_at + from, 0, dirty - from);
      if (dirty > from) dirty = from;
    }
    // Makes room for `n` bytes (zero-filled past the old size).
    void Grow(std::size_t n) {
      if (n > capacity) {
        if (maps > 0) std::abort();  // would move mapped bytes
        std::size_t cap = capacity ? capacity : 4096;
        while (cap < n) cap *= 2;
        // Zeroed, and never page-aligned (kSkew): see bytes().
        auto d = std::make_unique<std::uint8_t[]>(cap + 4096 + kSkew);
        std::uint8_t* at = reinterpret_cast<std::uint8_t*>(
            (reinterpret_cast<std::uintptr_t>(d.get()) + 4095) / 4096 * 4096 + kSkew);
        if (size) std::memcpy(at, data_at, size);
        data = std::move(d);
        data_at = at;
        capacity = cap;
      }
      if (n > size) size = n;
    }
  };

  // Forgets every file and directory (descriptors must be closed).
  void Reset() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (auto& [fd, f] : fds_) {
      if (fd < kFirstFd) ::close(fd);
    }
    locks_.insert(real_paths_.begin(), real_paths_.end());
    real_paths_.clear();
    // Every file goes back to a pool (Recycle), for the next input's files.
    fds_.clear();
    for (auto& [path, f] : files_) Recycle(std::move(f));
    files_.clear();
    dirs_.clear();
    mapped_.clear();
    next_fake_ = kFirstFd;
  }
  ~MemFileSystem() override { ForgetLocks(); }
  // Removes the LOCK files made on disk.
  void ForgetLocks() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (const auto& p : locks_) ::unlink(p.c_str());
    locks_.clear();
  }
  void AddDir(const std::string& d) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    dirs_.insert(d);
  }
  // Creates or replaces `path` with `n` zero bytes; returns them. The
  // caller fills at most the first `filled` of them (all by default). Call
  // Resync() once they are filled.
  std::uint8_t* Put(const std::string& path, std::size_t n, std::size_t filled = SIZE_MAX) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    auto f = NewFile(path);
    f->Grow(n);
    f->Dirty(filled < n ? filled : n);
    files_[path] = f;
    return f->bytes();
  }
  // Brings every shadow to where its file's non-zero bytes end.
  void Resync() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (auto& [path, f] : files_) {
      if (f->shadow >= 0) f->MarkExtent(fuzz::LastNonZero(f->bytes(), f->dirty < f->size ? f->dirty : f->size), true);
    }
  }
  std::shared_ptr<File> Get(const std::string& path) const {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    auto it = files_.find(path);
    return it == files_.end() ? nullptr : it->second;
  }
  const std::map<std::string, std::shared_ptr<File>>& files() const { return files_; }

  int Open(const std::string& path, int flags, mode_t mode, int* fd) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!dirs_.count(Parent(path))) return ENOENT;
    if (IsReal(path)) {
      const int n = ::open(path.c_str(), flags, mode);
      if (n < 0) return errno;
      real_paths_.insert(path);
      fds_[n].real = true;
      *fd = n;
      return 0;
    }
    if (dirs_.count(path)) {
      if ((flags & O_ACCMODE) != O_RDONLY) return EISDIR;
      return NewFd(nullptr, fd);
    }
    if (flags & O_DIRECTORY) return files_.count(path) ? ENOTDIR : ENOENT;
    auto it = files_.find(path);
    if (it == files_.end()) {
      if (!(flags & O_CREAT)) return ENOENT;
      it = files_.emplace(path, NewFile(path)).first;
    } else if ((flags & O_CREAT) && (flags & O_EXCL)) {
      return EEXIST;
    }
    if ((flags & O_TRUNC) && it->second->size) {
      if (it->second->maps) std::abort();
      it->second->ClearFrom(0);
      it->second->size = 0;
      it->second->MarkExtent(0, true);
    }
    return NewFd(it->second, fd);
  }
  int Close(int fd) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    auto it = fds_.find(fd);
    if (it == fds_.end()) return EBADF;
    fds_.erase(it);
    if (fd < kFirstFd) ::close(fd);
    return 0;
  }
  int PWrite(int fd, const void* data, std::size_t n, std::uint64_t offset) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsRealFd(fd)) return ::pwrite(fd, data, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n) ? 0 : EIO;
    File* f = FileOf(fd);
    if (!f) return EBADF;
    if (offset + n > f->size) f->Grow(offset + n);
    if (n) std::memcpy(f->bytes() + offset, data, n);
    f->Dirty(offset + n);
    f->MarkExtent(offset + n);
    return 0;
  }
  int PRead(int fd, void* data, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsRealFd(fd)) {
      const ssize_t k = ::pread(fd, data, n, static_cast<off_t>(offset));
      if (k < 0) return errno;
      *got = static_cast<std::size_t>(k);
      return 0;
    }
    File* f = FileOf(fd);
    if (!f) return EBADF;
    std::size_t k = offset >= f->size ? 0 : (f->size - offset < n ? f->size - offset : n);
    if (k) std::memcpy(data, f->bytes() + offset, k);
    *got = k;
    return 0;
  }
  int Allocate(int fd, std::uint64_t offset, std::uint64_t n) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    File* f = FileOf(fd);
    if (!f) return EBADF;
    if (n == 0) return EINVAL;  // as posix_fallocate(3)
    if (offset + n > f->size) f->Grow(offset + n);
    f->MarkExtent(f->extent);  // the shadow's size
    return 0;
  }
  int Truncate(int fd, std::uint64_t size) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsRealFd(fd)) return ::ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
    File* f = FileOf(fd);
    if (!f) return EBADF;
    if (size < f->size) {
      if (f->maps) std::abort();  // the library never truncates what it maps
      f->ClearFrom(size);
      f->size = size;
      f->MarkExtent(f->extent < size ? f->extent : size, true);
    } else {
      f->Grow(size);
      f->MarkExtent(f->extent);  // the shadow's size
    }
    return 0;
  }
  int DataSync(int fd) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return FileOf(fd) || IsRealFd(fd) ? 0 : EBADF;
  }
  int FileSize(int fd, std::uint64_t* size) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsRealFd(fd)) {
      struct stat st;
      if (::fstat(fd, &st) != 0) return errno;
      *size = static_cast<std::uint64_t>(st.st_size);
      return 0;
    }
    File* f = FileOf(fd);
    if (!f) return EBADF;
    *size = f->size;
    return 0;
  }
  int Map(int fd, std::uint64_t offset, std::size_t n, bool writable, void** addr) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    File* f = FileOf(fd);
    if (!f || n == 0) return EINVAL;
    // Past the end of the file a real mapping faults (SIGBUS); the library
    // maps only what the file holds, so here the bytes are just there.
    if (offset + n > f->capacity) {
      f->Grow(offset + n);
      f->MarkExtent(f->extent);  // the shadow's size
    }
    if (writable) f->Dirty(offset + n);  // written through the mapping, maybe
    ++f->maps;
    *addr = f->bytes() + offset;
    mapped_[*addr] = fds_[fd].file;
    return 0;
  }
  int Unmap(void* addr, std::size_t) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    auto it = mapped_.find(addr);
    if (it == mapped_.end()) return EINVAL;
    --it->second->maps;
    mapped_.erase(it);
    return 0;
  }
  int Rename(const std::string& from, const std::string& to) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    auto it = files_.find(from);
    if (it == files_.end()) {
      if (dirs_.count(from)) {  // a directory (a catalog set aside): only empty ones here
        dirs_.erase(from);
        dirs_.insert(to);
        return 0;
      }
      return ENOENT;
    }
    if (!dirs_.count(Parent(to))) return ENOENT;
    auto f = it->second;
    files_.erase(it);
    auto& slot = files_[to];
    Recycle(std::move(slot));  // replaced
    slot = f;
    return 0;
  }
  int Unlink(const std::string& path) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsReal(path)) return ::unlink(path.c_str()) == 0 ? 0 : errno;
    auto it = files_.find(path);
    if (it == files_.end()) return ENOENT;
    Recycle(std::move(it->second));
    files_.erase(it);
    return 0;
  }
  int MakeDir(const std::string& path, mode_t) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (dirs_.count(path) || files_.count(path)) return EEXIST;
    if (!dirs_.count(Parent(path))) return ENOENT;
    dirs_.insert(path);
    return 0;
  }
  int SyncDir(const std::string& path) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return dirs_.count(path) ? 0 : ENOENT;
  }
  int ListDir(const std::string& dir, std::vector<std::string>* names) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!dirs_.count(dir)) return files_.count(dir) ? ENOTDIR : ENOENT;
    names->clear();
    const std::string prefix = dir + "/";
    for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it) {
      if (it->first.find('/', prefix.size()) == std::string::npos) names->push_back(it->first.substr(prefix.size()));
    }
    for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->find('/', prefix.size()) == std::string::npos) names->push_back(it->substr(prefix.size()));
    }
    for (const auto& p : real_paths_) {
      if (Parent(p) == dir && ::access(p.c_str(), F_OK) == 0) names->push_back(p.substr(prefix.size()));
    }
    return 0;
  }
  int SetOwnerAndMode(int fd, uid_t, gid_t, mode_t) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return Valid(fd) ? 0 : EBADF;
  }
  int RemoveDir(const std::string& path) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!dirs_.count(path)) return ENOENT;
    std::vector<std::string> inner;
    ListDir(path, &inner);
    if (!inner.empty()) return ENOTEMPTY;
    dirs_.erase(path);
    return 0;
  }

 private:
  struct Fd {
    std::shared_ptr<File> file;  // null for a directory or a real file
    bool real = false;           // a real descriptor of a real file (LOCK)
  };
  static bool IsReal(const std::string& path) {
    return path.size() >= 5 && path.compare(path.size() - 5, 5, "/LOCK") == 0;
  }
  bool IsRealFd(int fd) const {
    auto it = fds_.find(fd);
    return it != fds_.end() && it->second.real;
  }
  // A file no longer in the directory goes back to a pool for the next one
  // (its bytes and shadow with it: no allocation of 64 KiB to fault in and
  // zero, no memfd to create), unless something still holds it.
  void Recycle(std::shared_ptr<File>&& f) {
    if (!f || f->maps != 0 || f.use_count() != 1) return;
    auto& pool = f->shadow >= 0 ? pool_ : plain_pool_;
    if (pool.size() < kPoolSize) pool.push_back(std::move(f));
    f.reset();
  }
  std::shared_ptr<File> NewFile(const std::string& path) {
    auto& pool = IsSegment(path) ? pool_ : plain_pool_;
    if (!pool.empty()) {
      auto f = std::move(pool.back());
      pool.pop_back();
      f->ClearFrom(0);
      f->size = 0;
      f->maps = 0;
      f->Punch();  // the shadow keeps its size: usually the same again
      return f;
    }
    auto f = std::make_shared<File>();
    if (IsSegment(path)) {
      f->shadow = ::memfd_create("txj-fuzz-seg", MFD_CLOEXEC);
      if (f->shadow < 0) std::abort();
    }
    return f;
  }
  // A segment, or one being created (Segment::Create writes NAME.seg.tmp,
  // keeps its descriptor and renames it).
  static bool IsSegment(const std::string& path) {
    auto ends = [&](const char* suffix) {
      const std::size_t n = std::strlen(suffix);
      return path.size() > n && path.compare(path.size() - n, n, suffix) == 0;
    };
    return ends(".seg") || ends(".seg.tmp");
  }
  static std::string Parent(const std::string& p) {
    const std::size_t s = p.find_last_of('/');
    return s == std::string::npos ? std::string(".") : s == 0 ? std::string("/") : p.substr(0, s);
  }
  int NewFd(std::shared_ptr<File> f, int* fd) {
    int n;
    if (f && f->shadow >= 0) {
      n = ::fcntl(f->shadow, F_DUPFD_CLOEXEC, 3);
      if (n < 0) return errno;
    } else {
      n = next_fake_++;
    }
    fds_[n].file = std::move(f);
    *fd = n;
    return 0;
  }
  bool Valid(int fd) const { return fds_.count(fd) != 0; }
  File* FileOf(int fd) const {
    auto it = fds_.find(fd);
    return it == fds_.end() ? nullptr : it->second.file.get();
  }

  std::map<std::string, std::shared_ptr<File>> files_;
  std::set<std::string> dirs_;
  std::unordered_map<int, Fd> fds_;
  int next_fake_ = kFirstFd;
  std::map<void*, std::shared_ptr<File>> mapped_;
  std::set<std::string> real_paths_;  // LOCK files opened since Reset()
  std::set<std::string> locks_;       // LOCK files made on disk
  // A writable journal's background threads reserve and create segments.
  mutable std::recursive_mutex mu_;
  static constexpr std::size_t kPoolSize = 8;
  std::vector<std::shared_ptr<File>> pool_;  // segment files of earlier inputs, for reuse
  std::vector<std::shared_ptr<File>> plain_pool_;  // other files of earlier inputs, for reuse
};

}  // namespace txj::fuzz

#endif  // TXJOURNAL_FUZZ_MEM_FS_H_
