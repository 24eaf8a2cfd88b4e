// An in-memory FileSystem (include/txjournal/file_system.h) for the fuzz
// targets: a journal directory built from an input lives here instead of on
// disk, so an input costs no system call for its files. Map() hands out the
// file's own bytes (what a MAP_SHARED mapping of it would show); a file is
// never moved while mapped (growing one past its capacity then is a bug in
// the harness: it aborts).
//
// What the library does outside the file-system layer still happens on the
// real path: stat of the directory, the lstat of its LOCK file, LMDB's
// catalog. The symlink refusal of the journal's files asks IsSymlink: here
// nothing is a link (a LOCK file that this file system has not opened or
// looked for is asked on disk). Descriptors of most
// files start at kFirstFd, far above any real one, so a call outside the
// layer on one fails with EBADF. A segment file (*.seg, *.seg.tmp) has a
// shadow, a sparse memfd of its size whose data ends where the file's
// non-zero bytes end (an upper bound of it): its descriptors are that
// memfd's own descriptor (every open of the file gets the same number, as
// a dup would share the same open file description; Close does not close
// it, the file does when it goes), so that the SEEK_DATA / SEEK_HOLE the
// recovery scan makes on them (log_reader.cc, DataEnd) answers as on a
// disk, and the scan does not read 64 KiB of zeros per segment. Writes
// through a mapping are not seen by the shadow: call Resync() after
// anything that may have written a mapped segment.
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
// Files, directories, descriptors and mappings are flat tables searched
// linearly (a journal here has about a dozen files): no tree of strings,
// no copy of a path per call.
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
#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
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
    bool extent_page = false;  // the page holding byte extent - 1 is data in the shadow
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
        if (extent > size) {
          extent = size;
          extent_page = false;  // that page may be a hole
        }
      }
      if (end == extent || (end < extent && !exact)) return;
      // The new end in the page of the old one, which is data: nothing to
      // punch past it, nothing to write (the mutator mostly changes records
      // before a segment's last page).
      if (extent_page && end > 0 && (end - 1) / 4096 == (extent - 1) / 4096) {
        extent = end;
        return;
      }
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
      extent_page = end > 0;
    }
    // The shadow holds no data (its size stays).
    void Punch() {
      if (shadow < 0 || extent == 0) return;
      // Whole pages: a page punched in part stays data for SEEK_DATA.
      if (::fallocate(shadow, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(PageUp(extent))) != 0) {
        std::abort();
      }
      extent = 0;
      extent_page = false;
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
      if (f.real) ::close(fd);
    }
    for (auto& r : reals_) {
      r.made |= r.opened;  // left on disk (see the file comment)
      r.opened = false;
    }
    // Every file goes back to a pool (Recycle), for the next input's files.
    fds_.clear();
    for (auto& e : files_) Recycle(std::move(e.file));
    files_.clear();
    dirs_.clear();
    mapped_.clear();
    next_fake_ = kFirstFd;
  }
  ~MemFileSystem() override { ForgetLocks(); }
  // Removes the LOCK files made on disk.
  void ForgetLocks() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (auto& r : reals_) {
      if (r.made || r.opened) ::unlink(r.path.c_str());
    }
    reals_.clear();
  }
  void AddDir(const std::string& d) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!IsDir(d)) dirs_.push_back(d);
  }
  // Creates or replaces `path` with `n` zero bytes; returns them. The
  // caller fills at most the first `filled` of them (all by default). Call
  // Resync() once they are filled.
  std::uint8_t* Put(const std::string& path, std::size_t n, std::size_t filled = SIZE_MAX) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    auto f = NewFile(path, /*punch=*/false);  // Resync() makes its shadow exact
    f->Grow(n);
    f->Dirty(filled < n ? filled : n);
    if (Entry* e = Find(path)) {
      Recycle(std::move(e->file));
      e->file = std::move(f);
      return e->file->bytes();
    }
    files_.push_back({path, std::move(f)});
    return files_.back().file->bytes();
  }
  // The files of the file system as they are now (no descriptor may be
  // open, no file mapped), to Restore() later: what an input's journal
  // starts from when it does not depend on the input.
  struct Snapshot {
    struct Entry {
      std::string path;
      std::size_t size = 0;
      std::vector<std::uint8_t> bytes;  // up to the file's last non-zero byte
    };
    std::vector<std::string> dirs;
    std::vector<Entry> files;
  };
  Snapshot Take() const {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Snapshot s;
    s.dirs = dirs_;
    for (const auto& [path, f] : files_) {
      if (f->maps != 0) std::abort();
      const std::size_t end = LastNonZero(f->bytes(), f->dirty < f->size ? f->dirty : f->size);
      s.files.push_back({path, f->size, std::vector<std::uint8_t>(f->bytes(), f->bytes() + end)});
    }
    return s;
  }
  // Empties the file system (Reset) and puts back the files of `s`.
  void Restore(const Snapshot& s) {
    Reset();
    std::lock_guard<std::recursive_mutex> lock(mu_);
    dirs_ = s.dirs;
    for (const auto& e : s.files) {
      std::uint8_t* b = Put(e.path, e.size, e.bytes.size());
      if (!e.bytes.empty()) std::memcpy(b, e.bytes.data(), e.bytes.size());
    }
    Resync();
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
    const Entry* e = Find(path);
    return e ? e->file : nullptr;
  }

  int Open(const std::string& path, int flags, mode_t mode, int* fd) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!IsDir(Parent(path))) return ENOENT;
    if (IsReal(path)) return OpenReal(path, flags, mode, fd);
    if (IsDir(path)) {
      if ((flags & O_ACCMODE) != O_RDONLY) return EISDIR;
      return NewFd(nullptr, fd);
    }
    Entry* e = Find(path);
    if (flags & O_DIRECTORY) return e ? ENOTDIR : ENOENT;
    if (!e) {
      if (!(flags & O_CREAT)) return ENOENT;
      files_.push_back({path, NewFile(path)});
      e = &files_.back();
    } else if ((flags & O_CREAT) && (flags & O_EXCL)) {
      return EEXIST;
    }
    File& f = *e->file;
    if ((flags & O_TRUNC) && f.size) {
      if (f.maps) std::abort();
      f.ClearFrom(0);
      f.size = 0;
      f.MarkExtent(0, true);
    }
    return NewFd(e->file, fd);
  }
  int Close(int fd) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (auto& slot : fds_) {
      if (slot.first != fd) continue;
      const bool real = slot.second.real;
      std::shared_ptr<File> file = std::move(slot.second.file);
      slot = std::move(fds_.back());
      fds_.pop_back();
      if (real) ::close(fd);  // a shadow's descriptor stays open with its file
      Recycle(std::move(file));  // the last holder of an unlinked file (see Recycle)
      return 0;
    }
    return EBADF;
  }
  int PWrite(int fd, const void* data, std::size_t n, std::uint64_t offset) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const Fd* d = FdOf(fd);
    if (d && d->real) return ::pwrite(fd, data, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n) ? 0 : EIO;
    File* f = d ? d->file.get() : nullptr;
    if (!f) return EBADF;
    if (offset + n > f->size) f->Grow(offset + n);
    if (n) std::memcpy(f->bytes() + offset, data, n);
    f->Dirty(offset + n);
    f->MarkExtent(offset + n);
    return 0;
  }
  int PRead(int fd, void* data, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const Fd* d = FdOf(fd);
    if (d && d->real) {
      const ssize_t k = ::pread(fd, data, n, static_cast<off_t>(offset));
      if (k < 0) return errno;
      *got = static_cast<std::size_t>(k);
      return 0;
    }
    File* f = d ? d->file.get() : nullptr;
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
    const Fd* d = FdOf(fd);
    if (d && d->real) return ::ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
    File* f = d ? d->file.get() : nullptr;
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
    const Fd* d = FdOf(fd);
    return d && (d->file || d->real) ? 0 : EBADF;
  }
  int FileSize(int fd, std::uint64_t* size) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const Fd* d = FdOf(fd);
    if (d && d->real) {
      struct stat st;
      if (::fstat(fd, &st) != 0) return errno;
      *size = static_cast<std::uint64_t>(st.st_size);
      return 0;
    }
    File* f = d ? d->file.get() : nullptr;
    if (!f) return EBADF;
    *size = f->size;
    return 0;
  }
  int Map(int fd, std::uint64_t offset, std::size_t n, bool writable, void** addr) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    const Fd* d = FdOf(fd);
    File* f = d ? d->file.get() : nullptr;
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
    mapped_.emplace_back(*addr, d->file);
    return 0;
  }
  int Unmap(void* addr, std::size_t) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (auto& m : mapped_) {
      if (m.first != addr) continue;
      std::shared_ptr<File> file = std::move(m.second);
      --file->maps;
      m = std::move(mapped_.back());
      mapped_.pop_back();
      Recycle(std::move(file));  // the last holder of an unlinked file (see Recycle)
      return 0;
    }
    return EINVAL;
  }
  int Rename(const std::string& from, const std::string& to) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    Entry* e = Find(from);
    if (!e) {
      for (auto& d : dirs_) {
        if (d != from) continue;
        d = to;  // a directory (a catalog set aside): only empty ones here
        return 0;
      }
      return ENOENT;
    }
    if (!IsDir(Parent(to))) return ENOENT;
    if (Entry* old = Find(to); old && old != e) {
      Recycle(std::move(old->file));  // replaced
      old->file = std::move(e->file);
      Erase(e);
    } else {
      e->path = to;
    }
    return 0;
  }
  int Unlink(const std::string& path) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsReal(path)) {
      if (::unlink(path.c_str()) != 0) return errno;
      for (auto& r : reals_) {
        if (r.path == path) r.on_disk = r.no_link = false;
      }
      return 0;
    }
    Entry* e = Find(path);
    if (!e) return ENOENT;
    Recycle(std::move(e->file));
    Erase(e);
    return 0;
  }
  int MakeDir(const std::string& path, mode_t) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (IsDir(path) || Find(path)) return EEXIST;
    if (!IsDir(Parent(path))) return ENOENT;
    dirs_.push_back(path);
    return 0;
  }
  int SyncDir(const std::string& path) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return IsDir(path) ? 0 : ENOENT;
  }
  // The names in `dir`: its files, then its directories (each sorted by
  // name), then the LOCK files opened since Reset() that are on disk.
  int ListDir(const std::string& dir, std::vector<std::string>* names) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!IsDir(dir)) return Find(dir) ? ENOTDIR : ENOENT;
    names->clear();
    names->reserve(files_.size() + dirs_.size() + reals_.size());  // one allocation, not one per doubling
    for (const auto& e : files_) {
      if (Parent(e.path) == dir) names->emplace_back(e.path, dir.size() + 1);
    }
    std::sort(names->begin(), names->end());
    const std::size_t files = names->size();
    for (const auto& d : dirs_) {
      if (d.size() > dir.size() && Parent(d) == dir) names->emplace_back(d, dir.size() + 1);
    }
    std::sort(names->begin() + static_cast<std::ptrdiff_t>(files), names->end());
    for (const auto& r : reals_) {
      if (r.opened && r.on_disk && Parent(r.path) == dir) {
        names->emplace_back(r.path, dir.size() + 1);
      }
    }
    return 0;
  }
  int SetOwnerAndMode(int fd, uid_t, gid_t, mode_t) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return FdOf(fd) ? 0 : EBADF;
  }
  int RemoveDir(const std::string& path) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!IsDir(path)) return ENOENT;
    std::vector<std::string> inner;
    ListDir(path, &inner);
    if (!inner.empty()) return ENOTEMPTY;
    for (auto& d : dirs_) {
      if (d != path) continue;
      d = std::move(dirs_.back());
      dirs_.pop_back();
      break;
    }
    return 0;
  }
  // No file or directory here is a symbolic link. A LOCK file is the real
  // one: one that this file system found absent, or opened with
  // O_NOFOLLOW (as the writer's lock does) and has not unlinked since, is
  // answered from its table (it alone makes or removes LOCK files in its
  // directories), any other asked on disk (lstat).
  int IsSymlink(const std::string& path, bool* link) override {
    if (IsReal(path)) {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      for (const auto& r : reals_) {
        if (r.path != path) continue;
        if (!r.on_disk) return ENOENT;
        if (!r.no_link) break;
        *link = false;
        return 0;
      }
      return FileSystem::IsSymlink(path, link);
    }
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!Find(path) && !IsDir(path)) return ENOENT;
    *link = false;
    return 0;
  }

 private:
  // A flat table: a journal directory holds about a dozen files, and a
  // linear search over them costs less than a tree's string compares and
  // node allocations per call.
  struct Entry {
    std::string path;
    std::shared_ptr<File> file;
  };
  struct Fd {
    std::shared_ptr<File> file;  // null for a directory or a real file
    bool real = false;           // a real descriptor of a real file (LOCK)
  };
  // A LOCK file at its real path.
  struct Real {
    std::string path;
    bool opened = false;  // since Reset()
    bool made = false;    // on disk, from an earlier input
    bool on_disk = false;  // there now: opened, and not unlinked since (nothing else makes or removes it)
    bool no_link = false;  // on disk, and opened with O_NOFOLLOW: not a symbolic link
  };
  static bool IsReal(std::string_view path) {
    return path.size() >= 5 && path.compare(path.size() - 5, 5, "/LOCK") == 0;
  }
  int OpenReal(const std::string& path, int flags, mode_t mode, int* fd) {
    Real* r = nullptr;
    for (auto& x : reals_) {
      if (x.path == path) r = &x;
    }
    // Known to be absent: looked for and not found, or unlinked, through
    // this file system, which alone makes LOCK files in its directories (a
    // writer's lock, dir_lock.cc). A reader's check for a live writer
    // (DirLock::IsHeld: the walk, a read-only recovery) then costs no
    // system call per input.
    if (r && !r->on_disk && !(flags & O_CREAT)) return ENOENT;
    const int n = ::open(path.c_str(), flags, mode);
    if (n < 0) {
      const int e = errno;
      if (e == ENOENT && !(flags & O_CREAT) && !r) reals_.push_back(Real{path});  // absent: on_disk false
      return e;
    }
    if (!r) r = &reals_.emplace_back(Real{path});
    r->opened = true;
    r->on_disk = true;
    if (flags & O_NOFOLLOW) r->no_link = true;
    fds_.push_back({n, Fd{nullptr, true}});
    *fd = n;
    return 0;
  }
  Entry* Find(std::string_view path) {
    for (auto& e : files_) {
      if (SamePath(e.path, path)) return &e;
    }
    return nullptr;
  }
  const Entry* Find(std::string_view path) const { return const_cast<MemFileSystem*>(this)->Find(path); }
  void Erase(Entry* e) {
    *e = std::move(files_.back());
    files_.pop_back();
  }
  bool IsDir(std::string_view path) const {
    for (const auto& d : dirs_) {
      if (SamePath(d, path)) return true;
    }
    return false;
  }
  // a == b, compared from the end: the paths of one journal share their
  // directory and differ in their last bytes (segment names differ in the
  // digits before ".seg"), so a mismatch is found in the first 8 bytes
  // compared; 8 bytes a step, without the memcmp interceptor of ASan (its
  // range checks cost more than these compares).
  static bool SamePath(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    std::size_t n = a.size();
    while (n >= 8) {
      std::uint64_t x, y;
      std::memcpy(&x, a.data() + n - 8, 8);
      std::memcpy(&y, b.data() + n - 8, 8);
      if (x != y) return false;
      n -= 8;
    }
    while (n > 0) {
      if (a[n - 1] != b[n - 1]) return false;
      --n;
    }
    return true;
  }
  // A file no longer in the directory goes back to a pool for the next one
  // (its bytes and shadow with it: no allocation of 64 KiB to fault in and
  // zero, no memfd to create), unless something still holds it. Close and
  // Unmap call it too: a file unlinked while open or mapped (the recovery
  // removing the segments past the tail) comes back when its last
  // descriptor or mapping goes, instead of being freed. Freed, it would be
  // allocated again for a later input and kept in the pool there: more
  // allocations than frees in that input, which makes libFuzzer run it a
  // second time to look for a leak (-detect_leaks, TryDetectingAMemoryLeak).
  void Recycle(std::shared_ptr<File>&& f) {
    if (!f || f->maps != 0 || f.use_count() != 1) return;
    auto& pool = f->shadow >= 0 ? pool_ : plain_pool_;
    if (pool.size() < kPoolSize) pool.push_back(std::move(f));
    f.reset();
  }
  // Without `punch` a reused file's shadow may still say data reaches where
  // the last file's did (an upper bound, as the shadow may), until the
  // caller's Resync() makes it exact: one hole punched and one byte written
  // less per file when the new file's data ends where the old one's did.
  std::shared_ptr<File> NewFile(std::string_view path, bool punch = true) {
    auto& pool = IsSegment(path) ? pool_ : plain_pool_;
    if (!pool.empty()) {
      auto f = std::move(pool.back());
      pool.pop_back();
      f->ClearFrom(0);
      f->size = 0;
      f->maps = 0;
      if (punch) f->Punch();  // the shadow keeps its size: usually the same again
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
  static bool IsSegment(std::string_view path) {
    auto ends = [&](std::string_view suffix) {
      return path.size() > suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
    };
    return ends(".seg") || ends(".seg.tmp");
  }
  static std::string_view Parent(std::string_view p) {
    const std::size_t s = p.find_last_of('/');
    return s == std::string_view::npos ? std::string_view(".") : s == 0 ? std::string_view("/") : p.substr(0, s);
  }
  int NewFd(std::shared_ptr<File> f, int* fd) {
    int n;
    if (f && f->shadow >= 0) {
      n = f->shadow;  // not a dup: no fcntl and close per open
    } else {
      n = next_fake_++;
    }
    fds_.push_back({n, Fd{std::move(f), false}});
    *fd = n;
    return 0;
  }
  const Fd* FdOf(int fd) const {
    for (const auto& [n, d] : fds_) {
      if (n == fd) return &d;
    }
    return nullptr;
  }
  File* FileOf(int fd) const {
    const Fd* d = FdOf(fd);
    return d ? d->file.get() : nullptr;
  }

  std::vector<Entry> files_;
  std::vector<std::string> dirs_;
  std::vector<std::pair<int, Fd>> fds_;
  int next_fake_ = kFirstFd;
  std::vector<std::pair<void*, std::shared_ptr<File>>> mapped_;
  std::vector<Real> reals_;  // LOCK files opened
  // A writable journal's background threads reserve and create segments.
  mutable std::recursive_mutex mu_;
  static constexpr std::size_t kPoolSize = 8;
  std::vector<std::shared_ptr<File>> pool_;  // segment files of earlier inputs, for reuse
  std::vector<std::shared_ptr<File>> plain_pool_;  // other files of earlier inputs, for reuse
};

}  // namespace txj::fuzz

#endif  // TXJOURNAL_FUZZ_MEM_FS_H_
