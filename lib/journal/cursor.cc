#include <algorithm>
#include <cstring>
#include <limits>
#include <thread>
#include <type_traits>

#include "cursor_impl.h"
#include "mapping_guard.h"

namespace txj {

bool Filter::matches(std::string_view topic, std::string_view type) const {
  if (match_all) return true;
  if (!topics.empty() && std::find(topics.begin(), topics.end(), topic) == topics.end()) return false;
  if (!types.empty() && std::find(types.begin(), types.end(), type) == types.end()) return false;
  return !is_empty();
}

namespace internal {

std::uint64_t CursorImpl::VisibleLimit(JournalState* j) {
  if (j->read_only && j->head.valid()) return std::max(j->head.visible_lsn(), j->visible.load());
  return j->visible.load(std::memory_order_acquire);
}

// Below the visible limit every record was committed, so unwritten space
// there (a damaged record after a gap reads as one, zeroed pages) is missing
// data: corruption, never a silent end that would hide the rest. Certain in
// a writer's own journal, below the end a read-only open scanned, and in a
// sealed segment (durable to its end); past that end a read-only reader's
// limit comes from the head page, which a crash may have left ahead of the
// data (HEAD is never synced), so in an unsealed segment it is the end. Not
// "any segment but the last": a writer prepares the next segment early.
Status CursorImpl::CheckUnwritten(std::uint64_t at, std::uint64_t limit) const {
  if (at >= limit) return Status::OK();
  if (j_->read_only && at >= j_->visible.load(std::memory_order_acquire)) {
    std::shared_ptr<Segment> seg = j_->segments->Find(at);
    if (!seg || !seg->sealed(j_->salt)) return Status::OK();
  }
  return Status::Corruption("unwritten space (a damaged record or zeroed pages) below the committed end (LSN " +
                            std::to_string(limit) + ") in " + reader_.Where(at));
}

CursorImpl::CursorImpl(JournalState* j, std::uint64_t start_lsn, std::uint64_t offset, Filter filter)
    : j_(j),
      journal_alive_(j->alive),
      dir_(j->dir),
      filter_(std::move(filter)),
      reader_(j->segments.get(), start_lsn),
      want_(offset),
      emit_(j->segments.get(), start_lsn) {
  for (const auto& t : filter_.topics) topics_.insert(t);
  for (const auto& t : filter_.types) types_.insert(t);
}

bool CursorImpl::Matches(std::string_view topic, std::string_view type) const {
  if (filter_.match_all) return true;
  if (!topics_.empty() && !topics_.count(topic)) return false;
  if (!types_.empty() && !types_.count(type)) return false;
  return true;
}

Status CursorImpl::CheckCompacted(JournalState* j, const Filter& filter, std::uint64_t offset) {
  if (const std::uint64_t r = j->retention_offset.load(); offset < r) {
    return Status::Truncated("offset " + std::to_string(offset) + " is before the first retained offset " +
                             std::to_string(r) + " of journal " + j->dir);
  }
  std::lock_guard<std::mutex> lock(j->topics_mu);
  for (const auto& [topic, mark] : j->compacted) {
    if (offset >= mark) continue;
    const bool asks = filter.match_all || filter.topics.empty() ||
                      std::find(filter.topics.begin(), filter.topics.end(), topic) != filter.topics.end();
    if (!asks) continue;
    return Status::Truncated("events of topic " + topic + " below offset " + std::to_string(mark) +
                             " were compacted into a snapshot (" + j->snapshots->dir() + "; see snapshots(\"" + topic +
                             "\")): rebuild from it and read from offset " + std::to_string(mark));
  }
  return Status::OK();
}

Result<std::unique_ptr<CursorImpl>> CursorImpl::OpenInternal(JournalState* j, std::uint64_t offset) {
  return OpenImpl(j, std::max<std::uint64_t>(offset, j->retention_offset.load()), Filter::all(), true);
}

Result<std::unique_ptr<CursorImpl>> CursorImpl::Open(JournalState* j, std::uint64_t offset, const Filter& filter) {
  return OpenImpl(j, offset, filter, false);
}

Result<std::unique_ptr<CursorImpl>> CursorImpl::OpenImpl(JournalState* j, std::uint64_t offset, const Filter& filter,
                                                         bool internal) {
  if (offset < j->retention_offset) {
    return Status::Truncated("offset " + std::to_string(offset) + " is before the first retained offset " +
                             std::to_string(j->retention_offset) + " of journal " + j->dir);
  }
  if (!internal) TXJ_RETURN_IF_ERROR(CheckCompacted(j, filter, offset));
  auto first = j->segments->First();
  if (!first) return Status::NotFound("journal " + j->dir + " has no segments");
  std::uint64_t best_off = j->first_offset, best_lsn = first->first_record_lsn();
  // An index entry is used only if a top-level record starts at its LSN: an
  // entry left by a crash between a compaction's rewrite and its index
  // cleanup can point inside a padding (a hole) of the rewritten segment.
  // Such an entry is skipped for the one before it.
  auto starts_record = [j](std::uint64_t lsn) {
    auto seg = j->segments->Find(lsn);
    if (!seg || lsn < seg->first_record_lsn() || lsn >= seg->end()) return false;
    RecordView v;
    if (DecodeRecord(seg->at(lsn), seg->end() - lsn, lsn, j->salt, &v) != DecodeError::kNone) return false;
    return v.type == RecordType::kBegin || (v.type == RecordType::kPadding && v.txn_id == 0);
  };
  {
    std::lock_guard<std::mutex> lock(j->index_mu);
    auto it = j->index.upper_bound(offset);
    while (it != j->index.begin()) {
      --it;
      if (!starts_record(it->second)) continue;
      best_off = it->first;
      best_lsn = it->second;
      break;
    }
  }
  if (j->catalog) {
    std::uint64_t probe = offset;
    for (int tries = 0; tries < 16; ++tries) {
      auto e = j->catalog->FindIndex(probe);
      if (!e.ok() || !e->has_value() || (*e)->first <= best_off || (*e)->first > offset) break;
      if (starts_record((*e)->second)) {
        best_off = (*e)->first;
        best_lsn = (*e)->second;
        break;
      }
      if ((*e)->first == 0) break;
      probe = (*e)->first - 1;
    }
  }
  auto c = std::unique_ptr<CursorImpl>(new CursorImpl(j, best_lsn, offset, filter));
  c->checker_.Reset(TxnChecker::kUnknownOffset, 0);
  c->internal_ = internal;
  return c;
}

Status CursorImpl::CheckAlive() const {
  if (journal_alive_->load(std::memory_order_acquire)) return Status::OK();
  return Status::Closed("journal " + dir_ + " was closed and destroyed; this cursor can read no more");
}

namespace {

// Reads a byte of every page an event read ahead points into: a segment
// truncated since the event was decoded faults now (the SIGBUS guard puts
// zeros there and counts the fault), so CheckMappings() reports it before
// the event is handed out, as when an event is decoded in the call that
// hands it out.
// From the byte before the payload (the event record's own, also for an
// empty payload) to its end: the topic and type may lie in a names record
// before the event in its segment (format 5), which a truncation that
// spares the event's first page spares too.
inline void TouchEvent(const Event& e) {
  const char* a = e.payload.data() - 1;
  const char* z = e.payload.data() + e.payload.size();
  for (const char* p = a; p < z; p += 4096) (void)*static_cast<const volatile char*>(p);
  if (z > a) (void)*static_cast<const volatile char*>(z - 1);
}

}  // namespace

inline const Event* CursorImpl::TakeAhead() {
  if (ahead_i_ < ahead_n_ && journal_alive_->load(std::memory_order_acquire)) {
    // The common call: an event read ahead, and nothing changed since
    // (the checks below, each a load).
    const Event& e = ahead_[ahead_i_];
    TouchEvent(e);
    if (!closed_.load(std::memory_order_acquire) &&
        (internal_ || j_->compaction_generation.load(std::memory_order_acquire) == seen_generation_) &&
        MappingGuard::TotalFaults() == seen_faults_) {
      ++ahead_i_;
      ahead_pos_ = e.offset + 1;
      use_ahead_pos_ = true;
      return &e;
    }
  }
  return nullptr;
}

Result<std::optional<Event>> CursorImpl::Next() {
  if (const Event* e = TakeAhead()) return Result<std::optional<Event>>(std::in_place, *e);
  return NextSlow();
}

Result<std::optional<Event>> CursorImpl::NextSlow() {
  TXJ_RETURN_IF_ERROR(CheckAlive());
  if (Status u = CheckUsable(); !u.ok()) {
    use_ahead_pos_ = false;
    return u;
  }
  Status st;
  if (ahead_i_ == ahead_n_) {
    // Read ahead: the events of the transactions that follow, verified,
    // decoded into the cursor's own buffer (see Fill()).
    if (!ahead_ || (ahead_n_ == ahead_cap_ && ahead_cap_ < kAhead)) {
      ahead_cap_ = ahead_ ? std::min(kAhead, ahead_cap_ * 4) : kFirstAhead;
      ahead_ = std::make_unique<Event[]>(ahead_cap_);
    }
    ahead_i_ = ahead_n_ = 0;
    batch_pins_.clear();
    batch_pinned_ = nullptr;
    st = Fill(ahead_.get(), ahead_cap_, &ahead_n_, /*one_txn=*/true);
  }
  if (ahead_i_ < ahead_n_) TouchEvent(ahead_[ahead_i_]);
  // An event, an error or an end read from a page of a file truncated
  // under its mapping came from zeros put there by the SIGBUS guard:
  // report the truncation instead.
  if (Status m = CheckMappings(); !m.ok()) {
    ahead_i_ = ahead_n_ = 0;
    use_ahead_pos_ = false;
    return m;
  }
  // An error met after some events were read ahead: those first; the
  // reader stays before the error, so a later call meets it again.
  if (ahead_i_ < ahead_n_) {
    const Event& e = ahead_[ahead_i_++];
    ahead_pos_ = e.offset + 1;
    use_ahead_pos_ = true;
    return Result<std::optional<Event>>(std::in_place, e);
  }
  use_ahead_pos_ = false;
  if (!st.ok()) return st;
  return Result<std::optional<Event>>(std::in_place);
}

Result<std::size_t> CursorImpl::NextBatch(Event* out, std::size_t n) {
  TXJ_RETURN_IF_ERROR(CheckAlive());
  Status st = CheckUsable();
  std::size_t filled = 0;
  if (st.ok()) {
    // Events next() read ahead and did not hand out yet come first (their
    // segments stay pinned with them).
    if (ahead_i_ < ahead_n_) {
      // Only the segments those events lie in stay pinned from before.
      const std::uint64_t lo = ahead_[ahead_i_].lsn, hi = ahead_[ahead_n_ - 1].lsn;
      std::erase_if(batch_pins_, [&](const std::shared_ptr<Segment>& seg) { return seg->end() <= lo || seg->base() > hi; });
      batch_pinned_ = nullptr;
      while (ahead_i_ < ahead_n_ && filled < n) {
        TouchEvent(ahead_[ahead_i_]);
        out[filled++] = ahead_[ahead_i_++];
      }
    } else {
      batch_pins_.clear();
      batch_pinned_ = nullptr;
    }
    if (filled < n && ahead_i_ == ahead_n_) st = Fill(out, n, &filled);
  }
  // Events left in ahead_: position() as if the batch had stopped at its
  // last event.
  if (filled > 0) {
    use_ahead_pos_ = ahead_i_ < ahead_n_;
    ahead_pos_ = out[filled - 1].offset + 1;
  } else if (ahead_i_ == ahead_n_) {
    use_ahead_pos_ = false;
  }
  TXJ_RETURN_IF_ERROR(CheckMappings());
  // An error after some events: hand those out; the next call reports it.
  if (!st.ok() && filled == 0) return st;
  return filled;
}

Status CursorImpl::CheckMappings() {
  const std::uint64_t total = MappingGuard::TotalFaults();
  if (total == seen_faults_) return Status::OK();
  for (const LogReader* r : {&reader_, &emit_}) {
    if (r->segment()) TXJ_RETURN_IF_ERROR(r->segment()->CheckMapping());
  }
  for (const auto& seg : pins_) TXJ_RETURN_IF_ERROR(seg->CheckMapping());
  for (const auto& seg : j_->segments->All()) TXJ_RETURN_IF_ERROR(seg->CheckMapping());
  seen_faults_ = total;  // the faults were in other mappings
  return Status::OK();
}

namespace {

// The event of the record at `rec` (header h, fixed body b, validated)
// into *out, written field by field.
inline void FillEvent(Event* out, std::uint64_t off, std::uint64_t lsn, const format::RecordHeader& h,
                      const format::EventBody& b, const std::uint8_t* rec, std::string_view topic,
                      std::string_view type) {
  const char* s = reinterpret_cast<const char*>(rec) + format::kRecordHeaderSize + sizeof b;
  out->offset = off;
  out->txn_id = h.txn_id;
  out->timestamp_ns = b.timestamp_ns;
  out->lsn = lsn;
  out->topic = topic;
  out->type = type;
  s += format::InlineNamesLength(b, h.flags);
  if (h.flags & format::kFlagHasKey) {
    out->key.emplace(s, b.key_length);
  } else {
    out->key.reset();
  }
  out->payload = std::string_view(s + b.key_length, b.payload_length);
}

// The same for an event DecodeTopRefEvent decoded (`len` bytes at `rec`,
// no key).
inline void FillRefEvent(Event* out, std::uint64_t off, std::uint64_t txn, std::uint64_t timestamp_ns,
                         std::uint64_t lsn, std::string_view topic, std::string_view type, const std::uint8_t* rec,
                         std::uint32_t len) {
  constexpr std::size_t kFixed = format::kRecordHeaderSize + sizeof(format::EventBody);
  out->offset = off;
  out->txn_id = txn;
  out->timestamp_ns = timestamp_ns;
  out->lsn = lsn;
  out->topic = topic;
  out->type = type;
  out->key.reset();
  out->payload = std::string_view(reinterpret_cast<const char*>(rec) + kFixed, len - kFixed);
}

}  // namespace

// One walk per transaction, and why handing out events decoded during it
// keeps the reader's promise (only committed events, in commit order, with
// dense offsets, never a torn or unfinished tail):
// - The walk reads only below VisibleLimit() and checks every record as it
//   goes (checksum seeded by the LSN, epoch, transaction grammar); the
//   events it decodes meanwhile go to out[*filled ...], slots the caller
//   does not own yet: *filled moves past them only when the transaction's
//   commit marker verified (record count, running hash over every record's
//   checksum, begin LSN, first offset, event count).
// - A rollback marker, a record that does not verify, a checker error, or
//   the limit or unwritten space before the end marker (a transaction still
//   being written, or a torn tail): the slots written for this transaction
//   are reset to empty events and *filled stays where it was, so nothing of
//   the transaction ever reaches the caller, not even in the array past the
//   returned count; the reader goes back to the transaction's begin marker.
// - Offsets: with no sub-transaction open, every top-level event and every
//   padding's skipped events take the next offsets in record order, from
//   the offset after the previous commit (checked against the commit
//   marker's first offset and count before anything is handed out). When
//   that offset is not known (the first transaction after opening the
//   cursor), or a sub-transaction begins (a later rollback of it, or of a
//   level above, can discard its events), the rest of the transaction is
//   remembered and handed out from memory after the commit, numbered on
//   from the first remembered record's offset.
// The walk over one transaction in Fill: where its direct events go.
struct CursorImpl::TxnWalk {
  TxnWalk(CursorImpl& c, Event* out, std::size_t cap, std::size_t base, std::uint64_t next_off)
      : c(c),
        out(out),
        cap(cap),
        base(base),
        pos(base),
        next_off(next_off),
        off(next_off),
        want(c.want_),
        direct(next_off != TxnChecker::kUnknownOffset),
        spill_ok(c.ahead_i_ == c.ahead_n_ && out != c.ahead_.get()) {}

