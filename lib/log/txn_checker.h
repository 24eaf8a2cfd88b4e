// Checks the transaction structure of a record stream (the marker grammar of
// docs/format.md) and follows the committed view: which transactions commit,
// their offsets, and which sub-transactions were rolled back.
#ifndef TXJOURNAL_LIB_TXN_CHECKER_H_
#define TXJOURNAL_LIB_TXN_CHECKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "record.h"
#include "txjournal/status.h"
#include "txn_hash.h"

namespace txj::internal {

class TxnChecker {
 public:
  // What a record did to the structure.
  enum class Effect { kNone, kBegan, kCommitted, kRolledBack };

  // Pass as next_offset when reading from a place whose offset is not known:
  // the first commit marker then sets it.
  static constexpr std::uint64_t kUnknownOffset = ~std::uint64_t{0};

  // `next_offset`: offset the next committed event gets; `last_txn_id`: the
  // highest transaction id seen before the start.
  void Reset(std::uint64_t next_offset, std::uint64_t last_txn_id);

  // Feeds the next record. Errors: kCorruption describing the violation
  // (the caller adds the position).
  Status Feed(const RecordView& r, Effect* effect);
  // Feed() for the commonest record, an event of the innermost open level,
  // inline: true when `r` was one (its effect is kNone), false when the
  // caller must call Feed() instead. Same checks, same state.
  bool FeedEvent(const RecordView& r) {
    if (r.type != RecordType::kEvent || !open_ || r.txn_id != txn_id_) return false;
    Frame* f = stack_.empty() ? nullptr : &stack_.back();
    if (r.sub_id != (f ? f->sub_id : 0) || r.depth != stack_.size()) return false;
    ++(f ? f->events : top_events_);
    ++records_;
    Fold(r.body - format::kRecordHeaderSize, format::AlignUp(r.length), r.checksum);
    return true;
  }

  // FeedEvent() for an event given by its header fields and its bytes
  // (`rec`, `length` as in the header), taken only at the top level while
  // no sub-transaction is open (the case a reader decodes inline): true
  // when it was one, false when the caller must call Feed().
  bool FeedTopEvent(std::uint64_t txn_id, std::uint32_t sub_id, std::uint16_t depth, std::uint64_t checksum,
                    const std::uint8_t* rec, std::uint32_t length) {
    if (!open_ || txn_id != txn_id_ || sub_id != 0 || depth != 0 || !stack_.empty()) return false;
    ++top_events_;
    ++records_;
    Fold(rec, format::AlignUp(length), checksum);
    return true;
  }

  // FeedTopEvent for `n` records of a hashed transaction lying back to back
  // in [rec, rec + bytes) (lengths aligned), each of which the caller found
  // to be an event of txn_id() with sub_id and depth 0, while
  // TakesTopEventRun(): one step instead of one per record.
  bool TakesTopEventRun() const { return open_ && hashed_ && stack_.empty(); }
  void FeedTopEventRun(const std::uint8_t* rec, std::size_t bytes, std::uint64_t n) {
    top_events_ += n;
    records_ += n;
    hash_.Add(rec, bytes);
  }

  // The open transaction's commit marker carries the transaction hash
  // (format 4, kFlagHashedTxn on its begin marker): a reader that checks
  // the commit need not have checked each record's checksum (the hash
  // covers every byte of them), only their bounds.
  bool hashed() const { return open_ && hashed_; }
  // The last Feed() failed only because the transaction hash did not match
  // the commit marker (record count, begin and offsets did).
  bool hash_mismatch() const { return hash_mismatch_; }

  bool in_txn() const { return open_; }
  std::uint64_t txn_id() const { return txn_id_; }
  std::uint64_t begin_lsn() const { return begin_lsn_; }
  std::size_t open_depth() const { return stack_.size(); }
  std::uint64_t next_offset() const { return next_offset_; }
  std::uint64_t last_txn_id() const { return last_txn_id_; }
  std::uint64_t record_count() const { return records_; }
  // Sub-transactions of the current (or just ended) transaction that were
  // rolled back, in the order of their rollback markers.
  const std::vector<std::uint32_t>& rolled_back_subs() const { return dead_; }
  // After kCommitted: the commit's first offset and count.
  std::uint64_t committed_first_offset() const { return committed_first_; }
  std::uint64_t committed_count() const { return committed_count_; }

 private:
  // The steps of Feed by record type (a begin marker; inside a
  // transaction, `top` the innermost open sub-transaction, 0 for the top).
  Status FeedBegin(const RecordView& r, Effect* effect);
  Status FeedSubBegin(const RecordView& r, std::uint32_t top);
  Status FeedSubEnd(const RecordView& r, std::uint32_t top);
  Status FeedCommit(const RecordView& r, std::uint32_t top, Effect* effect);
  Status FeedRollback(const RecordView& r, Effect* effect);
  // Folds a record of the open transaction into its hash: its bytes
  // (`rec`, `n` of them, the alignment included) into the transaction
  // hash, or its checksum into the running hash.
  void Fold(const std::uint8_t* rec, std::size_t n, std::uint64_t checksum) {
    if (hashed_) {
      hash_.Add(rec, n);
    } else {
      running_ = format::RunningHashStep(running_, checksum);
    }
  }
  struct Frame {
    std::uint32_t sub_id;
    std::uint64_t events;  // live events held by this level
  };
  bool open_ = false;
  std::uint64_t txn_id_ = 0;
  std::uint64_t begin_lsn_ = 0;
  std::uint64_t next_offset_ = 0;
  std::uint64_t last_txn_id_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t running_ = 0;
  bool hashed_ = false;  // the open transaction's begin has kFlagHashedTxn
  bool hash_mismatch_ = false;
  TxnHash hash_;
  std::uint32_t max_sub_ = 0;
  std::uint64_t top_events_ = 0;
  std::vector<Frame> stack_;
  std::vector<std::uint32_t> dead_;
  std::uint64_t committed_first_ = 0;
  std::uint64_t committed_count_ = 0;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_TXN_CHECKER_H_
