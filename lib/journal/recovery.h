// Opening a journal: find the end of valid data from the last checkpoint,
// tell crash damage (repairable) from other damage (an error), and repair.
#ifndef TXJOURNAL_LIB_RECOVERY_H_
#define TXJOURNAL_LIB_RECOVERY_H_

#include <cstdint>
#include <functional>
#include <string>

#include "journal_state.h"
#include "log_reader.h"
#include "txn_checker.h"

namespace txj::internal {

// Result of scanning a journal to its end.
struct TailScan {
  std::uint64_t start_lsn = 0;
  std::uint64_t end_lsn = 0;          // first byte after the last valid record
  std::uint64_t next_offset = 0;
  std::uint64_t last_txn_id = 0;
  std::uint32_t last_epoch = 0;
  Boundary last_boundary;
  bool open_txn = false;              // a transaction was left open at the tail
  std::uint64_t open_txn_id = 0, open_begin_lsn = 0, open_records = 0;
  bool crash_tail = false;            // bytes after end_lsn must be cut
  std::string tail_reason;            // what was found at end_lsn
  std::uint64_t tail_bytes = 0;       // non-zero bytes from end_lsn on
  std::uint64_t scanned_bytes = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> index;  // new index entries
  // Where the damage is when ScanToTail returns kCorruption: the segment
  // file (empty when no file can be named), the byte in it and the LSN.
  std::string problem_file;
  std::uint64_t problem_offset = 0;
  std::uint64_t problem_lsn = 0;
};

// Called by ScanToTail for every valid record, in log order, once the
// transaction checker accepted it; `seg` holds the record and `effect` is
// what it did to the transaction structure. For tools that walk the log
// (walk.cc) with the same judgement as an open.
using ScanVisitor =
    std::function<void(const RecordView& r, const Segment& seg, const TxnChecker& checker, TxnChecker::Effect effect)>;

// Scans from `start` (a checkpoint or the first record). Errors:
// kCorruption with file and byte offset for damage a crash cannot explain.
// With `tail_moving` (a reader while a live writer appends), the first
// position that is not a valid record is the end: what lies there is being
// written, not damage.
Status ScanToTail(SegmentSet& segs, const Checkpoint& start, TailScan* out, bool tail_moving = false,
                  const ScanVisitor& visit = {});

// Full open-time recovery of a writable or read-only journal state whose
// manifest, segments and catalog are loaded. Fills s.report.
Status Recover(JournalState& s);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECOVERY_H_
