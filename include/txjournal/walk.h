// txjournal: walking every record of a journal, for tools and debugging.
//
// WalkJournal reads a journal directory without a lock and without changing
// anything (it may be open for writing by another process), calls `visit`
// for every valid record with its markers, checks every record and the
// transaction structure, and says how the journal ends: cleanly, with what a
// crash leaves (a torn record or an open transaction at the tail, which the
// next writable open repairs), or damaged (what, where).
#ifndef TXJOURNAL_WALK_H_
#define TXJOURNAL_WALK_H_

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
  // event
  std::string_view topic, type_name, payload;
  std::optional<std::string_view> key;
  std::uint64_t timestamp_ns = 0;  // event, begin, commit
  // commit: first_offset and count; sub_commit/sub_rollback: count;
  // padding: count = events it stands for
  std::uint64_t first_offset = 0;
  std::uint64_t count = 0;
  bool rewritten = false;  // commit rewritten by compaction
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
  std::uint64_t events = 0;           // committed events
  std::map<std::string, std::uint64_t> events_per_topic;  // committed events per topic
  std::uint64_t end_lsn = 0;          // first byte after the last valid record
  // What a crash left at the tail (not damage): empty when the end is clean.
  std::vector<std::string> tail;
  // Damage a crash cannot explain. Empty for a sound journal.
  std::vector<Problem> problems;
  bool damaged() const { return !problems.empty(); }
};

// Errors (the journal cannot be read at all): kNotFound (no journal there),
// kNotSupported (format version), kIOError. Damage is reported in the
// report, not as an error.
TXJ_EXPORT Result<WalkReport> WalkJournal(const std::string& dir,
                                          const std::function<void(const RawRecord&)>& visit = {});

}  // namespace txj

#endif  // TXJOURNAL_WALK_H_
