// journal-bench: the bytes txjournal writes for a transaction, laid out by
// the harness itself with the format's structures (format version 5,
// lib/log/format.h: begin markers flagged "hashed", events naming their
// topic and type by id, the commit carrying the transaction hash; the
// txjournal engine itself uses only the public API). The limit engines
// write exactly these bytes, so "fraction of the limit" compares like with
// like; only the names record that binds the id once per segment (48 bytes
// in 64 MiB) is left out.
#ifndef TXJOURNAL_BENCH_RECORD_MODEL_H_
#define TXJOURNAL_BENCH_RECORD_MODEL_H_

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "format.h"
#include "txn_hash.h"

namespace bench::model {

// txjournal's own record layouts (lib/log/format.h): the limit engines lay
// out the same bytes with them.
using Header = txj::format::RecordHeader;
using EventBody = txj::format::EventBody;
using CommitBody = txj::format::CommitBody;

inline constexpr std::uint8_t kBegin = 1, kEvent = 3, kCommit = 6;  // txj::RecordType
inline constexpr std::string_view kTopic = "bench", kType = "event";  // what the txjournal engine appends
inline constexpr std::size_t Align(std::size_t n) { return (n + 7) & ~std::size_t{7}; }
inline constexpr std::size_t kBeginBytes = 32 + 8, kCommitBytes = 32 + 48;
inline constexpr std::size_t EventBytes(std::size_t payload) { return Align(32 + 16 + payload); }
// Record bytes per event for `per_txn` events per transaction (begin and
// commit markers shared out).
inline double BytesPerEvent(std::size_t payload, std::size_t per_txn) {
  return static_cast<double>(EventBytes(payload)) +
         static_cast<double>(kBeginBytes + kCommitBytes) / static_cast<double>(per_txn);
}
inline constexpr std::size_t TxnBytes(std::size_t payload, std::size_t per_txn) {
  return kBeginBytes + per_txn * EventBytes(payload) + kCommitBytes;
}

inline std::uint64_t Seed(std::uint64_t salt, std::uint64_t lsn) { return salt ^ (lsn * 0xc2b2ae3d27d4eb4full); }

// Writes one transaction (begin, `n` events of `payload`, commit) at `dst`,
// which is at log position `lsn`; returns the bytes written
// (TxnBytes(payload.size(), n)). One timestamp for the whole transaction,
// read by the caller. Checksums as txjournal's: XXH3-64 of the record from
// byte 8, seeded with the journal salt and the position; the commit carries
// the transaction hash (XXH3-64 of the records before it, with the same
// function the writer uses).
inline std::size_t WriteTxn(char* dst, std::uint64_t lsn, std::uint64_t salt, std::uint64_t txn_id,
                            std::uint64_t first_offset, std::uint64_t now_ns, std::string_view payload, std::size_t n) {
  char* p = dst;
  auto finish = [&](Header h, std::size_t len) {
    h.length = static_cast<std::uint32_t>(len);
    std::memcpy(p, &h, sizeof h);
    const std::uint64_t at = lsn + static_cast<std::uint64_t>(p - dst);
    const std::uint64_t sum = XXH3_64bits_withSeed(p + 8, len - 8, Seed(salt, at));
    std::memcpy(p, &sum, 8);
    const std::size_t aligned = Align(len);
    if (aligned != len) std::memset(p + len, 0, aligned - len);
    p += aligned;
  };
  Header h{0, 0, kBegin, txj::format::kFlagHashedTxn, 0, txn_id, 0, 1};
  std::memcpy(p + 32, &now_ns, 8);
  finish(h, kBeginBytes);
  h.type = kEvent;
  h.flags = txj::format::kFlagNameRef;
  for (std::size_t i = 0; i < n; ++i) {
    EventBody b{now_ns, static_cast<std::uint32_t>(payload.size()), 0, 0, 0};  // names id 0
    std::memcpy(p + 32, &b, 16);
    std::memcpy(p + 48, payload.data(), payload.size());
    finish(h, 48 + payload.size());
  }
  const std::uint64_t txn_hash = txj::internal::TxnHashOf(dst, static_cast<std::size_t>(p - dst));
  CommitBody c{first_offset, n, n + 1, txn_hash, lsn, now_ns};
  h.type = kCommit;
  std::memcpy(p + 32, &c, 48);
  finish(h, kCommitBytes);
  return static_cast<std::size_t>(p - dst);
}

}  // namespace bench::model

#endif  // TXJOURNAL_BENCH_RECORD_MODEL_H_
