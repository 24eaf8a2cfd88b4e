// File helpers shared by everything that writes in the journal directory:
// paths, symbolic-link refusal, open errors, owner and mode of replaced
// files, and keeping journal files off descriptors 0, 1 and 2.
#ifndef TXJOURNAL_LIB_FILE_UTIL_H_
#define TXJOURNAL_LIB_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

std::string JoinPath(const std::string& dir, const std::string& name);
std::uint64_t NowNanos();
// kInvalidArgument if `path` is a symbolic link (planted in the journal
// directory, it would lead writes out of it); OK if it is anything else or
// does not exist. Files are opened with O_NOFOLLOW; this covers the
// directories inside the journal directory and the files LMDB opens. Asks
// `fs` (FileSystem::IsSymlink).
Status RefuseSymlink(FileSystem& fs, const std::string& path);
// The status of a failed open(2) of `path` (errno `e`) doing `what`: a
// symbolic link refused by O_NOFOLLOW is said to be one, as RefuseSymlink
// says it; other errors as Status::FromErrno(e, what + " " + path).
Status OpenError(int e, const std::string& what, const std::string& path);

// Gives `fd`, a temporary file about to be renamed over `replaced`, the
// owner and mode of `replaced` when it exists, so that a writer running as
// another user (root) does not lock the journal's owner out. OK when
// `replaced` does not exist; a refused chown (EPERM: not root) leaves the
// file as created.
Status KeepOwnerAndMode(FileSystem& fs, int fd, const std::string& replaced);

// Descriptors 0, 1 and 2 (stdin, stdout, stderr): a journal file must never
// hold one, or whatever the program prints lands in it.
// If `fd` is 0, 1 or 2, moves it to the lowest free descriptor >= 3 (close
// on exec) and closes the original; returns the new descriptor, or -1 with
// errno set. Other values are returned as they are.
int MoveAboveStandardDescriptors(int fd);
// Opens /dev/null into each of 0, 1 and 2 that is closed, so that files
// opened by code outside the FileSystem (LMDB) cannot get them. False when
// one of them stays closed (no /dev/null).
bool ReserveStandardDescriptors();

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_FILE_UTIL_H_
