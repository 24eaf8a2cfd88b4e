// Private state of an open journal, shared by Journal, Transaction and
// Cursor. The writer half is used only when the journal is writable.
#ifndef TXJOURNAL_LIB_JOURNAL_STATE_H_
#define TXJOURNAL_LIB_JOURNAL_STATE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catalog.h"
#include "compaction_hook.h"
#include "dir_lock.h"
#include "format.h"
#include "head_page.h"
#include "manifest.h"
#include "segment_set.h"
#include "snapshot_store.h"
#include "txjournal/compactor.h"
#include "txjournal/options.h"
#include "txjournal/recovery_report.h"
#include "txjournal/status.h"
#include "txn_hash.h"
#include "validated_names.h"

namespace txj {
class Journal;
}

namespace txj::internal {

struct TxnTree;
class CursorImpl;

// Where a transaction boundary is: what a checkpoint records.
using Boundary = Checkpoint;

// Free space kept at the end of every segment: room for a rollback marker
// (so a failed roll can still roll the transaction back) followed by the
// segment-end marker. A record that may use the reserve still leaves room
// for the segment-end marker.
inline constexpr std::uint64_t kSegmentEndSize = format::kRecordHeaderSize;
inline constexpr std::uint64_t kTailReserve = format::AlignUp(sizeof(format::RecordHeader) + sizeof(format::RollbackBody)) +
                                              kSegmentEndSize;

// How far synced data must get past a segment's watermark before a sync
// raises it (one extra page written back per step, not per commit).
inline constexpr std::uint64_t kWatermarkStep = 256 * 1024;

// What a sealed segment holds, whatever the segments before it hold (what
// DropFront needs to drop it whole).
struct SealedSummary {
  bool anchored = false;  // a commit in it: `end` is the offset after it, plus the paddings after it
  std::uint64_t end = 0;  // not anchored: the events its paddings stand for
  bool boundary_seen = false;  // a begin, commit or rollback in it: `open` is its own
  bool open = false;           // it ends inside a transaction
  std::uint64_t last_txn = 0;  // the highest transaction id in it
  bool only_padding = true;    // nothing but top-level paddings
};

struct JournalState {
  std::string dir;
  Options options;
  std::shared_ptr<FileSystem> fs;
  ManifestData manifest;
  std::uint64_t salt = 0;
  std::uint32_t epoch = 0;
  bool read_only = false;
  // Open without the LMDB catalog (OpenWithoutCatalog), as a reader without one.
  bool without_catalog = false;
  // Writable, opened without background threads (OpenWithoutCatalog's
  // without_threads): Roll creates the next segment itself.
  bool without_threads = false;
  bool closed = false;
  std::unique_ptr<SegmentSet> segments;
  RecoveryReport report;
  DirLock lock;
  HeadPage head;
  std::unique_ptr<Catalog> catalog;  // null for read-only journals without one
  std::uint64_t first_offset = 0;      // offset at the start of the first segment
  std::atomic<std::uint64_t> retention_offset{0};  // cursors below it get kTruncated, whatever their topics
  // False once the Journal object is destroyed. Cursors, consumers and
  // publishers keep a reference and check it before touching this state,
  // so one that outlives its journal answers kClosed instead of reading
  // freed memory.
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);
  // False once close() has begun: stores that write on the journal's behalf
  // (the offset store) refuse from then on, like the journal itself.
  std::shared_ptr<std::atomic<bool>> accepting = std::make_shared<std::atomic<bool>>(true);

