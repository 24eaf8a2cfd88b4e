// txjournal: the kinds of records in a journal (see docs/format.md).
//
// Thread rules: plain values, no shared state: any thread; a value is
// written by one thread at a time, as any C++ value. Nothing here fails.
#ifndef TXJOURNAL_RECORD_TYPE_H_
#define TXJOURNAL_RECORD_TYPE_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <string_view>

namespace txj {

// Stored on disk: do not change the values of existing entries.
enum class RecordType : std::uint8_t {
  kBegin = 1,        // a top-level transaction opens
  kSubBegin = 2,     // a sub-transaction opens inside the innermost open one
  kEvent = 3,        // one event of the innermost open (sub-)transaction
  kSubCommit = 4,    // the innermost sub-transaction hands its events to its parent
  kSubRollback = 5,  // the innermost sub-transaction and its descendants are discarded
  kCommit = 6,       // the top-level transaction commits; covers all its records
  kRollback = 7,     // the top-level transaction is discarded
  kSegmentEnd = 8,   // nothing more in this segment; continue in the next one
  kPadding = 9,      // compacted-away records; stands for a number of committed events
  kNames = 10,       // format 5: binds a small id to a topic and type name for the events after it
};

inline std::string_view RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kBegin: return "begin";
    case RecordType::kSubBegin: return "sub_begin";
    case RecordType::kEvent: return "event";
    case RecordType::kSubCommit: return "sub_commit";
    case RecordType::kSubRollback: return "sub_rollback";
    case RecordType::kCommit: return "commit";
    case RecordType::kRollback: return "rollback";
    case RecordType::kSegmentEnd: return "segment_end";
    case RecordType::kPadding: return "padding";
    case RecordType::kNames: return "names";
  }
  return "unknown";
}

}  // namespace txj

#endif  // TXJOURNAL_RECORD_TYPE_H_
