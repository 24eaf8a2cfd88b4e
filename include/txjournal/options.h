// txjournal: options given to Journal::open.
//
// Thread rules: plain values, no shared state: any thread; a value is
// written by one thread at a time, as any C++ value. Journal::open()
// reports invalid options (kInvalidArgument).
#ifndef TXJOURNAL_OPTIONS_H_
#define TXJOURNAL_OPTIONS_H_

#include "txjournal/cxx_standard.h"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "txjournal/file_system.h"

namespace txj {

// What commit() promises when it returns. README.md ("Durability") states
// each promise point by point.
enum class Durability : std::uint8_t {
  // Returns once the records are in the shared mapping: survives a crash of
  // the process, not of the machine.
  kNone = 0,
  // Returns only after the transaction is on stable storage (fdatasync).
  // Concurrent committers share one sync (group commit). The default.
  kCommit = 1,
  // Like kNone, plus a background sync every `sync_interval`: a machine
  // crash loses at most about one interval of commits.
  kPeriodic = 2,
};

struct Options {
  // Create the journal directory if it does not exist.
  bool create_if_missing = true;
  // Fail with kInvalidArgument if the journal already exists.
  bool error_if_exists = false;
  // Open for reading only: takes no lock, writes nothing, repairs nothing.
  // A crash tail is reported in the RecoveryReport and left as it is.
  bool read_only = false;
  // Size of each segment file, fixed when the journal is created (later
  // opens use the size recorded in the journal). Multiple of 4096, at least
  // 64 KiB. A top-level transaction begins in the next segment when less
  // than a sixteenth of the segment (at most 1 MiB) is left, so that
  // retention can remove whole segments; a transaction larger than that
  // may cross into the next segment, and a segment that ends inside such a
  // transaction stays on disk (docs/format.md, "Rolling").
  std::uint64_t segment_size = 64ull << 20;
  Durability durability = Durability::kCommit;
  // Under kCommit: no write touches a page that holds an acknowledged
  // commit. A device that garbles a page being rewritten when the power goes
  // then cannot take acknowledged commits with it (docs/durability.md,
  // "Power loss"). A write into a page that a sync has begun to cover skips
  // to the next page instead (a gap, docs/format.md), so the commits made
  // between two syncs share pages; costs up to 4 KiB of file space per sync
  // (as SQLite's WAL, whose frames are whole pages), not more writes. Turn
  // it off only for devices that keep a rewritten sector's old content until
  // the new one is whole ("powersafe overwrite").
  bool pad_commits_to_page = true;
  // How many retired segment files (removed from the front by retention or
  // compaction) a writer keeps to reuse as new segments instead of
  // creating files: a journal that holds a steady window then writes into
  // blocks and pages it has already, which new files must first allocate,
  // clear and (under kCommit) convert from unwritten to written. A file is
  // reused only when nothing else has it open or mapped (a reader in
  // another process that still reads the old segment); its old bytes stay
  // in it until overwritten, and never read as new records (docs/format.md
  // "Recycled segments"). 0: remove retired files at once.
  std::size_t recycled_segments = 2;
  // Under Durability::kNone, map the segments the writer creates with
  // transparent huge pages (madvise MADV_HUGEPAGE; ignored where the kernel
  // has them off): the page cache holds them in 2 MiB pieces and the writer
  // takes a page fault per 2 MiB instead of one per 4 KiB (1.3-1.8x the
  // appends per second of small events where each fault is dear, as under
  // a hypervisor with shadow page tables; docs/performance.md, "Eighteenth
  // session"). The price is paid by sync(): it writes every dirty 2 MiB
  // piece whole, so a sync after a small commit writes up to 2 MiB (and up
  // to 4 MiB of zeros prefaulted just ahead of the writer). A kNone writer
  // that calls sync() often should turn it off; kCommit and kPeriodic never
  // use huge pages.
  bool huge_pages = true;
  // Interval of the background sync under Durability::kPeriodic. Positive
  // (kInvalidArgument otherwise).
  std::chrono::milliseconds sync_interval{100};
  // Permission bits of every file and directory the journal creates: at
  // most 0777 and at least owner read and write (0600; kInvalidArgument
  // otherwise). A file the journal replaces (JOURNAL, a rewritten segment)
  // keeps the owner and mode of the one it replaces.
  mode_t file_mode = 0600;
  // Where system calls go. Null means DefaultFileSystem().
  std::shared_ptr<FileSystem> file_system;
  // The schema, optional: topic -> the event types it may hold (an empty
  // list: any type); names must be valid topic and type names
  // (kInvalidArgument otherwise). When set, append() of another topic or type and a
  // cursor filter naming a topic or type that cannot appear are
  // kInvalidArgument, instead of a stream that silently stays empty.
  std::map<std::string, std::vector<std::string>> schema;
  // When the catalog holds consumer offsets, session keys or eventbox state
  // (which the journal cannot rebuild) and is missing, damaged, emptied
  // (data.mdb deleted or truncated), new or another journal's, open fails
  // with kCorruption naming it unless this is set; then such a catalog is
  // moved aside and a new one is built, starting those over (a read-only
  // open goes on without it).
  bool rebuild_catalog = false;
  // How often a cursor in another process polls for new commits when it
  // cannot be woken directly. Same-process cursors are woken at once.
  // Positive (kInvalidArgument otherwise).
  std::chrono::milliseconds poll_interval{1};
};

}  // namespace txj

#endif  // TXJOURNAL_OPTIONS_H_
