// The journal's door for compaction, the layer above it: the few calls
// compaction makes of an open journal. Compaction keeps the policy and the
// folding (which compactor, when, loading the base snapshot, folding a
// topic's events, writing the snapshot, deciding the marks); the journal
// keeps the mechanics of its files (taking the compaction turn, making the
// commits durable, publishing a mark and reclaiming the segments it
// covers). Compaction holds the journal's state only as this opaque handle
// (`JournalState&`) and sees no header of the journal but the ones in this
// folder (lib/journal/door/compaction/): its build is given no other.
//
// Every call may be made from any thread unless it says otherwise; `j` must
// be the state of a Journal that is not yet destroyed.
#ifndef TXJOURNAL_LIB_COMPACTION_DOOR_H_
#define TXJOURNAL_LIB_COMPACTION_DOOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "compaction_hook.h"
#include "snapshot_store.h"
#include "topic_stats.h"
#include "txjournal/event.h"
#include "txjournal/status.h"

namespace txj::internal {

struct JournalState;
class CursorImpl;

// ---- what the journal is ----

// The journal's directory, for messages.
const std::string& JournalDir(const JournalState& j);
// True when the journal was opened read-only.
bool IsReadOnly(const JournalState& j);
// True when the journal has an LMDB catalog (readers may have none).
bool HasCatalog(const JournalState& j);

// ---- compaction's own state, held by the journal ----

// The compaction state of `j`, made by `make` the first time (under a lock
// of the journal's: two threads asking first get the same one). Never
// replaced once made; the journal destroys it.
CompactionHook& CompactionHookOf(JournalState& j, const std::function<std::unique_ptr<CompactionHook>()>& make);
// The compaction state of `j`, or null when none was made yet.
CompactionHook* InstalledCompactionHook(JournalState& j);
// From now on the writer's checkpoints go through the hook's AtCheckpoint
// (some compactor has an automatic policy). REQUIRES: the hook was made.
void FollowCheckpoints(JournalState& j);

// ---- reading committed events ----

// A cursor over the committed events of the journal, for compaction's
// folds and followers. Not for concurrent use; it must not outlive `j`.
class CommittedEvents {
 public:
  explicit CommittedEvents(std::unique_ptr<CursorImpl> impl);
  CommittedEvents(CommittedEvents&&) noexcept;
  CommittedEvents& operator=(CommittedEvents&&) noexcept;
  ~CommittedEvents();

  // The next event, or nullopt at the end of what is committed now. The
  // event's views stay valid until the next call. Errors: those of a
  // cursor's next() (kCorruption, kIOError, kClosed, kTruncated).
  Result<std::optional<Event>> Next();
  // The offset after the last event looked at (skipped ones included).
  std::uint64_t position() const;

 private:
  std::unique_ptr<CursorImpl> impl_;
};

// The committed events of `topic` from `offset` on. Errors: kTruncated when
// the topic was compacted or retention removed history above `offset`;
// those of opening a cursor.
Result<CommittedEvents> ReadTopic(JournalState& j, std::uint64_t offset, const std::string& topic);
// Every committed event from `offset` on, ignoring compaction marks (what
// was compacted away is skipped silently). Errors: those of opening a
// cursor.
Result<CommittedEvents> ReadAllTopics(JournalState& j, std::uint64_t offset);
// The offset after the last committed event visible now.
std::uint64_t CommittedEnd(const JournalState& j);
// The offset below which `topic`'s history may have been compacted away
// (0 when it never was).
std::uint64_t CompactedMark(JournalState& j, const std::string& topic);
// The offset below which retention removed every topic's history (0: none).
std::uint64_t RetentionOffset(const JournalState& j);
// The journal's snapshot files. Compaction lists, reads, writes and removes
// snapshots through it; it sets a compacted mark only through
// MarkCompacted, which publishes the mark with it.
SnapshotStore& Snapshots(JournalState& j);

// ---- the catalog's topics table. REQUIRES: HasCatalog(j) ----

// The counts of every topic, as far as the table follows. Errors: those of
// reading the catalog (kIOError, kCorruption).
Result<std::map<std::string, TopicStats>> CatalogTopics(JournalState& j);
// The offset the table's counts reach. Errors: as CatalogTopics.
Result<std::uint64_t> CatalogTopicsOffset(JournalState& j);
// Adds `topics` to the table, which then reaches `upto`. REQUIRES: the
// journal is writable. Errors: those of writing the catalog (kNoSpace,
// kIOError).
Status PutCatalogTopics(JournalState& j, const std::map<std::string, TopicStats>& topics, std::uint64_t upto);

// ---- one compaction at a time ----

// The right to change what the journal retains: held while a topic is
// compacted or retention is applied, and by close(). Movable; released
// when destroyed.
class CompactionTurn {
 public:
  CompactionTurn(CompactionTurn&&) noexcept = default;
  CompactionTurn& operator=(CompactionTurn&&) noexcept = default;

 private:
  friend Result<CompactionTurn> TakeCompactionTurn(JournalState& j);
  explicit CompactionTurn(std::unique_lock<std::mutex> lock) : lock_(std::move(lock)) {}
  std::unique_lock<std::mutex> lock_;
};

// Waits for the turn (another compaction or close() may hold it). Errors:
// kInvalidState when the journal is read-only, kClosed once it is closed.
Result<CompactionTurn> TakeCompactionTurn(JournalState& j);
// Makes every commit so far durable (a no-op under kCommit) and returns the
// offset after them: snapshots and marks never cover events a crash could
// still take (their offsets would be handed out again to other events).
// `what` says for what, in messages. Errors: those of the sync (kIOError,
// kNoSpace; the journal then fails closed).
Result<std::uint64_t> SyncCommitted(JournalState& j, const CompactionTurn& turn, const std::string& what);
// Publishes that `topic`'s history below `offset` may go (durable first,
// then cursors asking for it get kTruncated), and reclaims the space: the
// sealed segments are rewritten without what the marks and retention
// cover, and front segments left empty are removed. REQUIRES: a snapshot
// covering `offset` is durable. Errors: those of writing the mark or
// rewriting a segment (kIOError, kNoSpace, kCorruption naming the file).
Status MarkCompacted(JournalState& j, const CompactionTurn& turn, const std::string& topic, std::uint64_t offset);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_COMPACTION_DOOR_H_