  // ---- what history compaction and retention removed (read by cursors) ----
  std::unique_ptr<SnapshotStore> snapshots;
  std::mutex compact_mu;  // one compaction at a time; held by close()
  std::mutex topics_mu;   // guards `compacted`
  std::map<std::string, std::uint64_t> compacted;  // topic -> history below this offset may be gone
  std::atomic<std::uint64_t> compaction_generation{0};
  std::atomic<std::uint64_t> last_checkpoint_prev_lsn{0};
  // Held while a checkpoint is written, and by compaction while it rewrites
  // a segment: a checkpoint never names a record in a segment being
  // rewritten (the record may become padding), so the next open can use it.
  std::mutex checkpoint_mu;
  // What a sealed segment holds, for DropFront (lib/journal/reclaim.cc):
  // read by the sealing thread once retention has been applied, or by the
  // first DropFront that needs it; by segment base with the version read (a
  // rewrite makes another), guarded by summary_mu.
  std::mutex summary_mu;
  std::map<std::uint64_t, std::pair<std::weak_ptr<Segment>, SealedSummary>> sealed_summaries;
  std::atomic<bool> retention_applied{false};

  // ---- compaction's own state (lib/compaction), behind its door ----
  // Made by the compaction layer the first time it needs it, under
  // compaction_init_mu; never replaced once set.
  std::mutex compaction_init_mu;
  std::unique_ptr<CompactionHook> compaction;
  // Some compactor has an automatic policy: the writer's checkpoints go
  // through compaction->AtCheckpoint. Set (release) after `compaction`.
  std::atomic<bool> compaction_follows{false};

  // ---- top-level transaction slot ----
  std::mutex txn_mu;
  std::condition_variable txn_cv;
  bool txn_active = false;
  // Threads holding or waiting for the slot (changed with txn_mu; read
  // without it by GatherCommits): commits that are on their way.
  std::atomic<int> slot_demand{0};
  std::thread::id txn_owner;  // the thread that began the open top-level transaction
  std::weak_ptr<TxnTree> current;

  // ---- writer position: touched only by the owner of the slot ----
  std::shared_ptr<Segment> active;
  std::uint64_t pos = 0;  // LSN of the next record
  // The writer writes below it without asking: the active segment's blocks
  // are reserved there, and the ahead thread was last asked to prefault up
  // to about kAheadWindow past the position it was asked at. 0 after a roll.
  std::uint64_t ready_end = 0;
  std::uint64_t next_txn_id = 1;
  std::uint64_t next_offset = 0;
  std::uint64_t last_record_lsn = 0, last_record_checksum = 0;

  // ---- durability ----
  std::mutex sync_mu;
  std::condition_variable sync_cv;
  bool syncing = false;
  std::uint64_t synced_lsn = 0;   // everything below is on stable storage
  std::uint64_t synced_offset = 0;  // every commit below it is (found by a sync or a seal)
  std::uint64_t commit_end = 0;   // end of the last commit/rollback marker written
  Boundary last_boundary;         // boundary at commit_end
  Status failed;                  // non-OK: failed closed
  std::vector<std::shared_ptr<Segment>> unsynced;
  std::atomic<std::uint64_t> visible{0};
  std::atomic<std::uint64_t> visible_next_offset{0};
  std::atomic<bool> has_failed{false};

