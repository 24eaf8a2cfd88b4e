#include "file_util.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>

namespace txj::internal {

std::string JoinPath(const std::string& dir, const std::string& name) {
  // One allocation: `dir + "/" + name` made a second one for the append.
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  path += dir;
  if (dir.empty() || dir.back() != '/') path += '/';
  path += name;
  return path;
}

Status RefuseSymlink(FileSystem& fs, const std::string& path) {
  bool link = false;
  if (fs.IsSymlink(path, &link) == 0 && link) {
    return Status::InvalidArgument(path + " is a symbolic link; the journal does not follow links in its directory");
  }
  return Status::OK();
}

Status OpenError(int e, const std::string& what, const std::string& path) {
  struct stat st;
  if ((e == ELOOP || e == EMLINK) && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return Status::InvalidArgument(path + " is a symbolic link; the journal does not follow links in its directory (" +
                                   what + " refused)");
  }
  return Status::FromErrno(e, what + " " + path);
}

Status KeepOwnerAndMode(FileSystem& fs, int fd, const std::string& replaced) {
  struct stat st;
  if (::lstat(replaced.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Status::OK();
  const mode_t mode = st.st_mode & 07777;
  struct stat mine;
  if (::fstat(fd, &mine) == 0 && mine.st_uid == st.st_uid && mine.st_gid == st.st_gid &&
      (mine.st_mode & 07777) == mode) {
    return Status::OK();
  }
  int e = fs.SetOwnerAndMode(fd, st.st_uid, st.st_gid, mode);
  if (e == EPERM) {
    // Not allowed to give it away (not root): at least keep the mode.
    e = fs.SetOwnerAndMode(fd, mine.st_uid, mine.st_gid, mode);
    if (e == EPERM) e = 0;
  }
  if (e) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    return Status::FromErrno(e, "give the replacement of " + replaced + " its owner " + std::to_string(st.st_uid) +
                                    ":" + std::to_string(st.st_gid) + " and mode " + octal);
  }
  return Status::OK();
}

std::uint64_t NowNanos() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace txj::internal
