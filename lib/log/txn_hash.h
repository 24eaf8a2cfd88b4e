// The transaction hash of format 4: one XXH3-64 over the bytes of a
// transaction's records, carried in its commit marker (docs/format.md
// "Transaction hash"). Readers that check it need not check each record's
// own checksum again: a single pass over the transaction's contiguous
// bytes takes XXH3's vector loop, where a record of 129-240 bytes takes
// its scalar short-input path.
#ifndef TXJOURNAL_LIB_TXN_HASH_H_
#define TXJOURNAL_LIB_TXN_HASH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace txj::internal {

// XXH3-64 (seed 0) of `n` bytes, with the widest vector unit the CPU has.
std::uint64_t TxnHashOf(const void* p, std::size_t n);
// XXH3-64 of `n` bytes with `seed`, the same way (for inputs over 240
// bytes: shorter ones never use vectors).
std::uint64_t LongHashOf(const void* p, std::size_t n, std::uint64_t seed);

// Hashes a sequence of byte ranges as if they were one. Ranges that
// follow each other in memory are hashed with one call when the hash is
// taken, so a transaction whose records lie in one stretch of a mapping
// costs one TxnHashOf().
//
// Bytes given to Add() are read later, not at once: they must stay
// readable, and unchanged unless the caller means the hash to see the
// change, until a Settle(), a Rebase() (for the bytes it moves) or a
// Reset(). A range that does not follow the previous one is kept pending
// too, not hashed at once: the writer changes staged records (a move past
// a gap) after adding them, and the hash must see them as they end up.
// Not thread-safe.
class TxnHash {
 public:
  TxnHash();
  ~TxnHash();
  TxnHash(const TxnHash&) = delete;
  TxnHash& operator=(const TxnHash&) = delete;

  void Reset() {
    streamed_ = false;
    p_ = end_ = nullptr;
    earlier_.clear();
  }
  void Add(const std::uint8_t* p, std::size_t n) {
    if (p == end_ && p_ != nullptr) {
      end_ += n;
      return;
    }
    if (p_ != nullptr) earlier_.push_back({p_, end_});
    p_ = p;
    end_ = p + n;
  }
  // Hashes the pending bytes now (before they change or go away).
  void Settle();
  // Bytes added but not hashed yet.
  std::size_t pending() const {
    std::size_t n = static_cast<std::size_t>(end_ - p_);
    for (const Range& r : earlier_) n += static_cast<std::size_t>(r.end - r.p);
    return n;
  }
  // The pending bytes moved from the buffer at `from` (`size` bytes long)
  // to the same place in the buffer at `to`.
  void Rebase(const std::uint8_t* from, std::size_t size, const std::uint8_t* to) {
    auto move = [&](const std::uint8_t*& p, const std::uint8_t*& end) {
      if (p != nullptr && p >= from && p < from + size) {
        end = to + (end - from);
        p = to + (p - from);
      }
    };
    move(p_, end_);
    for (Range& r : earlier_) move(r.p, r.end);
  }
  // The hash of everything added so far; adding may go on.
  std::uint64_t Digest() const;

 private:
  struct State;
  struct Range {
    const std::uint8_t* p;
    const std::uint8_t* end;
  };
  // Hashes the pending ranges, in order, into `to` (Settle and Digest).
  void FeedPending(State* to) const;
  std::unique_ptr<State> state_;  // allocated by the first Settle()
  bool streamed_ = false;         // the state holds bytes
  std::vector<Range> earlier_;    // pending ranges before [p_, end_), in order
  const std::uint8_t* p_ = nullptr;  // pending: [p_, end_)
  const std::uint8_t* end_ = nullptr;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_TXN_HASH_H_
