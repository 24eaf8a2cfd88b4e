// XXH3 inlined into the hot paths (record checksums, ids).
#ifndef TXJOURNAL_LIB_CHECKSUM_H_
#define TXJOURNAL_LIB_CHECKSUM_H_

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstddef>
#include <cstdint>

#include "format.h"

namespace txj::internal {

inline std::uint64_t Hash64(const void* data, std::size_t n, std::uint64_t seed = 0) {
  return XXH3_64bits_withSeed(data, n, seed);
}

// Checksum of the record of `length` bytes at `rec`, stored at LSN `lsn`.
inline std::uint64_t RecordChecksum(const void* rec, std::uint32_t length, std::uint64_t salt,
                                    std::uint64_t lsn) {
  const auto* p = static_cast<const std::uint8_t*>(rec);
  return XXH3_64bits_withSeed(p + 8, length - 8, format::RecordSeed(salt, lsn));
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_CHECKSUM_H_
