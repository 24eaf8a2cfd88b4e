// The default FileSystem: direct POSIX calls.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "file_util.h"
#include "txjournal/file_system.h"

namespace txj {

namespace internal {

int MoveAboveStandardDescriptors(int fd) {
  if (fd < 0 || fd > 2) return fd;
  // Descriptors 0-2 belong to stdin, stdout and stderr: a journal file
  // there would receive whatever the program prints (SQLite's rule).
  int moved;
  do { moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3); } while (moved < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (moved < 0) errno = err;
  return moved;
}

bool ReserveStandardDescriptors() {
  bool all = true;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free descriptor is `fd` (those below it are open): fill it
    // with /dev/null for good, without close-on-exec, so neither this
    // process nor its children hand it to a file.
    int n;
    do { n = ::open("/dev/null", O_RDWR); } while (n < 0 && errno == EINTR);
    if (n < 0) {
      all = false;
      continue;
    }
    if (n > 2) ::close(n);  // another thread filled the slot meanwhile
  }
  return all;
}

}  // namespace internal

int FileSystem::SetOwnerAndMode(int fd, uid_t uid, gid_t gid, mode_t mode) {
  if (::fchown(fd, uid, gid) != 0) return errno;
  return ::fchmod(fd, mode) == 0 ? 0 : errno;
}

int FileSystem::RemoveDir(const std::string& path) { return ::rmdir(path.c_str()) == 0 ? 0 : errno; }

int FileSystem::IsSymlink(const std::string& path, bool* link) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno;
  *link = S_ISLNK(st.st_mode);
  return 0;
}

int FileSystem::CheckOnlyOpen(int) { return ENOTSUP; }

int FileSystem::WrittenPrefix(int, std::uint64_t, std::uint64_t* end) {
  *end = 0;
  return 0;
}

int FileSystem::DropCachedPages(int, std::uint64_t, std::uint64_t) { return 0; }

