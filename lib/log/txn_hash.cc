#include "txn_hash.h"

// The library's own build of XXH3 (not the inlined one of hash.h): its
// _dispatch entry points pick AVX2 or AVX-512 at run time, and the inlined
// copy is built for the baseline target (SSE2).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#include <xxh_x86dispatch.h>

#include <cstring>

namespace txj::internal {

struct TxnHash::State {
  XXH3_state_t st;
};

TxnHash::TxnHash() = default;
TxnHash::~TxnHash() = default;

std::uint64_t TxnHashOf(const void* p, std::size_t n) { return XXH3_64bits_dispatch(p, n); }

std::uint64_t LongHashOf(const void* p, std::size_t n, std::uint64_t seed) {
  return XXH3_64bits_withSeed_dispatch(p, n, seed);
}

void TxnHash::Settle() {
  if (p_ == nullptr) return;
  if (!streamed_) {
    if (!state_) state_ = std::make_unique<State>();
    (void)XXH3_64bits_reset(&state_->st);
    streamed_ = true;
  }
  for (const Range& r : earlier_) {
    (void)XXH3_64bits_update_dispatch(&state_->st, r.p, static_cast<std::size_t>(r.end - r.p));
  }
  earlier_.clear();
  (void)XXH3_64bits_update_dispatch(&state_->st, p_, static_cast<std::size_t>(end_ - p_));
  p_ = end_ = nullptr;
}

std::uint64_t TxnHash::Digest() const {
  const std::size_t n = p_ ? static_cast<std::size_t>(end_ - p_) : 0;
  if (!streamed_ && earlier_.empty()) {
    return XXH3_64bits_dispatch(p_ ? p_ : reinterpret_cast<const std::uint8_t*>(""), n);
  }
  State copy;
  if (streamed_) {
    std::memcpy(&copy.st, &state_->st, sizeof copy.st);
  } else {
    (void)XXH3_64bits_reset(&copy.st);
  }
  for (const Range& r : earlier_) {
    (void)XXH3_64bits_update_dispatch(&copy.st, r.p, static_cast<std::size_t>(r.end - r.p));
  }
  if (n != 0) (void)XXH3_64bits_update_dispatch(&copy.st, p_, n);
  return XXH3_64bits_digest(&copy.st);
}

}  // namespace txj::internal
