// The LMDB catalog (DIR/catalog): derived data that makes opening and
// positioning fast. Everything in it that comes from the journal can be
// rebuilt from the journal; later features add their own tables.
#ifndef TXJOURNAL_LIB_CATALOG_H_
#define TXJOURNAL_LIB_CATALOG_H_

#include <lmdb.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "topic_stats.h"
#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

// A transaction boundary at which scanning can start: no transaction is
// open at `lsn`, every record before it is durable.
struct Checkpoint {
  std::uint64_t lsn = 0;
  std::uint64_t next_offset = 0;
  std::uint64_t last_txn_id = 0;
  std::uint64_t epoch = 0;          // epoch of the record before lsn
  std::uint64_t prev_lsn = 0;       // the record that ends at lsn ...
  std::uint64_t prev_checksum = 0;  // ... and its checksum (to detect a stale catalog)
};

// The status of LMDB return code `rc` (OK for 0), `what` saying what failed
// and where. A full disk is kNoSpace, not kIOError: ENOSPC and EDQUOT (from a
// write of mdb_txn_commit) and MDB_MAP_FULL (the environment reached its map
// size; `map_size`, when known, is named) are kNoSpace; damaged pages are
// kCorruption; the rest kIOError.
Status LmdbError(int rc, const std::string& what, std::size_t map_size = 0);

class Catalog {
 public:
  // Opens (creating when writable) the catalog in `path` (DIR/catalog).
  //
  // Read-only (`writable` false) the open has no side effect on any file:
  // LMDB's MDB_RDONLY still registers the reader in catalog/lock.mdb (a write
  // to that file, and it fails when the file is not writable), and
  // MDB_NOLOCK is safe only while no writer commits to the catalog (a
  // lockless reader is invisible to a writer, which can then recycle the
  // pages it reads). So a read-only open
  //   - with a live writer (DIR/LOCK held, by any process, this one too)
  //     does without the catalog: kBusy here, and the journal falls back to
  //     scanning (positioning from its own in-memory index);
  //   - without one, opens LMDB with MDB_RDONLY | MDB_NOLOCK, copies the
  //     small tables (meta, topics) and the offset index (all of it up to
  //     kSnapshotIndexEntries entries, else about that many, evenly spaced
  //     by offset, and the last) into memory in one read
  //     transaction, checks that no writer took DIR/LOCK meanwhile, and
  //     closes LMDB again, so that a writer starting later never recycles
  //     pages under it. Everything it read is a hint that recovery and
  //     positioning verify against the journal (checkpoint checksum, a
  //     begin record at each index LSN) as for a writable open.
  // Writes to a read-only catalog are kInvalidState.
  static Result<std::unique_ptr<Catalog>> Open(FileSystem& fs, const std::string& path, bool writable, mode_t mode);
  static constexpr std::size_t kSnapshotIndexEntries = 1 << 16;
  ~Catalog();

  Status PutMeta(const std::string& key, const std::string& value);
  Result<std::optional<std::string>> GetMeta(const std::string& key);

  Result<std::optional<Checkpoint>> GetCheckpoint();
  // Stores the checkpoint and offset-index entries (first offset of a
  // transaction -> LSN of its begin marker) in one LMDB transaction.
  // Also merges `topics` (stats of events up to `topics_offset`, exclusive)
  // into the topics table.
  Status PutCheckpoint(const Checkpoint& cp,
                       const std::vector<std::pair<std::uint64_t, std::uint64_t>>& index,
                       const std::map<std::string, TopicStats>& topics = {}, std::uint64_t topics_offset = 0);
  Result<std::map<std::string, TopicStats>> GetTopics();
  // Merges `topics` into the topics table, complete up to `topics_offset`.
  Status PutTopics(const std::map<std::string, TopicStats>& topics, std::uint64_t topics_offset);
  // Offset up to which the topics table is complete (0 when empty).
  Result<std::uint64_t> TopicsOffset();
  // The entry with the greatest offset <= `offset`.
  Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>> FindIndex(std::uint64_t offset);
  // Drops index entries whose LSN lies in [lo, hi).
  Status DropIndexRange(std::uint64_t lo, std::uint64_t hi);
  // Drops index entries whose LSN is >= lsn and the checkpoint if it is.
  Status DropFrom(std::uint64_t lsn);
  // Empties the journal-derived tables.
  Status ClearDerived();

  // The LMDB environment; null for a read-only catalog (a snapshot).
  MDB_env* env() { return env_; }

 private:
  Catalog() = default;
  Status Check(int rc, const char* what) const;
  Status NeedWritable(const char* what) const;
  Status LoadSnapshot(FileSystem& fs, const std::string& dir);
  Status MergeTopics(MDB_txn* t, const std::map<std::string, TopicStats>& topics, std::uint64_t topics_offset);
  std::string path_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0, index_ = 0, topics_ = 0;
  bool writable_ = false;
  // A read-only catalog: what it held when opened (see Open).
  std::map<std::string, std::string> snap_meta_;
  std::map<std::string, TopicStats> snap_topics_;
  std::map<std::uint64_t, std::uint64_t> snap_index_;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_CATALOG_H_