  // ---- staging (kCommit): records are built in `stage` and reach the file
  // with one pwrite at each top-level commit or rollback (or when the
  // buffer fills): no page of the shared mapping is dirtied, so the syncs
  // leave no write-protected page for the next transaction to fault on ----
  //
  // Under kNone and kPeriodic a large transaction is staged too, from its
  // kSpillBytes-th byte on, and the transactions after it from their begin
  // marker while they stay that large: writing a page through the mapping
  // costs the kernel a clearing of the page first, which a pwrite of whole
  // pages into pages never prefaulted does not, nor does it pay as much
  // for memory a hypervisor took back (4 KiB events x100: 1.4x the appends
  // per second; 100 B x100 with 8 KiB: 1.1-1.3x; docs/performance.md,
  // "Eighteenth session"), while for small transactions the two system
  // calls per transaction cost more than the clearing saves (1 event per
  // transaction, all staged: a tenth).
  bool staging = false;       // now: records go to the stage
  bool stage_always = false;  // kCommit: every transaction is staged
  bool stage_next = false;    // kNone, kPeriodic: the last transaction was large; stage the next
  static constexpr std::uint64_t kSpillBytes = 8 << 10;
  std::vector<std::uint8_t> stage;  // kStageSize bytes once this writer first stages (none for readers)
  std::uint64_t stage_lsn = 0;  // LSN of stage[0]; the stage holds [stage_lsn, pos)
  // Records from `pos` on go to the stage (a writer that is not
  // stage_always, through the mapping until now: what the open
  // transaction wrote there is hashed first).
  void StartStaging();
  // After a transaction ended (its end marker flushed): back to the mapping
  // unless the writer stages always or the transaction was large.
  void EndStaging(std::uint64_t txn_bytes);
  // ---- gaps (format 2; staging with commit padding on): a page that a
  // sync has begun to cover is never written again. The next write starts
  // at the next page boundary, past a gap (docs/format.md "Gaps"), instead
  // of every commit padding its own page: commits between two syncs share
  // their pages. ----
  bool gaps = false;
  std::mutex freeze_mu;           // orders Flush's writes and the freeze before a sync
  std::uint64_t written_end = 0;  // with freeze_mu: the file holds what was staged below it
  std::uint64_t frozen_end = 0;   // with freeze_mu: a sync began with the file written up to it
  // The open transaction's hash and its begin marker's LSN (null outside
  // one): Append and FinishClaimed add each record of the transaction to
  // the hash (its bytes are read when the hash is taken: moving records
  // past a gap changes what it sees, as it should), MoveStagedPastGap
  // recomputes a staged commit marker's hash and the begin's LSN.
  // `txn_ending`: the end marker is written, so the hash is needed only to
  // recompute that marker (Flush then drops it instead of hashing on).
  TxnHash* txn_hash = nullptr;
  std::uint64_t* txn_begin_lsn = nullptr;
  bool txn_ending = false;
  // The topic and type pairs events have named since this writer opened,
  // checked (Transaction::append). The holder of the write slot only.
  ValidatedNames validated_names;
  // The ids names records bound in the active segment: the segment's base
  // LSN, and the next id (format::kMaxNameIds once they are all taken).
  std::uint64_t names_segment = ~std::uint64_t{0};
  std::uint32_t next_name_id = 0;
  // Moves the staged records to the next page boundary: new LSNs and
  // checksums, the first one flagged kFlagFollowsGap, a staged commit
  // marker's transaction hash recomputed.
  // REQUIRES: freeze_mu held; stage_lsn not on a page boundary.
  void MoveStagedPastGap();
  // After a durable commit: when no transaction fits in the rest of the
  // segment any more and the next segment is ready, ends it now, so its end
  // marker goes out with the commit, before the sync. When the marker would
  // have no room past the commit's page later, ends it now in any case,
  // waiting for the next segment; if there is none (its preparation
  // failed), fails the journal closed and returns that (the commit is not
  // acknowledged).
  [[nodiscard]] Status EndSegmentIfFull();
  // Room a writer keeps at a segment's end besides the reserve, so that
  // what it staged still fits after moving past a gap (less than a page).
  std::uint64_t gap_reserve() const { return gaps ? format::kPageSize : 0; }
  static constexpr std::size_t kStageSize = 1 << 20;
  // Without a stage, the open transaction's hash takes in what was written
  // every this many bytes.
  static constexpr std::size_t kTxnHashStep = 128 << 10;
  // Writes what is staged to the active segment. A failed write fails the
  // journal closed (what reached the file is unknown).
  Status Flush();
  // Where the record at pos of `size` bytes is built.
  std::uint8_t* WriteAt(std::uint64_t size);
  // Zeros written ahead of small staged writes. A durable commit that
  // starts a page never written before makes its fdatasync also commit the
  // file system's allocation (ext4: the unwritten-extent conversion, a
  // journal commit and a second flush). Writing the pages just past the
  // position with zeros, a step at a time and inside the same sync, makes
  // the next commits into them plain overwrites (docs/performance.md).
  // Only pages after the last one written are touched: never a page that
  // holds an acknowledged commit. A reused segment file's written blocks
  // (Segment::written_end) get none: they are overwritten in place already.
  static constexpr std::uint64_t kZeroAheadStep = 64 << 10;
  std::uint64_t zeroed_end = 0;  // staging: pages of the active segment below it were written
  // Called after a committed transaction of `txn_bytes` was written, before
  // its sync; not after a begin marker's write (a large transaction would
  // then overwrite zeros just written).
  void ZeroAhead(std::uint64_t txn_bytes);

