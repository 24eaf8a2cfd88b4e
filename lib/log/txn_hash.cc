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

void TxnHash::FeedPending(State* to) const {
  for (const Range& r : earlier_) {
    (void)XXH3_64bits_update_dispatch(&to->st, r.p, static_cast<std::size_t>(r.end - r.p));
  }
  if (end_ != p_) (void)XXH3_64bits_update_dispatch(&to->st, p_, static_cast<std::size_t>(end_ - p_));
}

void TxnHash::Settle() {
  if (p_ == nullptr) return;
  if (!streamed_) {
    if (!state_) state_ = std::make_unique<State>();
    (void)XXH3_64bits_reset(&state_->st);
    streamed_ = true;
  }
  FeedPending(state_.get());
  earlier_.clear();
  p_ = end_ = nullptr;
}

std::uint64_t TxnHash::Digest() const {
  if (!streamed_ && earlier_.empty()) {
    // One stretch: one call, no state.
    return XXH3_64bits_dispatch(p_ ? p_ : reinterpret_cast<const std::uint8_t*>(""),
                                static_cast<std::size_t>(end_ - p_));
  }
  State copy;
  if (streamed_) {
    std::memcpy(&copy.st, &state_->st, sizeof copy.st);
  } else {
    (void)XXH3_64bits_reset(&copy.st);
  }
  FeedPending(&copy);
  return XXH3_64bits_digest(&copy.st);
}

}  // namespace txj::internal