  // An event of the top level (already checked): into the next slot while
  // direct; once the caller's array is full, remembered instead, and so is
  // the rest of the transaction.
  inline void Deliver(const format::RecordHeader& h, const format::EventBody& b, const std::uint8_t* rec,
                      std::uint64_t lsn, std::string_view topic, std::string_view type);
  // The free slots a direct event goes to next, *n of them: the caller's,
  // then (once those are full) next()'s read-ahead buffer, which the next
  // call hands out first; nullptr when there are none. TakeSlots(k) fills
  // the first k.
  Event* FreeSlots(std::size_t* n) {
    if (pos < cap) {
      *n = cap - pos;
      return out + pos;
    }
    if (!spill_ok || spilled >= kAhead) return nullptr;
    if (c.ahead_cap_ < kAhead) {  // only at the first spilled event: the buffer was handed out whole
      c.ahead_ = std::make_unique<Event[]>(kAhead);
      c.ahead_cap_ = kAhead;
    }
    *n = kAhead - spilled;
    return c.ahead_.get() + spilled;
  }
  void TakeSlots(std::size_t k) { (pos < cap ? pos : spilled) += k; }
  // Resets the slots this transaction wrote: none of it reaches the caller.
  void Wipe() {
    for (std::size_t i = base; i < pos; ++i) out[i] = Event{};
    for (std::size_t i = 0; i < spilled; ++i) c.ahead_[i] = Event{};
  }

