// txjournal: writing a faithful copy of a journal (what journal-load does with
// the output of `journal-dump --raw --format jsonl`), beyond the application
// API: the offsets and transaction ids that compaction and retention left
// taken (padding records), the transaction ids of the source, its snapshots
// and compaction marks. For copy and restore tools. Not needed by
// applications.
//
// Thread rules: single-threaded use by the one writer of the journal. The
// calls that take the write slot (ImportPositionOf, ImportGap,
// ImportNextTxnId) return kInvalidState rather than wait while a
// transaction is open; ImportInnerGap and ImportOpenTransaction act on the
// journal's open transaction, which must be the caller's; the snapshot and
// mark calls take the journal's compaction lock.
#ifndef TXJOURNAL_IMPORT_H_
#define TXJOURNAL_IMPORT_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <string>

#include "txjournal/export.h"
#include "txjournal/journal.h"

namespace txj {

struct ImportPosition {
  std::uint64_t next_offset = 0;  // offset the next committed event gets
  std::uint64_t next_txn_id = 1;  // id the next transaction gets
  // Nothing was ever written: no transaction (committed or not), no gap, no
  // snapshot, no compaction mark, no retention.
  bool empty = true;
};

// REQUIRES: no transaction open on `j`. Errors: kInvalidState (read-only
// journal, or a transaction open), kClosed, those of listing the snapshot
// files (kIOError).
TXJ_EXPORT Result<ImportPosition> ImportPositionOf(Journal& j);

// At the top level (no transaction open): a padding record standing for
// `events` offsets and for transaction ids up to `last_txn_id`, which stay
// taken (as compaction or retention leaves them). Durable as a commit is,
// with the journal's durability. Errors: kInvalidArgument (counts past
// 2^62), kInvalidState (read-only journal, or a transaction open), kClosed,
// and those of writing and syncing a record (kIOError, kNoSpace, kFailed).
TXJ_EXPORT Status ImportGap(Journal& j, std::uint64_t events, std::uint64_t last_txn_id);

// The next transaction begun gets `txn_id`; ids below it that were never
// used stay unused. Errors: kInvalidArgument when `txn_id` was already
// handed out, kInvalidState with a transaction open.
TXJ_EXPORT Status ImportNextTxnId(Journal& j, std::uint64_t txn_id);

// Inside the open transaction, at its innermost open level: a padding
// record standing for `events` offsets (events compacted out of a
// transaction that kept others). Counted like events by the level's commit.
// Errors: kInvalidState (no transaction open), kInvalidArgument (offsets
// past 2^62), the transaction's own error once it failed, and those of
// writing a record (kIOError, kNoSpace).
TXJ_EXPORT Status ImportInnerGap(Journal& j, std::uint64_t events);

// The open top-level transaction: the first offset its commit will claim
// and the events its top level holds now.
struct ImportOpenTxn {
  std::uint64_t txn_id = 0;
  std::uint64_t first_offset = 0;
  std::uint64_t events = 0;
};
// Errors: kInvalidState (no transaction open).
TXJ_EXPORT Result<ImportOpenTxn> ImportOpenTransaction(Journal& j);

// A snapshot as journal-dump printed it; written whole and durable. Errors:
// kCorruption when the state does not hash to `state_hash`; those of
// writing the file (kIOError, kNoSpace).
TXJ_EXPORT Status ImportSnapshot(Journal& j, const std::string& topic, const std::string& compactor, std::uint32_t version,
                      std::uint64_t covered_offset, std::uint64_t events_folded, const std::string& state,
                      const std::string& state_hash);

// The topic's history below `offset` counts as compacted (cursors asking
// for it get kTruncated naming the snapshot), as in the source. Errors:
// those of writing the mark durably (kIOError, kNoSpace).
TXJ_EXPORT Status ImportCompactedMark(Journal& j, const std::string& topic, std::uint64_t offset);

}  // namespace txj

#endif  // TXJOURNAL_IMPORT_H_
