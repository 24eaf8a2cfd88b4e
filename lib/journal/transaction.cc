#include "txjournal/transaction.h"

#include <cstring>

#include "checksum.h"
#include "event_validation.h"
#include "record_append.h"
#include "txn_tree.h"

namespace txj {

using internal::JournalState;
using internal::TxnTree;

namespace internal {

Result<std::shared_ptr<TxnTree>> TxnTree::Start(JournalState* j) {
  auto t = std::make_shared<TxnTree>();
  t->j = j;
  t->txn_id = j->next_txn_id;
  t->stack.push_back({0, 0});
  t->timestamp_ns = NowNanos();
  format::BeginBody body{t->timestamp_ns};
  JournalState::Part part{&body, sizeof body};
  // Append adds every record to the transaction hash; Flush may move what
  // is staged past a gap: it recomputes the begin's LSN.
  j->txn_hash = &t->hash;
  j->txn_ending = false;
  j->txn_begin_lsn = &t->begin_lsn;
  if (j->stage_next) j->StartStaging();
  Status s = t->Write(RecordType::kBegin, format::kFlagHashedTxn, 0, 0, &part, 1, false, &t->begin_lsn);
  // A staged begin marker reaches the file with the rest of the stage (at
  // the end, or when the stage fills): a writer that dies before leaves
  // nothing of the transaction in the file. The head page names the id
  // before it is handed out, and the next writer keeps it taken
  // (recovery), so it is never handed out again.
  if (s.ok()) j->head.NoteBegun(t->txn_id);
  if (!s.ok()) {
    j->txn_hash = nullptr;
    j->txn_begin_lsn = nullptr;
    return s;
  }
  j->next_txn_id++;
  return t;
}

Status TxnTree::Write(RecordType type, std::uint8_t flags, std::uint16_t depth, std::uint32_t sub_id,
                      const JournalState::Part* parts, std::size_t n, bool use_reserve, std::uint64_t* lsn,
                      std::uint8_t** fill) {
  std::uint64_t sum = 0;
  Status s = j->Append(type, flags, depth, txn_id, sub_id, parts, n, use_reserve, lsn, &sum, fill);
  if (!s.ok()) return WriteFailed(type, std::move(s));
  if (fill) return Status::OK();  // no checksum yet: FinishClaim counts it
  if (type != RecordType::kCommit && type != RecordType::kRollback) ++records;
  return Status::OK();
}

void TxnTree::Release() {
  j->EndStaging(j->pos - begin_lsn);
  j->txn_hash = nullptr;
  j->txn_ending = false;
  j->txn_begin_lsn = nullptr;
  std::lock_guard<std::mutex> lock(j->txn_mu);
  j->txn_active = false;
  --j->slot_demand;
  j->txn_cv.notify_one();
}

void TxnTree::FinishClaim(bool cancel) {
  if (!claim_open) return;
  claim_open = false;
  (void)j->FinishClaimed(claim_lsn, cancel);  // adds it to the transaction hash
  ++records;
  if (!cancel) stack.back().events++;
}

Status TxnTree::RollbackAll() {
  FinishClaim(/*cancel=*/true);
  ended = true;
  format::RollbackBody body{records, begin_lsn};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn;
  j->txn_ending = true;  // a rollback marker needs no hash
  Status s = Write(RecordType::kRollback, 0, 0, 0, &part, 1, true, &lsn);
  if (s.ok()) s = j->Flush();
  if (s.ok()) {
    lsn = j->last_record_lsn;  // moved past a gap by Flush, perhaps
    j->NoteBoundary(Boundary{j->pos, j->next_offset, txn_id, j->epoch, lsn, j->last_record_checksum},
                    begin_lsn, j->next_offset);
  }
  // Without a rollback marker the transaction has no commit marker either:
  // readers and recovery treat it as rolled back.
  Release();
  return s;
}

Result<CommitInfo> TxnTree::CommitTop() {
  if (!poisoned.ok()) return poisoned;
  const std::uint64_t first = j->next_offset;
  const std::uint64_t count = stack[0].events;
  // running_hash: Append puts the transaction hash there.
  format::CommitBody body{first, count, records, 0, begin_lsn, NowNanos()};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn;
  TXJ_RETURN_IF_ERROR(Write(RecordType::kCommit, 0, 0, 0, &part, 1, false, &lsn));
  ended = true;
  j->txn_ending = true;
  j->next_offset += count;
  // Format 1 pads every durable commit's page; with gaps, the next write
  // skips what a sync covered instead (Flush).
  const bool padded = j->options.durability == Durability::kCommit && j->options.pad_commits_to_page;
  if (padded && !j->gaps) j->PadToPage();
  if (Status f = j->Flush(); !f.ok()) {
    Release();
    return f;
  }
  // After the flush: it may have moved the whole transaction past a gap.
  if (padded && j->gaps) {
    if (Status e = j->EndSegmentIfFull(); !e.ok()) {
      Release();
      return e;
    }
  }
  lsn = j->last_record_lsn;  // moved past a gap by Flush, perhaps
  const std::uint64_t end = j->pos;
  if (j->stage_always) j->ZeroAhead(end - begin_lsn);
  j->NoteBoundary(Boundary{end, j->next_offset, txn_id, j->epoch, lsn, j->last_record_checksum}, begin_lsn, first);
  JournalState* jj = j;
  Release();
  if (jj->options.durability == Durability::kCommit) {
    TXJ_RETURN_IF_ERROR(jj->SyncTo(end, /*commit=*/true));
  }
  return CommitInfo{txn_id, 0, first, count, end};
}

void TxnTree::Abandon() noexcept {
  if (ended) return;
  (void)RollbackAll();
}

}  // namespace internal

Transaction::Transaction(Transaction&& o) noexcept
    : tree_(std::move(o.tree_)), sub_id_(o.sub_id_), depth_(o.depth_) {}

Transaction& Transaction::operator=(Transaction&& o) noexcept {
  if (this != &o) {
    abandon();
    tree_ = std::move(o.tree_);
    sub_id_ = o.sub_id_;
    depth_ = o.depth_;
  }
  return *this;
}

Transaction::~Transaction() { abandon(); }

bool Transaction::is_open() const {
  return tree_ && !tree_->ended && depth_ < tree_->stack.size() && tree_->stack[depth_].sub_id == sub_id_;
}

std::uint64_t Transaction::id() const { return tree_ ? tree_->txn_id : 0; }

namespace {

Status CheckUsable(const Transaction& t, const TxnTree* tree, std::uint32_t depth) {
  if (!t.is_open()) {
    return Status::InvalidState("transaction " + std::to_string(t.id()) +
                                (t.sub_id() ? " sub-transaction " + std::to_string(t.sub_id()) : std::string()) +
                                " has already ended");
  }
  if (tree->claim_open) {
    return Status::InvalidState("transaction " + std::to_string(t.id()) +
                                " has an event claim open; publish or cancel it first");
  }
  if (tree->stack.size() > depth + 1u) {
    return Status::InvalidState("transaction " + std::to_string(t.id()) + " level " + std::to_string(t.sub_id()) +
                                " has an open sub-transaction " + std::to_string(tree->stack[depth + 1].sub_id) +
                                "; end it first");
  }
  return Status::OK();
}

}  // namespace

namespace {

// Checks an event before it is written: its topic and type the first time
// this writer meets the pair (validation and the schema; ValidatedNames),
// its key and payload size.
[[gnu::noinline]] Status CheckEventFully(TxnTree* t, std::string_view topic, std::string_view type,
                                         std::size_t payload_size, const AppendOptions& options,
                                         internal::ValidatedNames::Slot** slot) {
  *slot = t->j->validated_names.Find(topic, type);
  if (*slot == nullptr) {
    TXJ_RETURN_IF_ERROR(internal::ValidateEvent(topic, type, std::nullopt, {}));
    TXJ_RETURN_IF_ERROR(internal::CheckAgainstSchema(t->j->options.schema, topic, type));
    *slot = t->j->validated_names.Add(topic, type);
  }
  if (options.key && options.key->size() > kMaxKeyLength) [[unlikely]] {
    return internal::ValidateEvent(topic, type, options.key, {});
  }
  if (payload_size > 0xffffffffull) [[unlikely]] {
    return Status::InvalidArgument("payload of " + std::to_string(payload_size) +
                                   " bytes is over the 4 GiB limit of an event");
  }
  return Status::OK();
}

// CheckEvent's usual case inline: names met before, no key over the limit,
// a payload under 4 GiB. *slot: the pair's in validated_names (for
// AppendEvent, before anything else is checked or added).
[[gnu::always_inline]] inline Status CheckEvent(TxnTree* t, std::string_view topic, std::string_view type,
                                                std::size_t payload_size, const AppendOptions& options,
                                                internal::ValidatedNames::Slot** slot) {
  *slot = t->j->validated_names.Find(topic, type);
  if (*slot == nullptr || (options.key && options.key->size() > kMaxKeyLength) || payload_size > 0xffffffffull)
      [[unlikely]] {
    return CheckEventFully(t, topic, type, payload_size, options, slot);
  }
  return Status::OK();
}

std::uint64_t EventRecordLength(std::string_view topic, std::string_view type, std::size_t payload_size,
                                const AppendOptions& options) {
  return format::kRecordHeaderSize + sizeof(format::EventBody) + topic.size() + type.size() +
         (options.key ? options.key->size() : 0) + payload_size;
}

// Writes one checked event. With `fill`, its payload is left for the caller
// (JournalState::AppendEvent).
[[gnu::always_inline]] inline Status WriteEvent(TxnTree* t, std::uint32_t depth, std::uint32_t sub_id,
                                                std::string_view topic, std::string_view type, std::string_view payload,
                                                std::size_t payload_size, const AppendOptions& options,
                                                internal::ValidatedNames::Slot* slot, std::uint8_t** fill = nullptr,
                                                std::uint64_t* lsn_out = nullptr) {
  const std::string_view key = options.key ? std::string_view(*options.key) : std::string_view();
  std::uint64_t lsn = 0, sum = 0;
  std::uint32_t records = 0;
  const std::uint8_t flags = options.key ? format::kFlagHasKey : 0;
  if (Status s = t->j->AppendEvent(flags, static_cast<std::uint16_t>(depth), t->txn_id, sub_id,
                                   options.timestamp_ns ? options.timestamp_ns : t->timestamp_ns, topic, type, key,
                                   payload.data(), payload_size, slot, fill, &lsn, &sum, &records);
      !s.ok()) [[unlikely]] {
    return t->WriteFailed(RecordType::kEvent, std::move(s));
  }
  if (fill) {
    *lsn_out = lsn;  // counted when the claim is published (FinishClaim)
    t->records += records - 1;  // a names record before it
  } else {
    t->records += records;
    t->stack[depth].events++;
  }
  return Status::OK();
}

}  // namespace

Status Transaction::append(std::string_view topic, std::string_view type, std::string_view payload,
                           const AppendOptions& options) {
  TxnTree* t = tree_.get();
  // CheckUsable's and the poison's conditions in one test; their messages
  // off the per-event path.
  if (!t || t->ended || t->stack.size() != depth_ + std::size_t{1} || t->stack[depth_].sub_id != sub_id_ ||
      t->claim_open || !t->poisoned.ok()) [[unlikely]] {
    TXJ_RETURN_IF_ERROR(CheckUsable(*this, t, depth_));
    return t->poisoned;
  }
  internal::ValidatedNames::Slot* slot;
  TXJ_RETURN_IF_ERROR(CheckEvent(t, topic, type, payload.size(), options, &slot));
  return WriteEvent(t, depth_, sub_id_, topic, type, payload, payload.size(), options, slot);
}

Status Transaction::append_batch(std::span<const NewEvent> events) {
  TXJ_RETURN_IF_ERROR(CheckUsable(*this, tree_.get(), depth_));
  TxnTree* t = tree_.get();
  if (!t->poisoned.ok()) [[unlikely]] return t->poisoned;
  const std::uint64_t max = t->j->max_record_size();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const NewEvent& e = events[i];
    internal::ValidatedNames::Slot* slot;
    Status s = CheckEvent(t, e.topic, e.type, e.payload.size(), e.options, &slot);
    if (s.ok()) {
      if (const std::uint64_t len = EventRecordLength(e.topic, e.type, e.payload.size(), e.options); len > max) {
        s = t->j->RecordTooLarge(len);
      }
    }
    if (!s.ok()) {
      return s.WithContext("event " + std::to_string(i) + " of a batch of " + std::to_string(events.size()) +
                           " (nothing of the batch was appended)");
    }
  }
  for (const NewEvent& e : events) {
    // The slot again: a batch of more pairs than ValidatedNames holds
    // reused some (names inline then).
    TXJ_RETURN_IF_ERROR(WriteEvent(t, depth_, sub_id_, e.topic, e.type, e.payload, e.payload.size(), e.options,
                                   t->j->validated_names.Find(e.topic, e.type)));
  }
  return Status::OK();
}