  CursorImpl& c;
  Event* const out;
  const std::size_t cap;
  const std::size_t base;           // the first slot of this transaction
  std::size_t pos;                  // next slot for a direct event
  const std::uint64_t next_off;     // the offset after the previous commit (or unknown)
  std::uint64_t off;                // offset of the next top-level event while direct
  std::uint64_t want;               // want_ once this transaction commits
  bool direct;
  std::uint64_t remembered_from = 0;  // offset of the first remembered event when direct stopped
  // Past `cap`, direct events go on into ahead_ (empty when a batch calls
  // Fill), unless that is `out` itself.
  const bool spill_ok;
  std::size_t spilled = 0;
};

inline void CursorImpl::TxnWalk::Deliver(const format::RecordHeader& h, const format::EventBody& b,
                                         const std::uint8_t* rec, std::uint64_t lsn, std::string_view topic,
                                         std::string_view type) {
  if (!direct) {
    if (c.buffered_) c.RememberEvent(rec, lsn, topic, type);
    return;
  }
  const std::uint64_t o = off++;
  if (o < want) return;
  if (!c.filter_.match_all && !c.Matches(topic, type)) {
    want = o + 1;
    return;
  }
  std::size_t free;
  Event* slot = FreeSlots(&free);
  if (slot == nullptr) {
    direct = false;
    remembered_from = o;
    c.RememberEvent(rec, lsn, topic, type);
    return;
  }
  TakeSlots(1);
  want = o + 1;
  c.PinBatchSegment();
  FillEvent(slot, o, lsn, h, b, rec, topic, type);
}

// The same checks as the per-record loop in WalkTransaction makes of each
// record (DecodeEventInline<false>, the epoch, FeedTopEvent) and the same
// effect as Deliver for each, with the per-record bookkeeping (reader
// position, record count, hash range, slot, offset, pin) done once for the
// run. Only while Deliver would put every matching event into the next slot
// (the caller's, or next()'s read-ahead buffer once those are full): direct
// and at or past want. Stops at the first record that is anything else (of
// another epoch too: the general path takes it), at the reader's limit and
// when the slots run out.
std::size_t CursorImpl::DeliverEventRun(TxnWalk& w, const std::uint8_t* p, std::uint64_t avail) {
  if (!w.direct || w.off < w.want || !checker_.TakesTopEventRun()) return 0;
  std::size_t slots;
  Event* dst = w.FreeSlots(&slots);
  if (dst == nullptr) return 0;
  const std::uint64_t lsn0 = reader_.position();
  const std::uint64_t limit = reader_.limit();
  if (limit <= lsn0) return 0;
  const std::uint64_t room = std::min(avail, limit - lsn0);  // records end below the limit
  const std::uint64_t txn = checker_.txn_id();
  const std::uint32_t epoch = reader_.last_epoch();
  const std::uint64_t off0 = w.off;
  std::uint64_t at = 0;
  std::size_t n = 0;  // records taken
  Event* out = dst;   // the next slot
  Event* const end = dst + slots;
  // Offsets that would wrap past 2^64 - 1 go to the per-record path (Deliver
  // skips an offset below want).
  const std::uint64_t max_records = ~off0;
  // The names events refer to by id, for the run (loaded once: the
  // compiler cannot tell the events' stores from the table's fields).
  const bool names_scoped = names_.InScope(reader_.segment().get(), epoch);
  const NameTable::Slot* const names = names_.slots();
  const std::size_t nnames = names_scoped ? names_.size() : 0;
  // A filter's answer per id, asked once per id and names scope.
  std::uint8_t* matches = nullptr;
  if (!filter_.match_all) {
    if (id_matches_scope_ != names_.scope_number()) {
      id_matches_.clear();
      id_matches_scope_ = names_.scope_number();
    }
    if (id_matches_.size() < nnames) id_matches_.resize(nnames, 0);
    matches = id_matches_.data();
  }
  // The loop, once for a filter asked per id (matches) and once for none,
  // so that reading everything tests nothing per event.
  auto run = [&](auto filtered) {
    while (out != end && n < max_records) {
      const std::uint8_t* q = p + at;
      // A page ahead, as in WalkTransaction.
      __builtin_prefetch(q + 4096);
      __builtin_prefetch(q + 4096 + 64);
      __builtin_prefetch(q + 4096 + 128);
      std::uint32_t len;
      std::uint64_t ts;
      std::uint16_t id;
      if (DecodeTopRefEvent(q, room - at, txn, epoch, &len, &ts, &id)) [[likely]] {
        // The commonest event (top level, named by id, no key), from four
        // words. Named by an id not known yet: the general path finds the
        // names.
        if (id >= nnames || names[id].topic.empty()) [[unlikely]]
          break;
        bool take = true;
        if constexpr (decltype(filtered)::value) {
          if (matches[id] == 0) matches[id] = Matches(names[id].topic, names[id].type) ? 1 : 2;
          take = matches[id] == 1;
        }
        if (take) FillRefEvent(out++, off0 + n, txn, ts, lsn0 + at, names[id].topic, names[id].type, q, len);
        at += format::AlignUp(len);
        ++n;
        continue;
      }
      format::RecordHeader h;
      format::EventBody b;
      // Of another epoch: the general path (it moves the reader's epoch on).
      if (!DecodeEventInline<false>(q, room - at, lsn0 + at, j_->salt, &h, &b) || h.txn_id != txn || h.sub_id != 0 ||
          h.depth != 0 || h.epoch != epoch) {
        break;
      }
      std::string_view topic, type;
      if (h.flags & format::kFlagNameRef) [[likely]] {
        const std::uint16_t ref = format::NameRefId(b);
        if (ref >= nnames || names[ref].topic.empty()) [[unlikely]]
          break;
        topic = names[ref].topic;
        type = names[ref].type;
      } else {
        const char* s = reinterpret_cast<const char*>(q) + format::kRecordHeaderSize + sizeof b;
        topic = std::string_view(s, b.topic_length);
        type = std::string_view(s + b.topic_length, b.type_length);
      }
      if (!decltype(filtered)::value || Matches(topic, type))
        FillEvent(out++, off0 + n, lsn0 + at, h, b, q, topic, type);
      at += format::AlignUp(h.length);
      ++n;
    }
  };
  if (!filter_.match_all) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
  const std::size_t filled = static_cast<std::size_t>(out - dst);
  if (n == 0) return 0;
  if (filled != 0) PinBatchSegment();
  reader_.SkipRun(epoch, at);
  checker_.FeedTopEventRun(p, at, n);
  w.TakeSlots(filled);
  w.off = off0 + n;
  w.want = w.off;
  return n;
}

// Keeps the reader's current segment mapped while events handed out in
// this batch point into it.
void CursorImpl::PinBatchSegment() {
  if (const Segment* seg = reader_.segment().get(); seg != batch_pinned_) {
    batch_pins_.push_back(reader_.segment());
    batch_pinned_ = seg;
  }
}

// One record of the second read of a transaction too large to remember
// (emitting_): sets *handed when it handed out an event.
Status CursorImpl::EmitAgain(Event* out, std::size_t* filled, bool* handed) {
  RecordView r;
  LogReader::Stop st = emit_.Next(&r);
  if (st == LogReader::Stop::kLimit) {
    emitting_ = false;
    return Status::OK();
  }
  if (st == LogReader::Stop::kNoSegment) return emit_.StopError(emit_.position());
  if (st != LogReader::Stop::kRecord) {
    return Status::Corruption("record changed under a cursor in " + emit_.Where() + ": " +
                              std::string(DecodeErrorName(emit_.error())));
  }
  switch (r.type) {
    case RecordType::kCommit:
      emitting_ = false;
      break;  // the transaction's end
    case RecordType::kBegin: alive_.assign(1, true); break;
    case RecordType::kSubBegin:
      alive_.push_back(!alive_.empty() && alive_.back() && !std::binary_search(dead_.begin(), dead_.end(), r.sub_id));
      break;
    case RecordType::kSubCommit:
    case RecordType::kSubRollback:
      if (!alive_.empty()) alive_.pop_back();
      break;
    case RecordType::kPadding:
      // Compacted events: their offsets stay taken.
      if (!alive_.empty() && alive_.back()) emit_offset_ += ReadBody<format::PaddingBody>(r).skipped_events;
      break;
    case RecordType::kNames:
      TXJ_RETURN_IF_ERROR(DefineNames(emit_names_, emit_, r));
      break;
    case RecordType::kEvent: {
      if (alive_.empty() || !alive_.back()) break;
      const std::uint64_t off = emit_offset_++;
      if (off < want_) break;
      want_ = off + 1;
      EventFields f;
      TXJ_RETURN_IF_ERROR(DecodeNamed(emit_names_, emit_, r, &f));
      if (!Matches(f.topic, f.type)) break;
      out[*filled] = Event{off, r.txn_id, f.timestamp_ns, r.lsn, f.topic, f.type, f.key, f.payload};
      ++*filled;
      // Valid only until the reader moves on: one at a time.
      *handed = true;
      break;
    }
    default: break;
  }
  return Status::OK();
}

// The records of the transaction begun at `r` up to its end marker (or
// where the walk must stop), decoding direct events on the way; on return
// *st and *effect say how it ended, and `r` holds the last record read.
Status CursorImpl::WalkTransaction(TxnWalk& w, RecordView& r, LogReader::Stop* st, TxnChecker::Effect* effect,
                                   bool verify_all) {
  using Stop = LogReader::Stop;
  Status fs = checker_.Feed(r, effect);
  const std::uint64_t salt = j_->salt;
  // Format 4: the commit marker's transaction hash covers every byte of the
  // records before it, and nothing is handed out before it verified, so
  // events need not be checked one by one on the way (only their bounds);
  // Fill walks again checking each when the walk ends any other way.
  const bool hashed = checker_.hashed() && !verify_all;
  walked_unchecked_ = hashed;
  for (;;) {
    if (!fs.ok()) return Status::Corruption(fs.message() + ", in " + reader_.Where(r.lsn));
    if (*effect == TxnChecker::Effect::kCommitted || *effect == TxnChecker::Effect::kRolledBack) return fs;
    // The common record, an event of the top level while no sub-transaction
    // is open, decoded and checked inline: the same checks as DecodeRecord,
    // LogReader::NextInline and TxnChecker::FeedEvent; anything else takes
    // the general path below.
    std::uint64_t avail;
    while (const std::uint8_t* p = reader_.Peek(&avail)) {
      if (hashed && DeliverEventRun(w, p, avail) != 0) continue;
      format::RecordHeader h;
      format::EventBody b;
      const std::uint64_t lsn = reader_.position();
      const bool decoded = hashed ? DecodeEventInline<false>(p, avail, lsn, salt, &h, &b)
                                  : DecodeEventInline<true>(p, avail, lsn, salt, &h, &b);
      std::string_view topic, type;
      if (!decoded || h.epoch < reader_.last_epoch() || !EventNames(h, b, p, &topic, &type) ||
          !checker_.FeedTopEvent(h.txn_id, h.sub_id, h.depth, h.checksum, p, h.length)) {
        break;
      }
      reader_.Skip(h.epoch, h.length);
      // The records a page ahead: the hardware's stream prefetch stops at
      // each 4 KiB page, and the first touch of a record's header was a
      // fifth of the replay profile. Three lines cover one record's worth of
      // advance (records are usually shorter than 192 bytes; longer ones are
      // hashed long enough for the hardware to catch up). Prefetches never
      // fault, past the mapping's end included.
      __builtin_prefetch(p + 4096);
      __builtin_prefetch(p + 4096 + 64);
      __builtin_prefetch(p + 4096 + 128);
      w.Deliver(h, b, p, lsn, topic, type);
    }
    *st = reader_.NextInline(&r);
    if (*st != Stop::kRecord) return Status::OK();
    if (checker_.FeedEvent(r)) {
      *effect = TxnChecker::Effect::kNone;
    } else {
      fs = checker_.Feed(r, effect);
      if (!fs.ok() || *effect == TxnChecker::Effect::kCommitted || *effect == TxnChecker::Effect::kRolledBack) {
        continue;
      }
    }
    if (r.type == RecordType::kNames) {
      // Whatever becomes of its transaction: later events may name it.
      if (Status ns = DefineNames(r); !ns.ok()) return ns;
      continue;
    }
    if (w.direct) {
      if (r.type == RecordType::kEvent) {  // of the top level: no sub-transaction is open
        format::RecordHeader h;
        format::EventBody b;
        const std::uint8_t* rec = reader_.segment()->at(r.lsn);
        std::memcpy(&h, rec, sizeof h);
        std::memcpy(&b, r.body, sizeof b);
        EventFields f;
        TXJ_RETURN_IF_ERROR(DecodeNamed(r, &f));
        w.Deliver(h, b, rec, r.lsn, f.topic, f.type);
        continue;
      }
      if (r.type == RecordType::kPadding) {
        w.off += ReadBody<format::PaddingBody>(r).skipped_events;
        continue;
      }
      if (r.type != RecordType::kSubBegin) continue;
      w.direct = false;
      w.remembered_from = w.off;
    }
    if (buffered_) TXJ_RETURN_IF_ERROR(Remember(r));
  }
}

Status CursorImpl::DecodeNamed(NameTable& names, const LogReader& in, const RecordView& r, EventFields* f) {
  if (Status s = names.Decode(in.segment(), j_->salt, r, f); !s.ok()) {
    return Status::Corruption(s.message() + ", in " + in.Where(r.lsn));
  }
  return Status::OK();
}

Status CursorImpl::DefineNames(NameTable& names, const LogReader& in, const RecordView& r) {
  if (Status s = names.Define(in.segment(), r); !s.ok()) {
    return Status::Corruption(s.message() + ", in " + in.Where(r.lsn));
  }
  return Status::OK();
}

// After a committed transaction whose events were not all handed out
// directly: sets up handing out the rest (from memory, or by reading the
// transaction again from `begin_lsn` to the commit marker at `commit_lsn`).
void CursorImpl::EmitRest(const TxnWalk& w, std::uint64_t begin_lsn, std::uint64_t commit_lsn) {
  const std::uint64_t first = w.next_off == TxnChecker::kUnknownOffset ? checker_.committed_first_offset()
                                                                       : w.remembered_from;
  const std::uint64_t end = checker_.committed_first_offset() + checker_.committed_count();
  if (end <= want_ || first == end) return;
  dead_ = checker_.rolled_back_subs();
  std::sort(dead_.begin(), dead_.end());
  if (buffered_) {
    // A sub-transaction is dead if it or an ancestor rolled back; ids are
    // dense and a parent's id is smaller than its child's.
    dead_flags_.assign(parents_.size(), 0);
    for (std::uint32_t id = 1; id < parents_.size(); ++id) {
      dead_flags_[id] = std::binary_search(dead_.begin(), dead_.end(), id) || dead_flags_[parents_[id]];
    }
    emit_offset_ = first;
    emit_index_ = 0;
    emitting_buffered_ = true;
    return;
  }
  // Too many to remember: read the transaction again from its begin
  // marker; the events handed out directly are below want_.
  emit_.Seek(begin_lsn);
  // Up to and with the commit marker: with the limit at the marker, a gap
  // just before it (the marker written past a page a sync had covered)
  // read as the end of what was written.
  emit_.set_limit(commit_lsn + 1);
  emit_offset_ = checker_.committed_first_offset();
  emitting_ = true;
}

Status CursorImpl::Fill(Event* out, std::size_t cap, std::size_t* filled, bool one_txn) {
  using Stop = LogReader::Stop;
  RecordView r;
  while (*filled < cap) {
    if (emitting_buffered_) {
      if (EmitBuffered(&out[*filled])) ++*filled;
      continue;
    }
    if (emitting_) {
      bool handed = false;
      TXJ_RETURN_IF_ERROR(EmitAgain(out, filled, &handed));
      if (handed) return Status::OK();
      continue;
    }
    const std::uint64_t limit = VisibleLimit(j_);
    reader_.set_limit(limit);
    const std::uint64_t save = reader_.position();
    const std::uint32_t save_epoch = reader_.last_epoch();
    Stop st = reader_.Next(&r);
    if (st == Stop::kLimit || st == Stop::kUnwritten) {
      const std::uint64_t at = reader_.position();
      reader_.Seek(save);
      return st == Stop::kUnwritten ? CheckUnwritten(at, limit) : Status::OK();
    }
    if (st != Stop::kRecord) {
      Status e = reader_.StopError(save);
      reader_.Seek(save);
      return e;
    }
    if (r.type == RecordType::kSegmentEnd) continue;
    if (r.type == RecordType::kPadding) {
      TxnChecker::Effect pad_effect;
      (void)checker_.Feed(r, &pad_effect);  // advances the offset count
      continue;
    }
    if (r.type != RecordType::kBegin) {
      return Status::Corruption(std::string(RecordTypeName(r.type)) + " record outside a transaction in " +
                                reader_.Where(r.lsn));
    }
    // The walk to the end marker of this transaction (see above).
    const std::uint64_t next_off = checker_.next_offset();
    const std::uint64_t begin_lsn = r.lsn;
    // Events already handed to the caller, or filled before this
    // transaction, may point into these segments.
    batch_pins_.insert(batch_pins_.end(), pins_.begin(), pins_.end());
    pins_.clear();
    auto walk = [&](bool verify_all, std::optional<TxnWalk>& w, TxnChecker::Effect* effect) {
      checker_.Reset(next_off, r.txn_id - 1);
      entries_.clear();
      parents_.assign(1, 0);
      buffered_ = true;
      w.emplace(*this, out, cap, *filled, next_off);
      *effect = TxnChecker::Effect::kNone;
      return WalkTransaction(*w, r, &st, effect, verify_all);
    };
    std::optional<TxnWalk> wo;
    TxnChecker::Effect effect;
    Status ws = walk(false, wo, &effect);
    if (walked_unchecked_ && !(ws.ok() && ((st == Stop::kRecord && effect == TxnChecker::Effect::kCommitted) ||
                                           st == Stop::kLimit))) {
      // The walk took the records' bounds on trust, waiting for the
      // transaction hash; it ended otherwise (a rollback, an error, bytes
      // that are not a record). Walk again checking every record, so that
      // what a rolled-back or damaged transaction holds is read exactly
      // as record by record, and an error names the record.
      wo->Wipe();
      reader_.Seek(save);
      reader_.set_min_epoch(save_epoch);  // the unchecked headers' epochs are not to be kept
      if (reader_.Next(&r) != Stop::kRecord || r.lsn != begin_lsn) {
        Status e = Status::Corruption("the begin marker at " + reader_.Where(begin_lsn) + " changed under a cursor");
        reader_.Seek(save);
        return e;
      }
      ws = walk(true, wo, &effect);
    }
    TxnWalk& w = *wo;
    if (!ws.ok() || st != Stop::kRecord) {
      w.Wipe();
      if (ws.ok() && st != Stop::kLimit && st != Stop::kUnwritten) {
        ws = reader_.StopError(reader_.position());
      }
      if (ws.ok() && st == Stop::kUnwritten) ws = CheckUnwritten(reader_.position(), limit);
      if (ws.ok()) checker_.Reset(next_off, 0);  // the transaction is not complete yet
      reader_.Seek(save);
      reader_.set_min_epoch(save_epoch);
      return ws;
    }
    if (effect == TxnChecker::Effect::kRolledBack) {
      w.Wipe();
      continue;
    }
    // Committed: the direct events are the caller's now.
    *filled = w.pos;
    want_ = w.want;
    if (w.spilled > 0) {
      ahead_i_ = 0;
      ahead_n_ = w.spilled;
    }
    if (w.direct) {
      if (one_txn && w.pos > w.base) return Status::OK();
      continue;
    }
    EmitRest(w, begin_lsn, r.lsn);
  }
  return Status::OK();
}

namespace {

// Nothing more will come from a closed journal: waiting ends. A writer's
// close() publishes its last commits before it marks the head page closed.
bool JournalClosed(JournalState* j) {
  std::lock_guard<std::mutex> lock(j->txn_mu);
  if (!j->closed) return false;
  return j->read_only || !j->head.valid() || !j->head.writer_open();
}

}  // namespace

Result<Event> CursorImpl::WaitNext(std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
  TXJ_RETURN_IF_ERROR(CheckAlive());
  std::stop_callback on_stop(stop, [this] { Wake(); });
  for (;;) {
    const bool have_head = j_->head.valid();
    const std::uint32_t seen = have_head ? j_->head.seq() : 0;
    auto r = Next();
    if (!r.ok()) return r.status();
    if (r->has_value()) return **r;
    if (closed_.load()) return Status::Closed("cursor was closed while waiting");
    if (JournalClosed(j_)) return Status::Closed("journal " + j_->dir + " was closed while waiting");
    if (stop.stop_requested()) return Status::Cancelled("stop requested while waiting for an event");
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return Status::TimedOut("no matching event before the deadline");
    auto left = deadline - now;
    auto slice = std::chrono::duration_cast<std::chrono::nanoseconds>(std::min<std::chrono::steady_clock::duration>(
        left, std::chrono::milliseconds(100)));
    if (have_head && spin_.count() > 0) {
      // Busy-poll the shared head first: a commit is seen within the time
      // of a cache-line transfer instead of a futex wake-up.
      const auto spin_end = std::chrono::steady_clock::now() + std::min<std::chrono::nanoseconds>(spin_, slice);
      bool moved = false;
      for (int i = 0; !moved; ++i) {
        moved = j_->head.seq() != seen || closed_.load(std::memory_order_relaxed) || stop.stop_requested();
        if ((i & 63) == 63 && std::chrono::steady_clock::now() >= spin_end) break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (moved) continue;
    }
    if (have_head) {
      j_->head.Wait(seen, slice);
    } else {
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(slice, j_->options.poll_interval));
    }
  }
}

Status CursorImpl::CheckUsable() {
  if (closed_.load(std::memory_order_acquire)) return Status::Closed("cursor is closed");
  if (const std::uint64_t g = j_->compaction_generation.load(std::memory_order_acquire);
      g != seen_generation_ && !internal_) {
    TXJ_RETURN_IF_ERROR(CheckCompacted(j_, filter_, want_));  // compacted while this cursor was behind
    seen_generation_ = g;
  }
  return Status::OK();
}

// The second pass over a remembered transaction: no re-reading, no second
// checksum (the first pass verified these records in these same mappings),
// each event decoded straight into the caller's Event.
bool CursorImpl::EmitBuffered(Event* out) {
  while (emit_index_ < entries_.size()) {
    const Entry& en = entries_[emit_index_++];
    if (dead_flags_[en.sub]) continue;
    if (en.skipped) {
      emit_offset_ += en.skipped;
      continue;
    }
    const std::uint64_t off = emit_offset_++;
    if (off < want_) continue;
    want_ = off + 1;
    format::RecordHeader h;
    format::EventBody b;
    std::memcpy(&h, en.rec, sizeof h);
    std::memcpy(&b, en.rec + format::kRecordHeaderSize, sizeof b);
    const char* s = reinterpret_cast<const char*>(en.rec) + format::kRecordHeaderSize + sizeof b;
    const std::string_view topic = en.topic, type = en.type;
    if (!filter_.match_all && !Matches(topic, type)) continue;
    s += format::InlineNamesLength(b, h.flags);
    out->offset = off;
    out->txn_id = h.txn_id;
    out->timestamp_ns = b.timestamp_ns;
    out->lsn = en.lsn;
    out->topic = topic;
    out->type = type;
    if (h.flags & format::kFlagHasKey) {
      out->key.emplace(s, b.key_length);
    } else {
      out->key.reset();
    }
    out->payload = std::string_view(s + b.key_length, b.payload_length);
    return true;
  }
  emitting_buffered_ = false;
  return false;
}

void CursorImpl::RememberEvent(const std::uint8_t* rec, std::uint64_t lsn, std::string_view topic,
                               std::string_view type) {
  if (entries_.size() >= kMaxRemembered) {
    buffered_ = false;
    return;
  }
  const auto& seg = reader_.segment();
  if (pins_.empty() || pins_.back() != seg) pins_.push_back(seg);  // keeps the mapping alive
  entries_.push_back({rec, lsn, 0, 0, topic, type});
}

Status CursorImpl::Remember(const RecordView& r) {
  if (r.type == RecordType::kEvent && r.sub_id < parents_.size() && entries_.size() < kMaxRemembered) {
    Segment* seg = reader_.segment().get();
    EventFields f;
    TXJ_RETURN_IF_ERROR(DecodeNamed(r, &f));
    if (pins_.empty() || pins_.back().get() != seg) pins_.push_back(reader_.segment());  // keeps the mapping alive
    entries_.push_back({seg->at(r.lsn), r.lsn, r.sub_id, 0, f.topic, f.type});
    return Status::OK();
  }
  RememberOther(r);
  return Status::OK();
}

void CursorImpl::RememberOther(const RecordView& r) {
  if (r.type == RecordType::kSubBegin) {
    if (r.sub_id != parents_.size()) {  // ids not dense: use the second pass
      buffered_ = false;
      return;
    }
    parents_.push_back(ReadBody<format::SubBeginBody>(r).parent_sub_id);
    return;
  }
  const bool event = r.type == RecordType::kEvent;
  if (!event && r.type != RecordType::kPadding) return;
  const std::uint64_t skipped = event ? 0 : ReadBody<format::PaddingBody>(r).skipped_events;
  // A padding standing for more events than an entry holds: the second
  // pass reads the records again instead (as for too many entries), so the
  // offsets after it are the commit marker's, not a truncated count's.
  if (entries_.size() >= kMaxRemembered || r.sub_id >= parents_.size() ||
      skipped > std::numeric_limits<std::uint32_t>::max()) {
    buffered_ = false;
    return;
  }
  const auto& seg = reader_.segment();
  if (pins_.empty() || pins_.back() != seg) pins_.push_back(seg);  // keeps the mapping alive
  entries_.push_back({seg->at(r.lsn), r.lsn, r.sub_id, static_cast<std::uint32_t>(skipped)});
  if (!event && entries_.back().skipped == 0) entries_.pop_back();
}

void CursorImpl::Wake() {
  if (j_->head.valid()) j_->head.WakeAll();
}

Status CursorImpl::Close() {
  if (closed_.exchange(true)) return Status::Closed("cursor is already closed");
  if (journal_alive_->load(std::memory_order_acquire)) Wake();
  return Status::OK();
}

}  // namespace internal

Cursor::Cursor() = default;
Cursor::Cursor(std::unique_ptr<internal::CursorImpl> impl) : impl_(std::move(impl)) {}
Cursor::Cursor(Cursor&&) noexcept = default;
Cursor& Cursor::operator=(Cursor&&) noexcept = default;
Cursor::~Cursor() = default;

namespace {

[[gnu::noinline, gnu::cold]] Status EmptyCursor() { return Status::Closed("empty cursor"); }

}  // namespace

Result<std::optional<Event>> Cursor::next() {
  if (!impl_) [[unlikely]]
    return EmptyCursor();
  // CursorImpl::Next, with its common call inline.
  if (const Event* e = impl_->TakeAhead()) return Result<std::optional<Event>>(std::in_place, *e);
  return impl_->NextSlow();
}

Result<Event> Cursor::wait_next(std::chrono::steady_clock::time_point deadline, std::stop_token stop) {
  if (!impl_) return Status::Closed("empty cursor");
  return impl_->WaitNext(deadline, std::move(stop));
}

void Cursor::set_spin(std::chrono::nanoseconds d) {
  if (impl_) impl_->set_spin(d);
}

Result<std::size_t> Cursor::next_batch(std::span<Event> out) {
  if (!impl_) return Status::Closed("empty cursor");
  return impl_->NextBatch(out.data(), out.size());
}

std::uint64_t Cursor::position() const { return impl_ ? impl_->position() : 0; }

Status Cursor::close() {
  if (!impl_) return Status::Closed("empty cursor");
  return impl_->Close();
}

}  // namespace txj
