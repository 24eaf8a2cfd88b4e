// txjournal: the journal handle.
//
// A journal is a directory holding numbered segment files, a manifest
// (JOURNAL), a lock file, a shared head page and an LMDB catalog. See
// docs/format.md for the layout on disk.
//
//   auto j = txj::Journal::open("/var/lib/app/journal", {});
//   if (!j.ok()) { ... j.status().ToString() ... }
//   auto tx = (*j)->begin();
//   tx->append("orders", "created", R"({"id":1})", {.key = "o-1"});
//   auto sub = tx->begin();
//   sub->append("stock", "reserved", "...");
//   sub->rollback();                  // discarded; tx goes on
//   auto info = tx->commit();         // info->first_offset, info->count
//
// Thread rules: a Journal may be shared by threads. One top-level write
// transaction is open at a time; begin() waits for the current one to end.
// Any number of cursors, in this and other processes, read while it writes.
// One process at a time opens a journal for writing (kBusy otherwise); a lock
// left by a killed process never blocks the next open.
#ifndef TXJOURNAL_JOURNAL_H_
#define TXJOURNAL_JOURNAL_H_

#include "txjournal/cxx_standard.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "txjournal/compactor.h"
#include "txjournal/cursor.h"
#include "txjournal/export.h"
#include "txjournal/options.h"
#include "txjournal/recovery_report.h"
#include "txjournal/status.h"
#include "txjournal/topic.h"
#include "txjournal/transaction.h"

namespace txj {

namespace internal {
struct JournalState;
struct JournalAccess;
}  // namespace internal

class TXJ_EXPORT Journal {
 public:
  // Opens (and with create_if_missing creates) the journal in `dir`,
  // recovering from a crash if needed: a torn tail is cut, a transaction left
  // open is closed with a durable rollback marker. What was repaired is in
  // recovery_report(). Errors: kBusy (another process writes it, or this
  // process has it open for writing already), kInvalidArgument (an option
  // value that means nothing, named; a symbolic link at one of the journal's
  // files),
  // kCorruption (damage a crash cannot explain; names file and offset; the
  // files are left as they are), kNotSupported (format version), kNotFound
  // (missing and !create_if_missing), kIOError / kNoSpace. A create that
  // fails removes what it made. Descriptors 0-2 are never given to the
  // journal's files (closed ones are filled with /dev/null first).
  // Descriptors held: sealed segments are kept as mappings only, so a
  // journal of any number of segments opens, and a writer writes any number
  // of them in one session, under the usual limit of 1 024. A writer keeps
  // one for its active and its prepared segment (and for a segment until its
  // sealing thread has made it durable), a read-only journal only for its
  // last unsealed segments. A reader that cannot open a segment the writer added
  // (EMFILE, say) gets kIOError naming the file and the cause, and may read
  // again.
  static Result<std::unique_ptr<Journal>> open(const std::string& dir, const Options& options = {});

  ~Journal();  // closes; see close()
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens a top-level write transaction, waiting while another thread's is
  // open. Errors: kInvalidState (read-only journal, or this thread already
  // holds the open write transaction: waiting would never end; use
  // Transaction::begin() for a sub-transaction), kClosed (closed journal),
  // kFailed (failed closed after a sync error), I/O errors.
  Result<Transaction> begin();
  // Like begin() but returns kBusy at once if another thread's transaction
  // is open (kInvalidState if it is this thread's).
  Result<Transaction> try_begin();
  // Like begin() but returns kTimedOut after `timeout`.
  Result<Transaction> begin_for(std::chrono::nanoseconds timeout);

  // A cursor at `offset` over the committed view. open_cursor(offset) reads
  // everything. Errors: kTruncated (offset before the first retained event),
  // kInvalidArgument (empty filter), kClosed.
  Result<Cursor> open_cursor(std::uint64_t offset, const Filter& filter = Filter::all());

  // Offset the next committed event will get (= number of committed events).
  std::uint64_t next_offset() const;
  // First offset still retained.
  std::uint64_t first_offset() const;
  // LSN just past the last record readers may see.
  std::uint64_t visible_lsn() const;

  // ---- Topics and compaction (see compactor.h) ----