namespace {

class PosixFileSystem final : public FileSystem {
 public:
  int Open(const std::string& path, int flags, mode_t mode, int* fd) override {
    int r;
    // Never follow a symlink planted in the journal directory.
    do { r = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode); } while (r < 0 && errno == EINTR);
    if (r < 0) return errno;
    r = internal::MoveAboveStandardDescriptors(r);
    if (r < 0) return errno;
    *fd = r;
    return 0;
  }
  int Close(int fd) override { return ::close(fd) == 0 ? 0 : errno; }
  int CheckOnlyOpen(int fd) override {
    // A write lease is granted only while no other open file description
    // of the file exists (a mapping keeps its description open).
    if (::fcntl(fd, F_SETLEASE, F_WRLCK) != 0) return errno == EAGAIN ? EBUSY : errno;
    (void)::fcntl(fd, F_SETLEASE, F_UNLCK);
    return 0;
  }
  int WrittenPrefix(int fd, std::uint64_t size, std::uint64_t* end) override {
    *end = 0;
    // The extents from byte 0, a batch at a time; the prefix ends at the
    // first gap (a hole) or at the first extent that is only reserved
    // (unwritten), not yet allocated (delalloc) or not plainly mapped.
    constexpr unsigned kBatch = 32;
    alignas(fiemap) unsigned char buf[sizeof(fiemap) + kBatch * sizeof(fiemap_extent)];
    auto* map = reinterpret_cast<fiemap*>(buf);
    auto* extents = reinterpret_cast<fiemap_extent*>(buf + sizeof(fiemap));
    constexpr std::uint32_t kNotPlain = FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_UNKNOWN |
                                        FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
                                        FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_DATA_TAIL;
    std::uint64_t at = 0;
    while (at < size) {
      std::memset(buf, 0, sizeof buf);
      map->fm_start = at;
      map->fm_length = size - at;
      map->fm_extent_count = kBatch;
      if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) {
        // No FIEMAP here: nothing is known to be written.
        if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL) return 0;
        return errno;
      }
      if (map->fm_mapped_extents == 0) break;
      for (unsigned i = 0; i < map->fm_mapped_extents && i < kBatch; ++i) {
        const fiemap_extent& e = extents[i];
        if (e.fe_logical > at || (e.fe_flags & kNotPlain) != 0) {
          *end = std::min(at, size);
          return 0;
        }
        at = e.fe_logical + e.fe_length;
        if ((e.fe_flags & FIEMAP_EXTENT_LAST) != 0) {
          *end = std::min(at, size);
          return 0;
        }
      }
    }
    *end = std::min(at, size);
    return 0;
  }
  int DropCachedPages(int fd, std::uint64_t offset, std::uint64_t n) override {
    return ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_DONTNEED);
  }
  int PWrite(int fd, const void* data, std::size_t n, std::uint64_t offset) override {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (w == 0) return EIO;
      p += w;
      n -= static_cast<std::size_t>(w);
      offset += static_cast<std::uint64_t>(w);
    }
    return 0;
  }
  int PRead(int fd, void* data, std::size_t n, std::uint64_t offset, std::size_t* got) override {
    char* p = static_cast<char*>(data);
    std::size_t total = 0;
    while (total < n) {
      ssize_t r = ::pread(fd, p + total, n - total, static_cast<off_t>(offset + total));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (r == 0) break;
      total += static_cast<std::size_t>(r);
    }
    *got = total;
    return 0;
  }
  int Allocate(int fd, std::uint64_t offset, std::uint64_t n) override {
    return ::posix_fallocate(fd, static_cast<off_t>(offset), static_cast<off_t>(n));
  }
  int Truncate(int fd, std::uint64_t size) override {
    return ::ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  }
  int DataSync(int fd) override { return ::fdatasync(fd) == 0 ? 0 : errno; }
  int FileSize(int fd, std::uint64_t* size) override {
    // lseek, not fstat: a stat marks the file's timestamps as seen, so on
    // kernels with fine-grained ("multigrain") timestamps the next write
    // changes them and the next fdatasync commits the file system's journal
    // too (ext4, Linux 6.18: a second device write per durable commit and
    // 30% fewer commits a second, since the writer checks the size after
    // every sync). The descriptors of this layer are only used with
    // positional reads and writes, so moving the offset changes nothing.
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) return errno;
    *size = static_cast<std::uint64_t>(end);
    return 0;
  }
  int Map(int fd, std::uint64_t offset, std::size_t n, bool writable, void** addr) override {
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void* p = ::mmap(nullptr, n, prot, MAP_SHARED, fd, static_cast<off_t>(offset));
    if (p == MAP_FAILED) return errno;
    *addr = p;
    return 0;
  }
  int Unmap(void* addr, std::size_t n) override { return ::munmap(addr, n) == 0 ? 0 : errno; }
  int Rename(const std::string& from, const std::string& to) override {
    return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  }
  int Unlink(const std::string& path) override { return ::unlink(path.c_str()) == 0 ? 0 : errno; }
  int MakeDir(const std::string& path, mode_t mode) override {
    return ::mkdir(path.c_str(), mode) == 0 ? 0 : errno;
  }
  int SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    fd = internal::MoveAboveStandardDescriptors(fd);
    if (fd < 0) return errno;
    int r = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return r;
  }
  int ListDir(const std::string& dir, std::vector<std::string>* names) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    fd = internal::MoveAboveStandardDescriptors(fd);
    if (fd < 0) return errno;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      const int err = errno;
      ::close(fd);
      return err;
    }
    names->clear();
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names->push_back(std::move(n));
    }
    ::closedir(d);
    return 0;
  }
};

}  // namespace

std::shared_ptr<FileSystem> DefaultFileSystem() {
  static const std::shared_ptr<FileSystem> fs = std::make_shared<PosixFileSystem>();
  return fs;
}

}  // namespace txj
