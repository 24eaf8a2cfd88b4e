// Snapshot files: DIR/snapshots/<topic-id>-<covered offset>.snap, each the
// encoded state of one topic's compactor with its identity and checksum,
// written whole (temporary file, sync, rename, directory sync). Beside them,
// <topic-id>.compacted records the offset below which the topic's history may
// already have been removed from the segments: written before any removal.
// Snapshots are source data, not derived: the catalog never holds the only copy.
#ifndef TXJOURNAL_LIB_SNAPSHOT_STORE_H_
#define TXJOURNAL_LIB_SNAPSHOT_STORE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "txjournal/snapshot.h"
#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

struct StoredSnapshot {
  SnapshotInfo info;
  std::string state;  // encoded state
};

class SnapshotStore {
 public:
  SnapshotStore(FileSystem* fs, std::string journal_dir, mode_t mode);

  // Snapshot files of `topic` (all topics if empty), newest first per topic.
  // Damaged files are listed with an empty state_hash and `damaged` set.
  struct Listing {
    SnapshotInfo info;
    bool damaged = false;
    std::string problem;
  };
  Result<std::vector<Listing>> List(const std::string& topic) const;

  // Reads and checks one snapshot file. Errors: kCorruption naming the file.
  Result<StoredSnapshot> Read(const std::string& file) const;
  Result<SnapshotInfo> Write(const std::string& topic, const std::string& compactor, std::uint32_t version,
                             std::uint64_t covered_offset, std::uint64_t events_folded, const std::string& state);
  Status Remove(const std::string& file);

  // Offsets below which each topic's history may be gone.
  Result<std::map<std::string, std::uint64_t>> CompactedMarks() const;
  Status SetCompactedMark(const std::string& topic, std::uint64_t offset);

  std::string dir() const { return dir_; }
  static std::string TopicId(const std::string& topic);

 private:
  Status EnsureDir();
  Status WriteFileAtomically(const std::string& name, const std::string& bytes);
  FileSystem* fs_;
  std::string dir_;
  mode_t mode_;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_SNAPSHOT_STORE_H_