Result<EventClaim> Transaction::claim(std::string_view topic, std::string_view type, std::size_t size,
                                      const AppendOptions& options) {
  TXJ_RETURN_IF_ERROR(CheckUsable(*this, tree_.get(), depth_));
  TxnTree* t = tree_.get();
  if (!t->poisoned.ok()) [[unlikely]] return t->poisoned;
  internal::ValidatedNames::Slot* slot;
  TXJ_RETURN_IF_ERROR(CheckEvent(t, topic, type, size, options, &slot));
  std::uint8_t* fill = nullptr;
  std::uint64_t lsn = 0;
  TXJ_RETURN_IF_ERROR(WriteEvent(t, depth_, sub_id_, topic, type, {}, size, options, slot, &fill, &lsn));
  t->claim_open = true;
  t->claim_lsn = lsn;
  EventClaim c;
  c.tree_ = tree_;
  c.lsn_ = lsn;
  c.data_ = fill;
  c.size_ = size;
  return c;
}

EventClaim::EventClaim(EventClaim&& o) noexcept
    : tree_(std::move(o.tree_)), lsn_(o.lsn_), data_(std::exchange(o.data_, nullptr)), size_(o.size_) {}

EventClaim& EventClaim::operator=(EventClaim&& o) noexcept {
  if (this != &o) {
    cancel();
    tree_ = std::move(o.tree_);
    lsn_ = o.lsn_;
    data_ = std::exchange(o.data_, nullptr);
    size_ = o.size_;
  }
  return *this;
}

