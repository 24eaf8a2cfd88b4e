// XXH3, inlined: the library's one hash (record checksums, the journal salt,
// state hashes, ids derived from content).
#ifndef TXJOURNAL_LIB_HASH_H_
#define TXJOURNAL_LIB_HASH_H_

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hex.h"

namespace txj::internal {

inline std::uint64_t Hash64(const void* data, std::size_t n, std::uint64_t seed = 0) {
  return XXH3_64bits_withSeed(data, n, seed);
}

// The 128-bit XXH3 of `bytes` as 32 lowercase hex digits, high half first
// (StateHash, and the ids of staged sessions).
inline std::string Hash128Hex(std::string_view bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return HexU64(h.high64) + HexU64(h.low64);
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_HASH_H_
