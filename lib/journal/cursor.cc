#include <algorithm>
#include <cstring>
#include <thread>

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

Result<std::optional<Event>> CursorImpl::Next() {
  // One result, filled in place and returned by name (no copies of the
  // event on the way out).
  Result<std::optional<Event>> r(std::in_place, std::in_place);
  Status st = CheckAlive();
  if (st.ok()) {
    bool got = false;
    st = NextInto(&**r, &got);
    // An event, an error or an end read from a page of a file truncated
    // under its mapping came from zeros put there by the SIGBUS guard:
    // report the truncation instead.
    if (Status m = CheckMappings(); !m.ok()) st = std::move(m);
    if (!got) r->reset();
  }
  if (!st.ok()) r = Result<std::optional<Event>>(std::move(st));
  return r;
}

Result<std::size_t> CursorImpl::NextBatch(Event* out, std::size_t n) {
  TXJ_RETURN_IF_ERROR(CheckAlive());
  batch_pins_.clear();
  batching_ = true;
  std::size_t filled = 0;
  Status st;
  st = CheckUsable();
  while (st.ok() && filled < n) {
    // Events of a transaction already read and verified: straight from
    // memory into the caller's array.
    if (emitting_buffered_ && EmitBuffered(&out[filled])) {
      ++filled;
      continue;
    }
    bool got;
    st = NextInto(&out[filled], &got);
    if (!st.ok() || !got) break;
    ++filled;
    // Events read a second time from the log (transactions too large to
    // remember) are valid only until the reader moves on: one at a time.
    if (emitting_) break;
  }
  batching_ = false;
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

Status CursorImpl::NextInto(Event* out, bool* got) {
  *got = false;
  using Stop = LogReader::Stop;
  TXJ_RETURN_IF_ERROR(CheckUsable());
  RecordView r;
  for (;;) {
    if (emitting_buffered_) {
      if (EmitBuffered(out)) {
        *got = true;
        return Status::OK();
      }
      continue;
    }
    if (emitting_) {
      Stop st = emit_.Next(&r);
      if (st == Stop::kLimit) {
        emitting_ = false;
        continue;
      }
      if (st != Stop::kRecord) {
        return Status::Corruption("record changed under a cursor in " + emit_.Where() + ": " +
                                  std::string(DecodeErrorName(emit_.error())));
      }
      switch (r.type) {
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
        case RecordType::kEvent: {
          if (alive_.empty() || !alive_.back()) break;
          const std::uint64_t off = emit_offset_++;
          if (off < want_) break;
          want_ = off + 1;
          EventFields f = DecodeEventBody(r);
          if (!Matches(f.topic, f.type)) break;
          *out = Event{off, r.txn_id, f.timestamp_ns, r.lsn, f.topic, f.type, f.key, f.payload};
          *got = true;
          return Status::OK();
        }
        default: break;
      }
      continue;
    }
    const std::uint64_t limit = VisibleLimit(j_);
    reader_.set_limit(limit);
    const std::uint64_t save = reader_.position();
    Stop st = reader_.Next(&r);
    if (st == Stop::kLimit || st == Stop::kUnwritten) {
      reader_.Seek(save);
      return Status::OK();
    }
    if (st != Stop::kRecord) {
      Status e = Status::Corruption(std::string(DecodeErrorName(reader_.error())) + " in " + reader_.Where(save));
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
    // First pass: to the end marker of this transaction, checking every
    // record and remembering where its events are (up to a bound; past it
    // the events are read a second time instead).
    const std::uint64_t next_off = checker_.next_offset();
    checker_.Reset(next_off, r.txn_id - 1);
    TxnChecker::Effect effect;
    Status fs = checker_.Feed(r, &effect);
    const std::uint64_t begin_lsn = r.lsn;
    entries_.clear();
    if (batching_) {
      // Events already in the caller's batch may point into these segments.
      batch_pins_.insert(batch_pins_.end(), pins_.begin(), pins_.end());
    }
    pins_.clear();
    parents_.assign(1, 0);
    buffered_ = true;
    for (;;) {
      if (!fs.ok()) return Status::Corruption(fs.message() + ", in " + reader_.Where(r.lsn));
      if (effect == TxnChecker::Effect::kCommitted || effect == TxnChecker::Effect::kRolledBack) break;
      if (buffered_) Remember(r);
      st = reader_.NextInline(&r);
      if (st != Stop::kRecord) break;
      if (checker_.FeedEvent(r)) continue;  // effect stays kNone, fs OK
      fs = checker_.Feed(r, &effect);
    }
    if (st != Stop::kRecord) {
      if (st == Stop::kLimit || st == Stop::kUnwritten) {
        checker_.Reset(next_off, 0);
        reader_.Seek(save);  // the transaction is not complete yet
        return Status::OK();
      }
      Status e = Status::Corruption(std::string(DecodeErrorName(reader_.error())) + " in " + reader_.Where());
      reader_.Seek(save);
      return e;
    }
    if (effect == TxnChecker::Effect::kRolledBack) continue;
    const std::uint64_t first = checker_.committed_first_offset();
    const std::uint64_t count = checker_.committed_count();
    if (first + count <= want_ || count == 0) continue;
    dead_ = checker_.rolled_back_subs();
    std::sort(dead_.begin(), dead_.end());
    emit_offset_ = first;
    if (buffered_) {
      // A sub-transaction is dead if it or an ancestor rolled back; ids are
      // dense and a parent's id is smaller than its child's.
      dead_flags_.assign(parents_.size(), 0);
      for (std::uint32_t id = 1; id < parents_.size(); ++id) {
        dead_flags_[id] = std::binary_search(dead_.begin(), dead_.end(), id) || dead_flags_[parents_[id]];
      }
      emit_index_ = 0;
      emitting_buffered_ = true;
      continue;
    }
    emit_.Seek(begin_lsn);
    emit_.set_limit(r.lsn);  // up to the commit marker
    emit_offset_ = first;
    emitting_ = true;
  }
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
    const std::string_view topic(s, b.topic_length), type(s + b.topic_length, b.type_length);
    if (!filter_.match_all && !Matches(topic, type)) continue;
    s += b.topic_length + b.type_length;
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

void CursorImpl::Remember(const RecordView& r) {
  if (r.type == RecordType::kEvent && r.sub_id < parents_.size() && entries_.size() < kMaxRemembered) {
    Segment* seg = reader_.segment().get();
    if (pins_.empty() || pins_.back().get() != seg) pins_.push_back(reader_.segment());  // keeps the mapping alive
    entries_.push_back({seg->at(r.lsn), r.lsn, r.sub_id, 0});
    return;
  }
  RememberOther(r);
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
  if (entries_.size() >= kMaxRemembered || r.sub_id >= parents_.size()) {
    buffered_ = false;
    return;
  }
  const auto& seg = reader_.segment();
  if (pins_.empty() || pins_.back() != seg) pins_.push_back(seg);  // keeps the mapping alive
  entries_.push_back({seg->at(r.lsn), r.lsn, r.sub_id,
                      event ? 0u : static_cast<std::uint32_t>(ReadBody<format::PaddingBody>(r).skipped_events)});
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

Result<std::optional<Event>> Cursor::next() {
  if (!impl_) return Status::Closed("empty cursor");
  return impl_->Next();
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