EventClaim::~EventClaim() { cancel(); }

Status EventClaim::Finish(bool cancel) {
  if (!data_ || !tree_ || !tree_->claim_open || tree_->claim_lsn != lsn_ || tree_->ended) {
    data_ = nullptr;
    return Status::InvalidState("event claim is not open (published, cancelled, or its transaction ended)");
  }
  data_ = nullptr;
  tree_->FinishClaim(cancel);
  return Status::OK();
}

Status EventClaim::publish() { return Finish(false); }

void EventClaim::cancel() noexcept { (void)Finish(true); }

Result<Transaction> Transaction::begin() {
  TXJ_RETURN_IF_ERROR(CheckUsable(*this, tree_.get(), depth_));
  if (!tree_->poisoned.ok()) return tree_->poisoned;
  if (depth_ + 1 > 0xffff) return Status::InvalidArgument("sub-transactions nest deeper than 65535 levels");
  const std::uint32_t sub = tree_->next_sub;
  format::SubBeginBody body{sub_id_, 0};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn;
  TXJ_RETURN_IF_ERROR(tree_->Write(RecordType::kSubBegin, 0, static_cast<std::uint16_t>(depth_ + 1), sub, &part, 1,
                                   false, &lsn));
  tree_->next_sub++;
  tree_->stack.push_back({sub, 0});
  return Transaction(tree_, sub, depth_ + 1);
}

