// The shared state of one top-level transaction and its open
// sub-transactions. Transaction handles point into it.
#ifndef TXJOURNAL_LIB_TXN_TREE_H_
#define TXJOURNAL_LIB_TXN_TREE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "journal_state.h"
#include "txjournal/transaction.h"

namespace txj::internal {

struct TxnTree {
  struct Level {
    std::uint32_t sub_id;
    std::uint64_t events;  // live events this level holds
  };

  JournalState* j = nullptr;
  std::uint64_t txn_id = 0;
  std::uint64_t begin_lsn = 0;
  std::vector<Level> stack;  // stack[0] is the top level; back() the innermost
  std::uint32_t next_sub = 1;
  std::uint64_t records = 0;
  TxnHash hash;  // the transaction hash of the records written so far
  bool ended = false;
  Status poisoned;  // a write failed: only rollback is possible
  // Events without a timestamp of their own get the transaction's, taken
  // once at begin (a clock read per event cost as much as the copy).
  std::uint64_t timestamp_ns = 0;
  // An event claim is open (Transaction::claim): its record at claim_lsn has
  // no checksum yet, and nothing else may be written before it ends.
  bool claim_open = false;
  std::uint64_t claim_lsn = 0;
  // Ends the open claim, if any: publishes its event, or with `cancel`
  // leaves a padding record in its place.
  void FinishClaim(bool cancel);

  // Writes the begin marker. REQUIRES: the caller owns the write slot.
  static Result<std::shared_ptr<TxnTree>> Start(JournalState* j);

  // Writes a record of this transaction (Append adds it to `hash`).
  // With `fill`, the last part is left for the caller and the record open
  // (JournalState::Append); FinishClaim ends it and folds it in.
  Status Write(RecordType type, std::uint8_t flags, std::uint16_t depth, std::uint32_t sub_id,
               const JournalState::Part* parts, std::size_t n, bool use_reserve, std::uint64_t* lsn,
               std::uint8_t** fill = nullptr);
  // The rule for a failed write of a `type` record, shared by Write and the
  // per-event path (transaction.cc): it poisons the transaction (what
  // reached the journal is unknown), except an event refused as too large
  // (kInvalidArgument: nothing was written). Returns `s`.
  Status WriteFailed(RecordType type, Status s) {
    if (type != RecordType::kEvent || s.code() != Code::kInvalidArgument) poisoned = s;
    return s;
  }
  // Rolls the whole transaction back and releases the write slot.
  Status RollbackAll();
  // Commits the top level and releases the write slot.
  Result<CommitInfo> CommitTop();
  // Rolls back and releases; never fails from the caller's view.
  void Abandon() noexcept;
  void Release();
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_TXN_TREE_H_
