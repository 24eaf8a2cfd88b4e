// txjournal: nested write transactions.
//
// A Transaction is a move-only handle. Journal::begin() gives a top-level
// transaction; Transaction::begin() gives a sub-transaction nested inside
// any open transaction, to any depth.
//
// Semantics:
//  - Events appended to a sub-transaction become part of its parent when it
//    commits; readers see them only when the top-level transaction commits.
//  - Rolling back a sub-transaction discards its events and those of all of
//    its descendants, including descendants that had committed into it. The
//    parent goes on and can still commit.
//  - While a transaction has an open child, it accepts nothing but the end
//    of that child: append/commit/rollback on it return kInvalidState.
//  - A handle that was committed or rolled back accepts nothing more
//    (kInvalidState).
//  - Destroying a handle that is still open rolls it back, together with
//    every open descendant.
//  - Every begin, commit and rollback writes a marker to the journal as it
//    happens, so a reader replays exactly what the producer did.
//
// Thread rules: a transaction tree is used by one thread at a time.
// Lifetime: every handle (and EventClaim) must be destroyed before its Journal.
#ifndef TXJOURNAL_TRANSACTION_H_
#define TXJOURNAL_TRANSACTION_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "txjournal/event.h"
#include "txjournal/export.h"
#include "txjournal/status.h"

namespace txj {

struct CommitInfo {
  std::uint64_t txn_id = 0;
  // Sub-transaction id inside txn_id; 0 for the top-level transaction.
  std::uint32_t sub_id = 0;
  // Top level: offset of the first committed event (when count is 0, the
  // offset the next event will get). Sub-transaction: not yet known, 0.
  std::uint64_t first_offset = 0;
  // Events committed: for a sub-transaction, those it hands to its parent.
  std::uint64_t count = 0;
  // LSN just past the commit marker.
  std::uint64_t lsn = 0;
};

namespace internal { struct TxnTree; }

// One event of Transaction::append_batch.
struct NewEvent {
  std::string_view topic;
  std::string_view type;
  std::string_view payload;
  AppendOptions options = {};
};

class Transaction;

// An event whose payload is being written in place (Transaction::claim).
// Move-only. Thread rules: those of its transaction tree.
class TXJ_EXPORT EventClaim {
 public:
  EventClaim() = default;  // an empty claim: publish() returns kInvalidState
  EventClaim(EventClaim&&) noexcept;
  EventClaim& operator=(EventClaim&&) noexcept;
  EventClaim(const EventClaim&) = delete;
  EventClaim& operator=(const EventClaim&) = delete;
  ~EventClaim();  // cancels the claim if still open

  // Where the payload goes: exactly the size claimed, inside the journal's
  // own buffer. Valid until publish() or cancel(); empty once either ran.
  std::span<std::uint8_t> payload() const { return {data_, data_ ? size_ : 0}; }
  // Appends the event with the bytes now in payload(), as append() would
  // have. Errors: kInvalidState (already published or cancelled, or its
  // transaction ended).
  Status publish();
  // Drops the claimed event: a padding record that stands for no event
  // stays in its place. No effect on a claim that is not open.
  void cancel() noexcept;
  bool is_open() const { return data_ != nullptr; }

 private:
  friend class Transaction;
  Status Finish(bool cancel);
  std::shared_ptr<internal::TxnTree> tree_;
  std::uint64_t lsn_ = 0;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

class TXJ_EXPORT Transaction {
 public:
  Transaction() = default;  // an empty handle; every call returns kInvalidState
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();  // rolls back if still open

  // Appends one event. Errors: kInvalidArgument (topic empty, not UTF-8,
  // control characters, or a field over its limit in event.h; payload too big
  // for a segment), kInvalidState (ended, or a child is open), kIOError /
  // kNoSpace / kFailed (the journal could not write).
  Status append(std::string_view topic, std::string_view type, std::string_view payload,
                const AppendOptions& options = {});

  // Appends `events` in order, as that many append() calls would, in one
  // call. Every event is checked first: when one is invalid
  // (kInvalidArgument, naming its index) nothing of the batch is appended.
  // Other errors as append(); the batch is then partly written and the
  // transaction can only roll back.
  Status append_batch(std::span<const NewEvent> events);

  // Zero-copy append, for payloads built in place: reserves an event of
  // `size` payload bytes inside the journal's own buffer (the shared mapping,
  // or the staging buffer under Durability::kCommit) and returns a claim
  // whose payload() the caller fills, then publish()es. Until the claim is
  // published or cancelled, the whole transaction tree accepts nothing else
  // (kInvalidState); rolling the transaction back, or destroying its handle,
  // cancels it first. Errors as append().
  Result<EventClaim> claim(std::string_view topic, std::string_view type, std::size_t size,
                           const AppendOptions& options = {});

  // Opens a sub-transaction. Errors as for append.
  Result<Transaction> begin();

  // Ends this transaction. For the top level, returns once the commit is as
  // durable as the journal's Durability mode promises. Errors: kInvalidState,
  // kIOError / kNoSpace; kFailed when a sync failed (nothing is promised about
  // this transaction; reopen the journal to see what survived).
  Result<CommitInfo> commit();
  // Discards this transaction and every descendant. Errors: kInvalidState,
  // kIOError.
  Status rollback();

  bool is_open() const;
  bool is_top_level() const { return sub_id_ == 0; }
  std::uint64_t id() const;                    // top-level transaction id
  std::uint32_t sub_id() const { return sub_id_; }  // 0 for top level
  std::uint32_t depth() const { return depth_; }    // 0 for top level

 private:
  friend class Journal;
  Transaction(std::shared_ptr<internal::TxnTree> tree, std::uint32_t sub_id, std::uint32_t depth)
      : tree_(std::move(tree)), sub_id_(sub_id), depth_(depth) {}
  void abandon() noexcept;

  std::shared_ptr<internal::TxnTree> tree_;
  std::uint32_t sub_id_ = 0;
  std::uint32_t depth_ = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_TRANSACTION_H_
