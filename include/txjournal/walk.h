// txjournal: walking every record of a journal, for tools and debugging.
//
// WalkJournal reads a journal directory without a lock and without changing
// anything (it may be open for writing by another process), calls `visit`
// for every valid record with its markers, checks every record (checksums),
// the transaction structure (marker grammar, commit markers covering their
// records), the segment files (headers, sizes, continuity) and says how the
// journal ends: cleanly, with what a crash leaves (a torn record or an open
// transaction at the tail, which the next writable open repairs), or damaged
// (what, where). It judges the tail as a writable open would (the same
// scan), without repairing. It never reads outside the files it mapped,
// whatever they hold.
//
// A journal being written: the walk reads what is there when it gets there
// and stops at the first position that is not (yet) a complete record; that
// position is damage only if the writer had already synced past it.
//
// Thread rules: WalkJournal may run on any thread, any number at once,
// beside a thread or process writing the journal; `visit` and `on_start`
// are called on the calling thread.
#ifndef TXJOURNAL_WALK_H_
#define TXJOURNAL_WALK_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txjournal/export.h"
#include "txjournal/record_type.h"
#include "txjournal/status.h"

namespace txj {

// One record. Views point into the mapping and live during the visit call.
struct RawRecord {
  std::uint64_t lsn = 0;
  std::string_view segment;      // file path
  std::uint64_t file_offset = 0;
  RecordType type = RecordType::kSegmentEnd;
  std::uint32_t length = 0;
  std::uint16_t depth = 0;
  std::uint64_t txn_id = 0;
  std::uint32_t sub_id = 0;
  std::uint32_t parent_sub_id = 0;  // sub_begin
  std::uint32_t epoch = 0;
  // event; names (format 5): the topic and type it binds to name_id
  std::string_view topic, type_name, payload;
  std::optional<std::string_view> key;
  // names: the id it binds; event with name_ref: the id its topic and type
  // are named by (topic and type_name hold the names found for it)
  std::uint16_t name_id = 0;
  bool name_ref = false;
  std::uint64_t timestamp_ns = 0;  // event, begin, commit
  // commit: first_offset and count; sub_commit/sub_rollback: count;
  // padding: count = events it stands for
  std::uint64_t first_offset = 0;
  std::uint64_t count = 0;
  // padding at the top level: the highest transaction id it stands for
  // (transactions removed by compaction; their ids stay taken), 0 for none
  std::uint64_t last_txn_id = 0;
  // commit, rollback: records of the transaction before this marker
  std::uint64_t record_count = 0;
  bool rewritten = false;  // commit rewritten by compaction
};

// Where the journal starts, from its manifest, before the first record:
// what retention and compaction removed from its front.
struct WalkStart {
  std::uint64_t segment_size = 0;
  std::uint64_t first_offset = 0;        // offset of the first event at or after the first record
  std::uint64_t last_txn_id_before = 0;  // highest transaction id used before the first record
  std::uint64_t retention_offset = 0;    // events below it were dropped by retention
  // The catalog holds data the journal cannot rebuild (consumer offsets,
  // session keys, eventbox state).
  bool catalog_holds_source_data = false;
};

struct WalkReport {
  struct Problem {
    std::string file;
    std::uint64_t file_offset = 0;
    std::uint64_t lsn = 0;
    std::string message;
  };
  std::uint64_t segments = 0;
  std::uint64_t bytes = 0;            // of segment files
  std::uint64_t records = 0;
  std::uint64_t committed_txns = 0;
  std::uint64_t rolled_back_txns = 0;
  std::uint64_t events = 0;           // committed events stored (= sum of events_per_topic)
  std::map<std::string, std::uint64_t> events_per_topic;  // committed events per topic
  // Offset the next committed event gets: counts events compacted away too.
  std::uint64_t next_offset = 0;
  std::uint64_t end_lsn = 0;          // first byte after the last valid record
  WalkStart start;                    // from the manifest (zero when it could not be read)
  bool writer_active = false;         // another process had it open for writing
  // What a crash left at the tail, or where a live writer is appending (not
  // damage): empty when the end is clean.
  std::vector<std::string> tail;
  // Damage a crash cannot explain, each with the segment file (or JOURNAL)
  // and the byte in it. Empty for a sound journal. The walk stops at the
  // first damage in the log; every bad segment file is listed.
  std::vector<Problem> problems;
  bool damaged() const { return !problems.empty(); }
};

// Errors (the journal cannot be read at all): kNotFound (no journal there:
// no directory, or no JOURNAL manifest and no segment file), kNotSupported
// (format version), kIOError (permissions, ...). Damage, including a
// missing or garbage manifest beside segment files, is reported in the
// report, not as an error. `visit` sees each record once, in log order, up
// to the end or the first damage.
// `on_start`, when given, is called once with the manifest's start before
// the first record is visited (not called when the manifest is unreadable).
TXJ_EXPORT Result<WalkReport> WalkJournal(const std::string& dir,
                                          const std::function<void(const RawRecord&)>& visit = {},
                                          const std::function<void(const WalkStart&)>& on_start = {});

}  // namespace txj

#endif  // TXJOURNAL_WALK_H_
