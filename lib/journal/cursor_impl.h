// The committed view: turns the record stream into committed events.
//
// A cursor walks each transaction once, to its commit or rollback marker,
// checking every record (checksum, structure, the commit marker's counts
// and running hash). While no sub-transaction is open the events it walks
// are decoded straight into the caller's array as it goes; they are handed
// out (the count returned, the next() buffer advanced) only once the commit
// marker verified, and wiped again when the transaction turns out rolled
// back, torn or unfinished (see Fill()). From the first sub-transaction on
// (its events survive only if no level above them rolls back), or once the
// caller's array is full, the walk remembers where the events are instead
// (16 bytes each, at most 1 M of them, then a second pass reads the records
// again), and they are handed out after the commit from that memory.
// next() reads ahead through the same path into a small buffer of its own.
#ifndef TXJOURNAL_LIB_CURSOR_IMPL_H_
#define TXJOURNAL_LIB_CURSOR_IMPL_H_

#include <atomic>
#include <chrono>
#include <optional>
#include <stop_token>
#include <unordered_set>
#include <vector>

#include "journal_state.h"
#include "log_reader.h"
#include "name_table.h"
#include "txjournal/cursor.h"
#include "txn_checker.h"

namespace txj::internal {

class CursorImpl {
 public:
  static Result<std::unique_ptr<CursorImpl>> Open(JournalState* j, std::uint64_t offset, const Filter& filter);
  // A cursor over every event that ignores compaction marks (what was
  // compacted away is skipped silently): for the journal's own followers.
  static Result<std::unique_ptr<CursorImpl>> OpenInternal(JournalState* j, std::uint64_t offset);
  // kTruncated when `filter` asks for a topic compacted above `offset`.
  static Status CheckCompacted(JournalState* j, const Filter& filter, std::uint64_t offset);
  // LSN below which readers of `j` may read now.
  static std::uint64_t VisibleLimit(JournalState* j);
  // Unwritten space met at `at` below `limit`: the end of what is written,
  // or missing committed data (corruption, see cursor.cc).
  Status CheckUnwritten(std::uint64_t at, std::uint64_t limit) const;

  Result<std::optional<Event>> Next();
  // Next()'s common call: the next event read ahead when nothing changed
  // since (cursor.cc only); else null and NextSlow() reads ahead, reports
  // an error or the end.
  inline const Event* TakeAhead();
  [[gnu::noinline]] Result<std::optional<Event>> NextSlow();
  // Fills up to `n` events; 0 at the end of what is committed.
  Result<std::size_t> NextBatch(Event* out, std::size_t n);
  Result<Event> WaitNext(std::chrono::steady_clock::time_point deadline, std::stop_token stop);
  Status Close();
  std::uint64_t position() const { return use_ahead_pos_ ? ahead_pos_ : want_; }
  void set_spin(std::chrono::nanoseconds d) { spin_ = d; }

 private:
  CursorImpl(JournalState* j, std::uint64_t start_lsn, std::uint64_t offset, Filter filter);
  static Result<std::unique_ptr<CursorImpl>> OpenImpl(JournalState* j, std::uint64_t offset, const Filter& filter,
                                                      bool internal);
  // Fills out[*filled], out[*filled + 1], ... up to out[cap - 1] with the
  // next matching committed events, advancing *filled; stops early at the
  // end of what is committed, or after one event read a second time from
  // the log (see emitting_), or with `one_txn` after the first transaction
  // that filled some (next()'s read-ahead: a buffer too small for the next
  // transaction would make the walk remember the rest of it). An error after
  // some events: those stay filled.
  Status Fill(Event* out, std::size_t cap, std::size_t* filled, bool one_txn = false);
  // The steps of Fill (cursor.cc).
  struct TxnWalk;
  Status EmitAgain(Event* out, std::size_t* filled, bool* handed);
  // With `verify_all`, checks every record's checksum also in a
  // transaction whose commit marker carries the transaction hash.
  Status WalkTransaction(TxnWalk& w, RecordView& r, LogReader::Stop* st, TxnChecker::Effect* effect,
                         bool verify_all);
  // WalkTransaction's common stretch: the events of a hashed transaction's
  // top level, back to back from `p`, into the caller's slots; returns how
  // many records it took (0: the record at `p` is for the general path).
  std::size_t DeliverEventRun(TxnWalk& w, const std::uint8_t* p, std::uint64_t avail);
  void PinBatchSegment();
  // The last WalkTransaction did not check the records' checksums one by one.
  bool walked_unchecked_ = false;
  void EmitRest(const TxnWalk& w, std::uint64_t begin_lsn, std::uint64_t commit_lsn);
  // OK unless a segment this cursor reads from was truncated under its
  // mapping (see mapping_guard.h).
  Status CheckMappings();
  bool Matches(std::string_view topic, std::string_view type) const;
  void Wake();

  // kClosed once the journal this cursor reads was destroyed.
  Status CheckAlive() const;

