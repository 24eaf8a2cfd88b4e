// The writer lock: an open-file-description lock on DIR/LOCK. The kernel
// drops it when the holder exits, however it exits, so a killed writer never
// blocks the next open. Readers test it without taking it.
#ifndef TXJOURNAL_LIB_DIR_LOCK_H_
#define TXJOURNAL_LIB_DIR_LOCK_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>

#include "non_copyable.h"
#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

class DirLock : NonCopyable {
 public:
  DirLock() = default;
  ~DirLock();

  // Opens (creating it if needed) DIR/LOCK through `fs` and locks it.
  // Errors: kBusy naming the holder's pid when another writer holds it; the
  // file system's error naming the file when it cannot be opened.
  Status Acquire(std::shared_ptr<FileSystem> fs, const std::string& dir, mode_t mode);
  void Release();

  // True if some process holds the writer lock of `dir` now.
  static bool IsHeld(FileSystem& fs, const std::string& dir);

 private:
  std::shared_ptr<FileSystem> fs_;
  int fd_ = -1;
  std::pair<dev_t, ino_t> id_{0, 0};  // device and inode of the LOCK file held
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_DIR_LOCK_H_