  // Registers the compactor of `topic` (replacing an earlier one). With a
  // non-zero policy the journal compacts the topic by itself in a background
  // thread, counting new events at its checkpoints (every 500 ms; under
  // kNone and kPeriodic such a checkpoint first syncs what is committed).
  // Errors: kInvalidArgument.
  Status register_compactor(const std::string& topic, std::shared_ptr<const Compactor> compactor,
                            CompactionPolicy policy = {});
  // How the last automatic compaction (a policy's) ended: OK when it
  // succeeded or none has run, else its error naming the topic. A failed
  // automatic compaction changes nothing; the policy tries again after as
  // many new events or bytes. Any thread.
  Status automatic_compaction_status() const;

  // Folds the topic's committed events into a new snapshot (durable before
  // anything is removed), then rewrites sealed segments without the events
  // it covers; other topics' events, offsets and transaction boundaries stay
  // as they are. Afterwards a cursor that asks for the covered events of this
  // topic gets kTruncated naming the snapshot. Never blocks the writer.
  // Errors: kNotFound (no compactor registered), kInvalidState (read-only),
  // kCorruption (damaged snapshot and history already gone), I/O errors.
  Result<SnapshotInfo> compact(const std::string& topic);

  // The topic's state: the newest usable snapshot plus the committed events
  // after it. Equal, byte for byte, to a fold over the full history.
  // Errors: kNotFound (no compactor registered), kCorruption, kNotSupported.
  Result<RebuiltState> rebuild(const std::string& topic);
  // The same with an explicit compactor (for read-only tools).
  Result<RebuiltState> rebuild(const std::string& topic, const Compactor& compactor);

  // Drops every event below `min_offset`, whatever its topic: cursors below
  // it get kTruncated from now on (first_offset() returns it), and the
  // sealed segments wholly below it go (their files removed or kept for
  // reuse, Options::recycled_segments); the segment it falls in stays until
  // a later call finds it wholly below, so the space held is what is
  // retained plus at most about a segment. The offset is written down
  // (durable) before anything is removed, and never past the commits a
  // crash keeps. Under kCommit it is durable on return. Under kNone and
  // kPeriodic it is written down as far as its commits are durable (what
  // the last sync or segment seal covered) and no sync is waited for: a
  // crash may bring back events dropped after that, never leave the journal
  // starting past its end; a later call (sync() then the same offset again,
  // say) or close() writes the rest down, and space goes as it is written.
  // Any thread; waits for a running compaction. Appends go on while it
  // runs, but its own work (a manifest write and its sync when segments go)
  // is the calling thread's: call it from another thread than the writer's
  // to keep that off the writer. Errors: kInvalidArgument (past the
  // committed end), kInvalidState (read-only), I/O errors.
  Status apply_retention(std::uint64_t min_offset);

  // The topics of the journal with their counts, from the catalog (which
  // follows commits a little behind, at each checkpoint) or, for a journal
  // without a catalog, from a scan. Errors: those of reading the catalog
  // (kNoSpace, kCorruption, kIOError) or, without one, of the scan's cursor.
  Result<std::vector<TopicInfo>> topics();

  // Stored snapshots of `topic` (every topic when empty), newest first.
  // A damaged snapshot is listed with state_hash "damaged: ...". Errors:
  // those of listing the snapshot folder (kIOError).
  Result<std::vector<SnapshotInfo>> snapshots(const std::string& topic = "");

  // Makes everything written so far durable, whatever the durability mode.
  // OK at once on a read-only journal. Errors: kIOError / kNoSpace of the
  // sync, kFailed once an earlier sync failed (the journal failed closed).
  Status sync();

  // Syncs, seals the active segment and releases the lock. Open transactions
  // must have ended (kInvalidState otherwise). Idempotent: the journal is
  // closed and its lock released whatever it returns. Errors: those of the
  // sync (kIOError, kNoSpace; kFailed after an earlier failure); and, with
  // everything committed durable, those of removing the segments wholly
  // below the retention offset that apply_retention could not remove yet
  // (the next writer's apply_retention removes them).
  Status close();

  const RecoveryReport& recovery_report() const;
  const std::string& dir() const;
  const Options& options() const;
  // The journal's 128-bit identity as 32 hex digits.
  std::string identity() const;

 private:
  explicit Journal(std::unique_ptr<internal::JournalState> state);
  friend class Transaction;
  friend struct internal::JournalAccess;
  std::unique_ptr<internal::JournalState> s_;
};

}  // namespace txj

#endif  // TXJOURNAL_JOURNAL_H_