  // ---- ahead thread: reserves and prefaults the pages just ahead of the writer ----
  static constexpr std::uint64_t kAheadWindow = 4 << 20;  // prefaulted (dirty) past the writer: bounded
  static constexpr std::uint64_t kAheadChunk = 512 << 10;  // the writer asks again every chunk
  std::thread ahead;
  std::mutex ahead_mu;
  std::condition_variable ahead_cv;
  std::shared_ptr<Segment> ahead_seg;  // with ahead_mu
  std::uint64_t ahead_target = 0;
  bool ahead_stop = false;
  void AheadLoop();
  // Slow path of Append: makes [pos, need) writable (reserving blocks now if
  // the ahead thread has not), asks for the next window, sets ready_end.
  Status MakeRoom(std::uint64_t need);
  // How this writer writes the segments it makes (Segment::Create).
  SegmentWrites segment_writes() const {
    if (stage_always) return SegmentWrites::kPwrite;
    return options.durability == Durability::kNone && options.huge_pages ? SegmentWrites::kMappingHugePages
                                                                          : SegmentWrites::kMapping;
  }

  // ---- background threads: one prepares segments, syncs periodically and
  // writes checkpoints; one seals retired segments (its syncs never hold up
  // the preparation of the segment the writer needs next) ----
  std::thread bg;
  std::thread sealer;
  void SealLoop();
  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool bg_stop = false;
  std::shared_ptr<Segment> prepared;
  Status prepare_error;
  std::uint64_t prepare_base = 0;
  // Retired segment files kept for reuse (paths, oldest first; at most
  // options.recycled_segments): DropFront adds, NewSegment takes.
  std::mutex free_mu;
  std::vector<std::string> free_files;
  // Keeps the retired segment file `seg` for reuse when the pool has room
  // (renamed to its retired name; *kept says so), else removes it. Errors:
  // those of removing it (a failed rename falls back to removing).
  int RetireFile(const Segment& seg, bool* kept);
  // The segment at `base`: a retired file made new (Segment::Recycle) when
  // one is free of readers, else a new file (Segment::Create). Errors:
  // Segment::Create's.
  Result<std::shared_ptr<Segment>> NewSegment(std::uint64_t base);
  struct SealJob {
    std::shared_ptr<Segment> seg;
    Boundary boundary;  // latest boundary inside the sealed segment
    std::chrono::steady_clock::time_point retired;
  };
  // Without commit durability, a retired segment is synced and sealed a
  // little later (or when several wait), so a burst of appends is not held
  // to the disk's write-back speed segment by segment.
  static constexpr std::chrono::milliseconds kSealDelay{100};
  static constexpr std::size_t kSealBacklog = 3;
  std::deque<SealJob> to_seal;
  // Segments that compaction or retention removed or replaced (with bg_mu):
  // the sealing thread drops the journal's last reference, so the file's
  // final close, which frees its blocks (slow where the file system
  // discards freed blocks: 0.5-1 s per 4 MiB segment on this project's
  // test machines), is not the caller's.
  std::vector<std::shared_ptr<Segment>> to_release;
  void ReleaseLater(std::shared_ptr<Segment> seg);
  std::uint64_t last_checkpoint_lsn = 0;  // guarded by checkpoint_mu
  // The newest durable boundary whose checkpoint was skipped because
  // checkpoint_mu was held (a segment sealed while retention or compaction
  // ran); lsn 0: none. Guarded by sync_mu.
  Boundary missed_checkpoint;

  // ---- offset index: first offset of a transaction -> LSN of its begin ----
  std::mutex index_mu;
  std::map<std::uint64_t, std::uint64_t> index;            // in memory, all known
  std::vector<std::pair<std::uint64_t, std::uint64_t>> index_pending;  // not yet in LMDB
  std::uint64_t last_index_offset = 0, last_index_lsn = 0;
  bool index_any = false;

