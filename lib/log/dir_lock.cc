#include "dir_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

#include "format.h"
#include "manifest.h"

namespace txj::internal {

namespace {

// The LOCK files this process holds, by device and inode: an OFD lock
// conflicts with another open of the same file in this process too, and the
// holder is then this process, not "another process".
std::mutex held_mu;
std::set<std::pair<dev_t, ino_t>> held;

}  // namespace

DirLock::~DirLock() { Release(); }

void DirLock::Release() {
  if (fd_ >= 0) {
    {
      std::lock_guard<std::mutex> lock(held_mu);
      held.erase(id_);
    }
    fs_->Close(fd_);  // drops the lock
    fd_ = -1;
  }
  fs_.reset();
}

Status DirLock::Acquire(std::shared_ptr<FileSystem> fs, const std::string& dir, mode_t mode) {
  Release();
  std::string path = JoinPath(dir, format::kLockName);
  for (int attempt = 0;; ++attempt) {
    int fd = -1;
    if (int e = fs->Open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode, &fd)) {
      return OpenError(e, "open lock file", path);
    }
    struct stat st;
    std::pair<dev_t, ino_t> id{0, 0};
    if (::fstat(fd, &st) == 0) id = {st.st_dev, st.st_ino};
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
        bool ours;
        {
          std::lock_guard<std::mutex> lock(held_mu);
          ours = held.count(id) != 0;
        }
        if (ours) {
          return Status::Busy("journal " + dir + " is already open for writing in this process (pid " +
                              std::to_string(::getpid()) +
                              "): one Journal handle per journal and process writes; share that handle, or "
                              "close it before opening again");
        }
        std::string holder = n > 0 ? std::string(buf, n) : "unknown";
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
        return Status::Busy("journal " + dir + " is open for writing by another process (pid " + holder + ")");
      }
      return Status::FromErrno(err, "lock " + path);
    }
    // A failed create removes its LOCK file while holding it: a lock taken
    // on a file that is no longer at `path` locks nothing anyone else sees.
    struct stat now;
    if (::lstat(path.c_str(), &now) != 0 || now.st_dev != id.first || now.st_ino != id.second) {
      fs->Close(fd);
      if (attempt < 8) continue;
      return Status::Busy("lock file " + path + " keeps being replaced while it is taken");
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (fs->Truncate(fd, 0) != 0 || fs->PWrite(fd, pid.data(), pid.size(), 0) != 0) {
      // The pid is only informative; the lock itself is held.
    }
    {
      std::lock_guard<std::mutex> lock(held_mu);
      held.insert(id);
    }
    fs_ = std::move(fs);
    fd_ = fd;
    id_ = id;
    return Status::OK();
  }
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
