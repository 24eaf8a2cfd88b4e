// The writer lock: an open-file-description lock on DIR/LOCK. The kernel
// drops it when the holder exits, however it exits, so a killed writer never
// blocks the next open. Readers test it without taking it.
#ifndef TXJOURNAL_LIB_DIR_LOCK_H_
#define TXJOURNAL_LIB_DIR_LOCK_H_

#include <sys/types.h>

#include <string>

#include "txjournal/status.h"

namespace txj::internal {

class DirLock {
 public:
  DirLock() = default;
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  // Errors: kBusy naming the holder's pid when another writer holds it.
  Status Acquire(const std::string& dir, mode_t mode);
  void Release();

  // True if some process holds the writer lock of `dir` now.
  static bool IsHeld(const std::string& dir);

 private:
  int fd_ = -1;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_DIR_LOCK_H_
