#include "dir_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "format.h"
#include "manifest.h"

namespace txj::internal {

DirLock::~DirLock() { Release(); }

void DirLock::Release() {
  if (fd_ >= 0) {
    fs_->Close(fd_);  // drops the lock
    fd_ = -1;
  }
  fs_.reset();
}

Status DirLock::Acquire(std::shared_ptr<FileSystem> fs, const std::string& dir, mode_t mode) {
  Release();
  std::string path = JoinPath(dir, format::kLockName);
  int fd = -1;
  if (int e = fs->Open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode, &fd)) {
    return Status::FromErrno(e, "open lock file " + path);
  }
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    int err = errno;
    char buf[32] = {};
    std::size_t n = 0;
    if (fs->PRead(fd, buf, sizeof buf - 1, 0, &n) != 0) n = 0;
    fs->Close(fd);
    if (err == EAGAIN || err == EACCES) {
      std::string holder = n > 0 ? std::string(buf, n) : "unknown";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      return Status::Busy("journal " + dir + " is open for writing by another process (pid " + holder + ")");
    }
    return Status::FromErrno(err, "lock " + path);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (fs->Truncate(fd, 0) != 0 || fs->PWrite(fd, pid.data(), pid.size(), 0) != 0) {
    // The pid is only informative; the lock itself is held.
  }
  fs_ = std::move(fs);
  fd_ = fd;
  return Status::OK();
}

bool DirLock::IsHeld(FileSystem& fs, const std::string& dir) {
  std::string path = JoinPath(dir, format::kLockName);
  int fd = -1;
  if (fs.Open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, &fd) != 0) return false;
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  bool held = ::fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
  fs.Close(fd);
  return held;
}

}  // namespace txj::internal