Result<CommitInfo> Transaction::commit() {
  TXJ_RETURN_IF_ERROR(CheckUsable(*this, tree_.get(), depth_));
  if (depth_ == 0) return tree_->CommitTop();
  if (!tree_->poisoned.ok()) return tree_->poisoned;
  const std::uint64_t n = tree_->stack.back().events;
  format::SubCommitBody body{n};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn;
  TXJ_RETURN_IF_ERROR(tree_->Write(RecordType::kSubCommit, 0, static_cast<std::uint16_t>(depth_), sub_id_, &part, 1,
                                   false, &lsn));
  tree_->stack.pop_back();
  tree_->stack.back().events += n;
  return CommitInfo{tree_->txn_id, sub_id_, 0, n, tree_->j->pos};
}

Status Transaction::rollback() {
  // An open claim belongs to the innermost level: rolling that level (or
  // the whole transaction) back drops it first.
  if (is_open() && tree_->claim_open && tree_->stack.size() == depth_ + 1u) {
    tree_->FinishClaim(/*cancel=*/true);
  }
  TXJ_RETURN_IF_ERROR(CheckUsable(*this, tree_.get(), depth_));
  if (depth_ == 0) return tree_->RollbackAll();
  if (!tree_->poisoned.ok()) {
    // The whole transaction can only roll back now; this level is discarded
    // with it. Forget it locally.
    tree_->stack.pop_back();
    return Status::OK();
  }
  format::SubRollbackBody body{tree_->stack.back().events};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn;
  Status s = tree_->Write(RecordType::kSubRollback, 0, static_cast<std::uint16_t>(depth_), sub_id_, &part, 1, false,
                          &lsn);
  tree_->stack.pop_back();  // discarded either way: a poisoned tree rolls back whole
  return s;
}

void Transaction::abandon() noexcept {
  if (!is_open()) {
    tree_.reset();
    return;
  }
  TxnTree* t = tree_.get();
  t->FinishClaim(/*cancel=*/true);
  if (depth_ == 0) {
    t->Abandon();
  } else {
    // Roll back open descendants innermost first, then this level.
    while (t->stack.size() > depth_ + 1u) {
      Transaction child(tree_, t->stack.back().sub_id, static_cast<std::uint32_t>(t->stack.size() - 1));
      (void)child.rollback();
    }
    (void)rollback();
  }
  tree_.reset();
}

}  // namespace txj
