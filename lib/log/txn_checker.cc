#include "txn_checker.h"

#include <algorithm>

namespace txj::internal {

namespace {
std::string Num(std::uint64_t v) { return std::to_string(v); }

// Adds `n` events (a padding's, a sub-transaction's) to `*count`, the live
// events of a level of the open transaction. Counts stay at most 2^63:
// offsets below 2^64 - 1 never need more, and events counted one by one
// (at most one per record, far fewer than 2^63) can then never wrap a
// count, which would let a commit marker's count match a wrapped sum and
// hand out offsets that go back.
Status AddEvents(std::uint64_t* count, std::uint64_t n, const char* what) {
  constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 63;
  if (n > kMaxCount || *count > kMaxCount - n) {
    return Status::Corruption(std::string(what) + " of " + Num(n) + " events after " + Num(*count) +
                              " in its transaction: more than 2^63 events");
  }
  *count += n;
  return Status::OK();
}
}  // namespace

void TxnChecker::Reset(std::uint64_t next_offset, std::uint64_t last_txn_id) {
  open_ = false;
  hashed_ = false;
  hash_mismatch_ = false;
  hash_.Reset();
  next_offset_ = next_offset;
  last_txn_id_ = last_txn_id;
  stack_.clear();
  dead_.clear();
}

Status TxnChecker::Feed(const RecordView& r, Effect* effect) {
  *effect = Effect::kNone;
  hash_mismatch_ = false;
  if (FeedEvent(r)) return Status::OK();  // the rule for events lives there
  if (r.type == RecordType::kSegmentEnd) {
    // Not part of the transaction's bytes; the segment's mapping may go
    // once the reader moves on.
    if (open_ && hashed_) hash_.Settle();
    return Status::OK();
  }
  if (r.type == RecordType::kPadding && !open_) {
    // Whole transactions removed by compaction: their offsets and their
    // transaction ids stay taken.
    const auto body = ReadBody<format::PaddingBody>(r);
    if (next_offset_ != kUnknownOffset) {
      // Offsets never reach 2^64 - 1 (kUnknownOffset).
      if (body.skipped_events >= kUnknownOffset - next_offset_) {
        return Status::Corruption("padding of " + Num(body.skipped_events) + " events after offset " +
                                  Num(next_offset_) + ": offsets past 2^64 - 1");
      }
      next_offset_ += body.skipped_events;
    }
    last_txn_id_ = std::max(last_txn_id_, body.last_txn_id);
    return Status::OK();
  }
  if (r.type == RecordType::kBegin) return FeedBegin(r, effect);
  if (!open_) {
    return Status::Corruption(std::string(RecordTypeName(r.type)) + " record of transaction " +
                              Num(r.txn_id) + " outside any transaction");
  }
  if (r.txn_id != txn_id_) {
    return Status::Corruption(std::string(RecordTypeName(r.type)) + " record of transaction " +
                              Num(r.txn_id) + " inside transaction " + Num(txn_id_));
  }
  const std::uint32_t top = stack_.empty() ? 0 : stack_.back().sub_id;
  switch (r.type) {
    case RecordType::kSubBegin: TXJ_RETURN_IF_ERROR(FeedSubBegin(r, top)); break;
    case RecordType::kPadding:
      TXJ_RETURN_IF_ERROR(AddEvents(stack_.empty() ? &top_events_ : &stack_.back().events,
                                    ReadBody<format::PaddingBody>(r).skipped_events, "padding"));
      break;
    case RecordType::kEvent:
      // FeedEvent took every event of the innermost open level.
      return Status::Corruption("event of sub-transaction " + Num(r.sub_id) + " at depth " + Num(r.depth) +
                                " while the innermost open level is " + Num(top) + " at depth " +
                                Num(stack_.size()));
    case RecordType::kNames:
      // Stands where an event of the innermost open level would.
      if (r.sub_id != top || r.depth != stack_.size()) {
        return Status::Corruption("names record of sub-transaction " + Num(r.sub_id) + " at depth " + Num(r.depth) +
                                  " while the innermost open level is " + Num(top) + " at depth " + Num(stack_.size()));
      }
      break;
    case RecordType::kSubCommit:
    case RecordType::kSubRollback: TXJ_RETURN_IF_ERROR(FeedSubEnd(r, top)); break;
    case RecordType::kCommit: return FeedCommit(r, top, effect);
    case RecordType::kRollback: return FeedRollback(r, effect);
    default: return Status::Corruption("unexpected record type");
  }
  ++records_;
  // A padding's checksum covers its header and body only: so does the hash.
  Fold(r.body - format::kRecordHeaderSize,
       r.type == RecordType::kPadding ? format::kPaddingCheckedSize : format::AlignUp(r.length), r.checksum);
  return Status::OK();
}

Status TxnChecker::FeedBegin(const RecordView& r, Effect* effect) {
  if (open_) {
    return Status::Corruption("begin of transaction " + Num(r.txn_id) + " while transaction " + Num(txn_id_) +
                              " is still open");
  }
  if (r.txn_id <= last_txn_id_) {
    return Status::Corruption("transaction id regression: " + Num(r.txn_id) + " after " + Num(last_txn_id_));
  }
  if (r.depth != 0 || r.sub_id != 0) return Status::Corruption("begin marker with a sub-transaction id or depth");
  open_ = true;
  txn_id_ = r.txn_id;
  last_txn_id_ = r.txn_id;
  begin_lsn_ = r.lsn;
  records_ = 1;
  running_ = format::kRunningHashInit;
  hashed_ = (r.flags & format::kFlagHashedTxn) != 0;
  hash_.Reset();
  Fold(r.body - format::kRecordHeaderSize, format::AlignUp(r.length), r.checksum);
  max_sub_ = 0;
  top_events_ = 0;
  stack_.clear();
  dead_.clear();
  *effect = Effect::kBegan;
  return Status::OK();
}

Status TxnChecker::FeedSubBegin(const RecordView& r, std::uint32_t top) {
  auto b = ReadBody<format::SubBeginBody>(r);
  if (r.sub_id <= max_sub_ || b.parent_sub_id != top || r.depth != stack_.size() + 1) {
    return Status::Corruption("sub-transaction " + Num(r.sub_id) + " begins under " + Num(b.parent_sub_id) +
                              " at depth " + Num(r.depth) + ", but the innermost open level is " + Num(top) +
                              " at depth " + Num(stack_.size()));
  }
  max_sub_ = r.sub_id;
  stack_.push_back({r.sub_id, 0});
  return Status::OK();
}

Status TxnChecker::FeedSubEnd(const RecordView& r, std::uint32_t top) {
  if (stack_.empty() || r.sub_id != top || r.depth != stack_.size()) {
    return Status::Corruption(std::string(RecordTypeName(r.type)) + " of sub-transaction " + Num(r.sub_id) +
                              " while the innermost open level is " + Num(top) + " (unbalanced sub-transactions)");
  }
  std::uint64_t n = stack_.back().events;
  std::uint64_t stored = ReadBody<format::SubCommitBody>(r).event_count;
  if (stored != n) {
    return Status::Corruption("sub-transaction " + Num(r.sub_id) + " marker counts " + Num(stored) +
                              " events, its records hold " + Num(n));
  }
  stack_.pop_back();
  if (r.type == RecordType::kSubCommit) {
    TXJ_RETURN_IF_ERROR(
        AddEvents(stack_.empty() ? &top_events_ : &stack_.back().events, n, "committed sub-transaction"));
  } else {
    dead_.push_back(r.sub_id);
  }
  return Status::OK();
}

Status TxnChecker::FeedCommit(const RecordView& r, std::uint32_t top, Effect* effect) {
  auto c = ReadBody<format::CommitBody>(r);
  if (!stack_.empty()) {
    return Status::Corruption("commit of transaction " + Num(txn_id_) + " with sub-transaction " + Num(top) +
                              " still open");
  }
  if (c.record_count != records_ || c.begin_lsn != begin_lsn_) {
    return Status::Corruption("commit marker of transaction " + Num(txn_id_) + " does not match its records (" +
                              Num(records_) + " records from LSN " + Num(begin_lsn_) + ", marker says " +
                              Num(c.record_count) + " from " + Num(c.begin_lsn) + ")");
  }
  const std::uint64_t h = hashed_ ? hash_.Digest() : running_;
  if (c.running_hash != h) {
    hash_mismatch_ = true;
    return Status::Corruption("commit marker of transaction " + Num(txn_id_) + " does not match its records (the " +
                              (hashed_ ? "transaction hash over its " : "running hash over its ") + Num(records_) +
                              " records from LSN " + Num(begin_lsn_) + " differs)");
  }
  // Offsets are dense from 0 and never reach 2^64 - 1 (kUnknownOffset): a
  // marker whose offsets would wrap would hand out offsets going back.
  if (c.first_offset >= kUnknownOffset || c.event_count >= kUnknownOffset - c.first_offset) {
    return Status::Corruption("commit of transaction " + Num(txn_id_) + " claims offsets " + Num(c.first_offset) + "+" +
                              Num(c.event_count) + ", past 2^64 - 1");
  }
  if (next_offset_ == kUnknownOffset) next_offset_ = c.first_offset;
  if (c.first_offset != next_offset_ || c.event_count != top_events_) {
    return Status::Corruption("commit of transaction " + Num(txn_id_) + " claims offsets " + Num(c.first_offset) +
                              "+" + Num(c.event_count) + ", expected " + Num(next_offset_) + "+" + Num(top_events_));
  }
  committed_first_ = c.first_offset;
  committed_count_ = c.event_count;
  next_offset_ += c.event_count;
  open_ = false;
  hash_.Reset();
  *effect = Effect::kCommitted;
  return Status::OK();
}

Status TxnChecker::FeedRollback(const RecordView& r, Effect* effect) {
  auto b = ReadBody<format::RollbackBody>(r);
  if (b.begin_lsn != begin_lsn_ || b.record_count != records_) {
    return Status::Corruption("rollback marker of transaction " + Num(txn_id_) + " does not match its records");
  }
  open_ = false;
  hash_.Reset();
  stack_.clear();
  *effect = Effect::kRolledBack;
  return Status::OK();
}

}  // namespace txj::internal
