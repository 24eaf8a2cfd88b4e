// Record checksums: XXH3 (hash.h) seeded with the journal salt and the LSN.
#ifndef TXJOURNAL_LIB_CHECKSUM_H_
#define TXJOURNAL_LIB_CHECKSUM_H_

#include <cstddef>
#include <cstdint>

#include "format.h"
#include "hash.h"
#include "txn_hash.h"

namespace txj::internal {

// Checksum of the record of `length` bytes at `rec`, stored at LSN `lsn`.
// Past 240 bytes XXH3 takes its long-input loop, which the library's
// dispatched build runs with the CPU's widest vector unit (the same
// value as the inlined baseline build, faster).
[[gnu::always_inline]] inline std::uint64_t RecordChecksum(const void* rec, std::uint32_t length, std::uint64_t salt,
                                                           std::uint64_t lsn) {
  const auto* p = static_cast<const std::uint8_t*>(rec);
  if (length - 8 > 240) return LongHashOf(p + 8, length - 8, format::RecordSeed(salt, lsn));
  return XXH3_64bits_withSeed(p + 8, length - 8, format::RecordSeed(salt, lsn));
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_CHECKSUM_H_
