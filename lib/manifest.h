// The JOURNAL manifest: identity, format version, segment size and the
// writer epoch. Rewritten whole (temporary file, sync, rename, directory
// sync) by every open for writing.
#ifndef TXJOURNAL_LIB_MANIFEST_H_
#define TXJOURNAL_LIB_MANIFEST_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

struct ManifestData {
  std::uint8_t journal_id[16] = {};
  std::uint64_t segment_size = 0;
  std::uint64_t epoch = 0;
  std::uint64_t created_ns = 0;
  std::uint64_t first_lsn = 0;     // 0: the first segment's first record
  std::uint64_t first_offset = 0;
  std::uint64_t retention_offset = 0;
  std::uint64_t flags = 0;
  std::uint64_t last_txn_id_before = 0;  // highest transaction id used before first_lsn

  // XXH3_64 of journal_id: mixed into every record checksum.
  std::uint64_t salt() const;
  std::string id_hex() const;
};

// Errors: kNotFound (no JOURNAL file), kCorruption, kNotSupported.
Status ReadManifest(FileSystem& fs, const std::string& dir, ManifestData* out);
Status WriteManifest(FileSystem& fs, const std::string& dir, const ManifestData& m, mode_t mode);
// Fills `id` with 16 random bytes.
Status RandomId(std::uint8_t id[16]);

std::string JoinPath(const std::string& dir, const std::string& name);
std::uint64_t NowNanos();
// kInvalidArgument if `path` is a symbolic link (planted in the journal
// directory, it would lead writes out of it); OK if it is anything else or
// does not exist. Files are opened with O_NOFOLLOW; this covers the
// directories inside the journal directory and the files LMDB opens.
Status RefuseSymlink(const std::string& path);
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

#endif  // TXJOURNAL_LIB_MANIFEST_H_