  JournalState* j_;
  std::shared_ptr<const std::atomic<bool>> journal_alive_;  // JournalState::alive
  std::string dir_;                                  // for messages once j_ is gone
  Filter filter_;
  std::unordered_set<std::string_view> topics_, types_;
  LogReader reader_;            // at transaction boundaries
  NameTable names_;             // format 5: what the events reader_ reads name by id
  // The filter's answer per id of names_ (0 not asked yet, 1 matches, 2
  // does not), for its scope number id_matches_scope_ (DeliverEventRun).
  std::vector<std::uint8_t> id_matches_;
  std::uint64_t id_matches_scope_ = ~std::uint64_t{0};
  std::uint64_t want_;          // offset of the next event to return
  TxnChecker checker_;
  // Second pass over a committed transaction.
  bool emitting_ = false;
  LogReader emit_;
  NameTable emit_names_;  // names_ for emit_
  std::uint64_t emit_offset_ = 0;
  std::vector<std::uint32_t> dead_;  // sorted rolled-back sub ids
  std::vector<bool> alive_;          // per open level during the second pass
  // First-pass memory of a transaction's events (see Next()).
  struct Entry {
    const std::uint8_t* rec;
    std::uint64_t lsn;
    std::uint32_t sub;
    std::uint32_t skipped;  // padding: committed events it stands for; 0 for an event
    std::string_view topic, type;  // an event's names (found when remembered: names_ moves on)
  };
  static constexpr std::size_t kMaxRemembered = 1 << 20;
  Status Remember(const RecordView& r);
  // Remember() for an event of the top level at `rec`, named topic/type.
  void RememberEvent(const std::uint8_t* rec, std::uint64_t lsn, std::string_view topic, std::string_view type);
  // The names of the event at `rec` (header h, body b, in reader_'s
  // segment): inline, or by id from names_; false when names_ has not got
  // the id (the general path then resolves it, NameTable::Resolve).
  bool EventNames(const format::RecordHeader& h, const format::EventBody& b, const std::uint8_t* rec,
                  std::string_view* topic, std::string_view* type) const {
    const char* s = reinterpret_cast<const char*>(rec) + format::kRecordHeaderSize + sizeof b;
    if ((h.flags & format::kFlagNameRef) == 0) [[unlikely]] {
      *topic = std::string_view(s, b.topic_length);
      *type = std::string_view(s + b.topic_length, b.type_length);
      return true;
    }
    return names_.Find(reader_.segment().get(), h.epoch, format::NameRefId(b), topic, type);
  }
  // A names record `in` passed, into `names` (names_ for the walk,
  // emit_names_ for the second read); errors name where it is.
  Status DefineNames(NameTable& names, const LogReader& in, const RecordView& r);
  Status DefineNames(const RecordView& r) { return DefineNames(names_, reader_, r); }
  // DecodeEventBody() of the event `r` read by `in`, its names found in
  // `names`; errors name where it is.
  Status DecodeNamed(NameTable& names, const LogReader& in, const RecordView& r, EventFields* f);
  Status DecodeNamed(const RecordView& r, EventFields* f) { return DecodeNamed(names_, reader_, r, f); }
  void RememberOther(const RecordView& r);
  // The next live remembered event into *out; false (and the second pass
  // over) when none is left.
  bool EmitBuffered(Event* out);
  // kClosed after Close(); kTruncated when what this cursor has still to
  // read was compacted while it was behind.
  Status CheckUsable();
  std::vector<Entry> entries_;
  std::vector<std::shared_ptr<Segment>> pins_;
  std::vector<std::shared_ptr<Segment>> batch_pins_;  // segments the current batch's events point into
  const Segment* batch_pinned_ = nullptr;              // the last one added
  // next()'s read-ahead: events [ahead_i_, ahead_n_) are verified and not
  // handed out yet. After a call that handed out an event from there,
  // position() is that event's offset + 1 (ahead_pos_), as without reading
  // ahead: want_ is already past what was read ahead.
  // It starts at kFirstAhead events and grows fourfold, up to kAhead, each
  // time a read-ahead fills it: a cursor that reads a few small
  // transactions (a consumer's poll, a tool, each input of a fuzz target)
  // does not allocate and clear 256 events (26 KiB) first.
  static constexpr std::size_t kAhead = 256, kFirstAhead = 16;
  std::unique_ptr<Event[]> ahead_;
  std::size_t ahead_cap_ = 0;
  std::size_t ahead_i_ = 0, ahead_n_ = 0;
  std::uint64_t ahead_pos_ = 0;
  bool use_ahead_pos_ = false;
  std::vector<std::uint32_t> parents_;  // sub id -> parent sub id
  std::vector<char> dead_flags_;
  std::size_t emit_index_ = 0;
  bool buffered_ = false;
  bool emitting_buffered_ = false;
  std::atomic<bool> closed_{false};
  std::uint64_t seen_generation_ = 0;
  std::uint64_t seen_faults_ = 0;  // MappingGuard::TotalFaults() when last checked clean
  bool internal_ = false;
  std::chrono::nanoseconds spin_{0};
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_CURSOR_IMPL_H_
