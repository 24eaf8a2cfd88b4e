// The JOURNAL manifest: identity, format version, segment size and the
// writer epoch. Rewritten whole (temporary file, sync, rename, directory
// sync) by every open for writing.
#ifndef TXJOURNAL_LIB_MANIFEST_H_
#define TXJOURNAL_LIB_MANIFEST_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "file_util.h"
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

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_MANIFEST_H_
