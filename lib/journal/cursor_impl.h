// The committed view: turns the record stream into committed events.
//
// For each transaction a cursor makes two passes: the first reads to the
// commit or rollback marker, checking the structure and noting which
// sub-transactions were rolled back; the second, only for a commit, reads
// the events again and returns those whose sub-transactions all survived,
// numbered from the commit's first offset. The first pass remembers where
// the events are (16 bytes each, at most 1 M of them, then the second pass
// reads the records again instead), so memory stays bounded however large
// the transaction.
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

  Result<std::optional<Event>> Next();
  // Fills up to `n` events; 0 at the end of what is committed.
  Result<std::size_t> NextBatch(Event* out, std::size_t n);
  Result<Event> WaitNext(std::chrono::steady_clock::time_point deadline, std::stop_token stop);
  Status Close();
  std::uint64_t position() const { return want_; }
  void set_spin(std::chrono::nanoseconds d) { spin_ = d; }

 private:
  CursorImpl(JournalState* j, std::uint64_t start_lsn, std::uint64_t offset, Filter filter);
  static Result<std::unique_ptr<CursorImpl>> OpenImpl(JournalState* j, std::uint64_t offset, const Filter& filter,
                                                      bool internal);
  // The next matching event into *out (*got true), or the end (*got false).
  Status NextInto(Event* out, bool* got);
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
  std::uint64_t want_;          // offset of the next event to return
  TxnChecker checker_;
  // Second pass over a committed transaction.
  bool emitting_ = false;
  LogReader emit_;
  std::uint64_t emit_offset_ = 0;
  std::vector<std::uint32_t> dead_;  // sorted rolled-back sub ids
  std::vector<bool> alive_;          // per open level during the second pass
  // First-pass memory of a transaction's events (see Next()).
  struct Entry {
    const std::uint8_t* rec;
    std::uint64_t lsn;
    std::uint32_t sub;
    std::uint32_t skipped;  // padding: committed events it stands for; 0 for an event
  };
  static constexpr std::size_t kMaxRemembered = 1 << 20;
  void Remember(const RecordView& r);
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
  bool batching_ = false;
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