  // Writes one record at pos (rolling to the next segment when needed).
  // `body_parts` are concatenated after the header. On success stores the
  // record's LSN and checksum.
  struct Part {
    const void* data;
    std::size_t size;
  };
  // The error for a record of `len` bytes, over max_record_size().
  Status RecordTooLarge(std::uint64_t len) const;
  // With `fill` non-null the last part's bytes are not copied and the
  // record gets no checksum yet: *fill points where the caller writes them
  // (in the mapping, or the stage), and FinishClaimed ends the record.
  // Nothing else may be appended in between.
  Status Append(RecordType type, std::uint8_t flags, std::uint16_t depth, std::uint64_t txn_id,
                std::uint32_t sub_id, const Part* parts, std::size_t nparts, bool use_reserve,
                std::uint64_t* lsn, std::uint64_t* checksum, std::uint8_t** fill = nullptr);
  // Append for an event record (format::EventBody, then topic, type, key
  // and `payload_size` bytes of `payload`), without the parts array: the
  // per-event path. A pair validated_names holds is named by its id in the
  // active segment, preceded by the names record that binds it the first
  // time (*records 2, else 1); other pairs are stored inline. The caller
  // checked the sizes against their fields (names at most 255 bytes, key
  // 65535, payload under 4 GiB). With `fill` non-null the payload is left
  // for the caller, as Append's last part.
  // `slot`: validated_names' slot of the pair (null: names inline).
  Status AppendEvent(std::uint8_t flags, std::uint16_t depth, std::uint64_t txn_id, std::uint32_t sub_id,
                     std::uint64_t timestamp_ns, std::string_view topic, std::string_view type, std::string_view key,
                     const void* payload, std::uint64_t payload_size, ValidatedNames::Slot* slot, std::uint8_t** fill,
                     std::uint64_t* lsn, std::uint64_t* checksum, std::uint32_t* records);
  // How AppendEvent stores an event's names: `names` bytes inline (0: by
  // `id`), after a names record of `names_len` bytes (`names_size`
  // aligned; 0: none).
  struct NamePlan {
    std::uint64_t names = 0;
    std::uint64_t names_len = 0, names_size = 0;
    std::uint16_t id = 0;
  };
  // AppendEvent's plan for a pair not bound in the active segment, or an
  // event that does not fit in it: ends the segment first when the names
  // record and the event (`names` bytes of names, `ref_size` bytes of
  // event by id) fit in the next one only, then binds the next id there;
  // names inline when they fit in no segment or the ids are all taken.
  // Errors: those of Roll.
  Status PlanNames(std::uint64_t names, std::uint64_t ref_size, NamePlan* plan);
  // Append's and AppendEvent's steps (inline, record_append.h): where a
  // record of `len` bytes goes, its header written; then its checksum,
  // hash and position.
  Status StartRecord(RecordType type, std::uint8_t flags, std::uint16_t depth, std::uint64_t txn_id,
                     std::uint32_t sub_id, std::uint64_t len, bool use_reserve, std::uint8_t** p, std::uint64_t* size);
  void FinishRecord(std::uint8_t* p, RecordType type, std::uint64_t len, std::uint64_t size, std::uint64_t* lsn,
                    std::uint64_t* checksum);
  void LeaveRecordOpen(std::uint64_t size, std::uint64_t* lsn, std::uint64_t* checksum);
  // Ends the record Append left open at `lsn` (the last one): its checksum,
  // or with `cancel` a padding record of the same length in its place (it
  // stands for no event). Returns the checksum.
  std::uint64_t FinishClaimed(std::uint64_t lsn, bool cancel);
  Status Roll();
  // Room a top-level transaction needs left in the active segment to begin
  // there: a sixteenth of the segment, at most 1 MiB. Larger transactions
  // may still span segments.
  std::uint64_t BeginRoom() const { return std::min<std::uint64_t>(manifest.segment_size / 16, 1u << 20); }
  // Fills the rest of the page at pos with a padding record (see
  // Options::pad_commits_to_page); near the segment's end, rolls instead.
  void PadToPage();
  // Makes everything below `target` durable (group commit: one sync serves
  // every waiter). Fails closed on a sync error. `commit`: called by a
  // committing transaction, whose sync may wait a little for the commits of
  // other threads (see GatherCommits).
  Status SyncTo(std::uint64_t target, bool commit = false);
  // Group commit. When the last sync covered the commits of several
  // threads, the thread about to sync first waits, for at most the last
  // sync's duration, while fewer commits are pending than the last sync
  // covered or while another thread holds or waits for the write slot (its
  // commit is on its way): the threads that the last sync released are then
  // covered by this sync instead of the next. Without it 8 threads alternate
  // between syncs covering 7 commits and syncs covering 1
  // (docs/performance.md). A lone writer never waits (its syncs cover one
  // commit); when fewer threads commit than before, one wait times out and
  // the next sync expects fewer. The wait costs a waiting follower at most
  // one sync more. REQUIRES: sync_mu held by `lock`.
  void GatherCommits(std::unique_lock<std::mutex>& lock);
  std::uint64_t commits_noted = 0;       // with sync_mu: commit boundaries noted
  std::uint64_t commits_at_sync = 0;     // with sync_mu: commits_noted when the last sync started
  std::uint64_t last_sync_batch = 0;     // with sync_mu: commits the last commit sync covered
  std::chrono::nanoseconds last_sync_time{0};  // with sync_mu: duration of the last sync
  bool gathering = false;                // with sync_mu: a leader waits in GatherCommits
  std::condition_variable gather_cv;     // with sync_mu: a commit was noted while gathering
  // Called after a commit/rollback marker ending at `end`.
  void NoteBoundary(const Boundary& b, std::uint64_t begin_lsn, std::uint64_t first_offset);
  void Publish(std::uint64_t visible_lsn, std::uint64_t next_off);
  Status FailClosed(const Status& cause);
  Status CheckUsable() const;

