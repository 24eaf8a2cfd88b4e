// txjournal: inspecting a journal beyond the application API, for tools
// that print or check everything a journal directory holds (journal-dump).
// Not needed by applications.
//
// Thread rules: those of the Journal they are given (any thread while it is
// open; the cursor as any Cursor). ReadSnapshotDirectory touches no open
// journal and may run on any thread.
#ifndef TXJOURNAL_INSPECT_H_
#define TXJOURNAL_INSPECT_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "txjournal/snapshot.h"
#include "txjournal/cursor.h"
#include "txjournal/export.h"
#include "txjournal/journal.h"
#include "txjournal/status.h"

namespace txj {

// Offsets below which each topic's history was compacted into a snapshot
// (cursors asking for it get kTruncated). Records below a mark may still be
// on disk until the segments are rewritten. No error (an empty map: nothing
// compacted).
TXJ_EXPORT std::map<std::string, std::uint64_t> CompactionMarks(Journal& j);

// A cursor over every topic of the committed view from `offset` (raised to
// the first retained offset) that does not refuse compacted history: it
// returns whatever of it is still on disk, which the caller usually skips
// (an event of a topic below its compaction mark). Errors: kNotFound (the
// journal has no segment); those of reading the catalog's offset index and
// the segments (kIOError, kCorruption).
TXJ_EXPORT Result<Cursor> OpenCursorThroughCompaction(Journal& j, std::uint64_t offset);

// The snapshot files of the journal in `journal_dir`, read and checked
// without opening the journal (it may be damaged or being written).
// No error as such: what cannot be read is in `errors`, a damaged file in
// its `problem`.
struct SnapshotFile {
  SnapshotInfo info;
  std::string state;    // the encoded state (sound files only)
  std::string problem;  // why the file is damaged; empty when sound
  bool damaged() const { return !problem.empty(); }
};
struct SnapshotDirectory {
  std::string dir;                                  // where snapshots are stored
  std::vector<SnapshotFile> files;                  // by topic, newest first
  std::map<std::string, std::uint64_t> marks;       // topic -> compaction mark
  std::map<std::string, std::string> mark_files;   // topic -> file holding its mark
  std::vector<std::string> errors;                  // what could not be read at all
};
TXJ_EXPORT SnapshotDirectory ReadSnapshotDirectory(const std::string& journal_dir);

}  // namespace txj

#endif  // TXJOURNAL_INSPECT_H_
