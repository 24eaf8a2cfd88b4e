// txjournal: the file-system layer.
//
// Every system call the library makes on journal files goes through a
// FileSystem: segments, the manifest, snapshots, the LOCK file, the HEAD page,
// the catalog's directory. The default one calls POSIX directly. Tests swap
// in a layer that fails chosen calls (see tests/fault_fs.h) to prove that
// every failure is reported and that no acknowledged commit is lost.
//
// Outside it: LMDB's own I/O on the catalog's files, the stat of the journal
// directory (is it there, is it one) and the lstat checks of the LOCK file
// (dir_lock.cc), and calls on memory that is already mapped (the in-place
// read-only remap of a sealed segment, prefaulting advice, futex waits on the
// HEAD page). The refusal of a symbolic link planted at a journal file's
// name goes through IsSymlink.
//
// Descriptors: the default file system never returns a descriptor below 3
// (stdin, stdout and stderr), so that nothing a program prints can land in
// a journal file; a replacement should keep that rule.
//
// Functions return 0 on success and an errno value on failure, like the
// POSIX calls they stand for; they never throw.
//
// Thread rules: a journal calls its FileSystem from several threads at once
// (writers, its background thread, cursors, compaction): a replacement must
// be as thread-safe as the POSIX calls it stands for. DefaultFileSystem()
// may be called from any thread.
#ifndef TXJOURNAL_FILE_SYSTEM_H_
#define TXJOURNAL_FILE_SYSTEM_H_

#include "txjournal/cxx_standard.h"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "txjournal/export.h"

namespace txj {

class TXJ_EXPORT FileSystem {
 public:
  virtual ~FileSystem() = default;

  // open(2). On success stores the descriptor in *fd.
  virtual int Open(const std::string& path, int flags, mode_t mode, int* fd) = 0;
  virtual int Close(int fd) = 0;
  // pwrite(2) of all `n` bytes; a short write is reported as EIO.
  virtual int PWrite(int fd, const void* data, std::size_t n, std::uint64_t offset) = 0;
  // pread(2); stores the count read (may be short at end of file) in *got.
  virtual int PRead(int fd, void* data, std::size_t n, std::uint64_t offset, std::size_t* got) = 0;
  // posix_fallocate(3): reserve [offset, offset+n).
  virtual int Allocate(int fd, std::uint64_t offset, std::uint64_t n) = 0;
  virtual int Truncate(int fd, std::uint64_t size) = 0;
  virtual int DataSync(int fd) = 0;   // fdatasync(2)
  virtual int FileSize(int fd, std::uint64_t* size) = 0;
  // mmap(2) of [offset, offset+n) with PROT_READ (and PROT_WRITE if
  // `writable`), MAP_SHARED.
  virtual int Map(int fd, std::uint64_t offset, std::size_t n, bool writable, void** addr) = 0;
  virtual int Unmap(void* addr, std::size_t n) = 0;
  virtual int Rename(const std::string& from, const std::string& to) = 0;
  virtual int Unlink(const std::string& path) = 0;
  virtual int MakeDir(const std::string& path, mode_t mode) = 0;
  // fsync of the directory itself, so that created, renamed and removed
  // entries are durable.
  virtual int SyncDir(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..".
  virtual int ListDir(const std::string& dir, std::vector<std::string>* names) = 0;
  // fchown(2) then fchmod(2): gives a file about to replace another (by
  // rename) the replaced file's owner and mode. The default calls POSIX on
  // the descriptor.
  virtual int SetOwnerAndMode(int fd, uid_t uid, gid_t gid, mode_t mode);
  // rmdir(2) of an empty directory (a failed create removes what it made).
  // The default calls POSIX.
  virtual int RemoveDir(const std::string& path);
  // lstat(2) of `path`: on success stores in *link whether `path` itself
  // (not what it points to) is a symbolic link. Returns ENOENT when nothing
  // is at `path`, and other errno values as lstat(2) does; *link is then
  // left as it was. The journal calls it on its own names before opening
  // them (the manifest, segments, HEAD, LOCK, the catalog's directory and
  // files, snapshots/) and refuses a link with kInvalidArgument naming the
  // path; an error here is taken as "not a link" (the open that follows
  // reports it). Thread rules as for the other functions. The default calls
  // POSIX on the path.
  virtual int IsSymlink(const std::string& path, bool* link);
  // Whether `fd` is the only open of its file anywhere: no other
  // descriptor, in this process or another, and no mapping made through
  // one. Returns 0 when it is, EBUSY when it is not, and another errno
  // value (ENOTSUP, ...) when the file system cannot tell. The journal asks
  // before it reuses a retired segment file for new records (a reader that
  // still maps the old segment must never see new bytes there), and
  // creates a new file instead on anything but 0. The default returns
  // ENOTSUP; the POSIX file system takes a write lease (fcntl F_SETLEASE,
  // released at once), which needs the caller to own the file.
  virtual int CheckOnlyOpen(int fd);
  // Stores in *end how many bytes from the start of `fd` (at most `size`)
  // lie in blocks the file system holds as written: no hole, no block only
  // reserved (fallocate's unwritten extents), no allocation still delayed.
  // A write there changes no allocation, so its sync commits no file-system
  // metadata. The journal asks once when it reuses a retired segment file
  // under commit durability, and writes no zeros ahead of its commits
  // inside that range (they are only there to turn reserved blocks into
  // written ones). 0 is always a correct answer (the default stores 0 and
  // returns 0); a larger one than the truth only costs speed. The POSIX
  // file system asks FIEMAP (FS_IOC_FIEMAP), and answers 0 where the file
  // system does not support it.
  virtual int WrittenPrefix(int fd, std::uint64_t size, std::uint64_t* end);
  // Drops the clean pages of bytes [offset, offset + n) of `fd` from the
  // page cache (a hint: 0 also when nothing was dropped; n == 0 means to
  // the end). The journal calls it when a durable writer reuses a retired
  // segment file: the old segment's cached pages are dead data, and some
  // sit in large folios (a large write fills a large folio), which the
  // kernel writes back whole when a small commit dirties them (a 16 KiB
  // commit into a 64 KiB folio writes 64 KiB). The default does nothing;
  // the POSIX file system calls posix_fadvise(POSIX_FADV_DONTNEED).
  virtual int DropCachedPages(int fd, std::uint64_t offset, std::uint64_t n);
};

// The process-wide POSIX file system. Never null; lives forever.
TXJ_EXPORT std::shared_ptr<FileSystem> DefaultFileSystem();

}  // namespace txj

#endif  // TXJOURNAL_FILE_SYSTEM_H_