  void StartBackground();
  void StopBackground();
  void BackgroundLoop();
  // Writes a checkpoint at durable boundary `b` unless checkpoint_mu is
  // held (then `b` is kept in missed_checkpoint for WriteNewestCheckpoint)
  // or one at or past it is written already.
  void WriteCheckpoint(const Boundary& b);
  // The same, with checkpoint_mu held by the caller.
  bool WriteCheckpointLocked(const Boundary& b);
  // Writes a checkpoint at the newest durable boundary (the last commit when
  // it is synced, else the last one skipped), when that is newer than the
  // last checkpoint: for DropFront, whose segments stay while the catalog's
  // checkpoint names them. True if one was written. REQUIRES: checkpoint_mu.
  bool WriteNewestCheckpoint();
  std::uint64_t max_record_size() const { return manifest.segment_size - format::kSegmentHeaderSize - kTailReserve; }
  ~JournalState();
};

// Lets library code reach a Journal's state.
struct JournalAccess {
  static JournalState& state(Journal& j);
  static std::unique_ptr<Journal> Make(std::unique_ptr<JournalState> s);
};

// Journal::open without the LMDB catalog, for the fuzz targets only
// (fuzz/load_fuzzer.cc), which open a journal per input in an in-memory
// FileSystem: LMDB does its own I/O on real files. Positioning falls back to
// scanning, as for a reader without a catalog; nothing is checkpointed.
// With `without_threads` (harnesses and tests only: fuzz/load_fuzzer.cc) a
// writable open starts none of its background threads (ahead, background,
// sealer): the writer reserves its own pages, Roll creates the next segment
// itself, retired segments are not sealed, and there is no periodic sync.
Result<std::unique_ptr<Journal>> OpenWithoutCatalog(const std::string& dir, const Options& options,
                                                    bool without_threads = false);

// Records in the manifest that the catalog now holds data the journal cannot
// rebuild (called by the offset store, the committer and the eventbox).
Status MarkCatalogPrecious(JournalState& s);


}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_JOURNAL_STATE_H_
