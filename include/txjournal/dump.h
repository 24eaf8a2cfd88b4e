// txjournal: the dump format, JSON lines, written from a journal and applied
// to one. What journal-dump prints and journal-load reads; other programs
// can export and import journals with it.
//
// One JSON object per line, each with an "op" (raw records, copies) or the
// fields of a committed event:
//
//   {"op":"begin"}                      opens a transaction, nested in the
//                                       innermost open one
//   {"op":"event","topic":T,"type":Y,"key":K,"data":D,"ts":N}
//   {"op":"commit"} / {"op":"rollback"} end the innermost open level
//   {"op":"gap","events":N,"last_txn_id":M}  offsets and transaction ids
//                                       kept taken (compaction, retention)
//
// Text fields that are not valid UTF-8 are written as NAME_b64 (base64) and
// read in either form. A copy (JsonlRecordWriter with copy = true: what
// `journal-dump --raw --format jsonl` writes without filters) starts with
// {"op":"journal","version":1,"segment_size":N}, carries the transaction
// ids, offsets, gaps, snapshots ("snapshot"), compaction marks ("compacted")
// and retention ("retention") of its source and ends with
// {"op":"end","next_offset":N}; JsonlLoader reproduces it faithfully in an
// empty journal or refuses it. The catalog (consumer offsets, session keys,
// eventbox state) is not part of a copy.
//
// Thread rules: the line functions are pure and may be called from any
// thread. A JsonlRecordWriter or a JsonlLoader is used by one thread at a
// time; a JsonlLoader writes through the journal's one top-level
// transaction, so nothing else may write to that journal while it loads.
#ifndef TXJOURNAL_DUMP_H_
#define TXJOURNAL_DUMP_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txjournal/event.h"
#include "txjournal/export.h"
#include "txjournal/inspect.h"
#include "txjournal/journal.h"
#include "txjournal/status.h"
#include "txjournal/walk.h"

namespace txj {

// ---------------------------------------------------------------- writing
// Every line is returned or handed on without its trailing newline. No
// errors: bytes that are not UTF-8 are written as NAME_b64.

// A committed event: {"offset":..,"txn":..,"topic":..,"type":..,"key":..,
// "data":..,"ts":..} (key only when the event has one).
TXJ_EXPORT std::string JsonlEventLine(const Event& event);

// One key of a rebuilt state: {"key":..,"data":..}.
TXJ_EXPORT std::string JsonlKeyValueLine(std::string_view key, std::string_view value);

// For people: valid UTF-8 as it is with control characters escaped (\t,
// \n, \r, \xNN) so that one value stays on one line; anything else as
// "base64:..." (the JSON lines are the exact form).
TXJ_EXPORT std::string PrintableText(std::string_view bytes);

// Base64 (RFC 4648, with padding), as NAME_b64 fields use it. Decode:
// nullopt for text that is not base64.
TXJ_EXPORT std::string Base64Encode(std::string_view bytes);
TXJ_EXPORT std::optional<std::string> Base64Decode(std::string_view text);

// The records of a walk (WalkJournal) as JSON lines, in the order:
// start(), record() for every record the walk visits, end_of_records(),
// then, for a copy of a sound journal, copy_trailer().
class TXJ_EXPORT JsonlRecordWriter {
 public:
  using LineSink = std::function<void(const std::string& line)>;
  // `copy`: write a copy (a header, the gaps, the trailer) that JsonlLoader
  // reproduces; false: the records only (filtered dumps). Lines go to
  // `sink`, which must stay callable while the writer lives.
  JsonlRecordWriter(bool copy, LineSink sink);
  ~JsonlRecordWriter();
  JsonlRecordWriter(const JsonlRecordWriter&) = delete;
  JsonlRecordWriter& operator=(const JsonlRecordWriter&) = delete;

  // The walk's on_start: a copy's header, and the gap that retention or
  // compaction left before the first record. Writes nothing when not a copy.
  void start(const WalkStart& start);
  // Every record of the walk, in order. `selected` false leaves it out of
  // the output (a filter) but still follows the transaction it belongs to.
  void record(const RawRecord& record, bool selected = true);
  // After the walk: a transaction left open at the tail is written as
  // rolled back ({"op":"rollback","recovered":true} per open level), as
  // the next writable open rolls it back.
  void end_of_records();
  // A copy's last lines: the sound snapshots, the compaction marks (as
  // ReadSnapshotDirectory gives them), the retention offset and the end
  // line with the report's next offset. Write it only when the walk and
  // the snapshots are sound: without it JsonlLoader refuses the copy as
  // incomplete.
  void copy_trailer(const WalkReport& report, const std::vector<SnapshotFile>& snapshots,
                    const std::map<std::string, std::uint64_t>& marks);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------- reading

// What the first line of an input says before a journal is opened for it:
// whether it is a copy's header, and the segment size of the source (only
// when it is a valid segment size). Any line, even one that is not JSON,
// is accepted: JsonlLoader::apply reports what is wrong with it.
struct JsonlHeader {
  bool copy = false;
  std::optional<std::uint64_t> segment_size;
};
TXJ_EXPORT JsonlHeader ParseJsonlHeader(std::string_view first_line);

// Valid segment sizes (Options::segment_size): multiples of 4096 in
// [kMinSegmentSize, kMaxSegmentSize].
inline constexpr std::uint64_t kMinSegmentSize = 64 * 1024;
inline constexpr std::uint64_t kMaxSegmentSize = 1ull << 40;

// What one applied line did at the top level.
struct JsonlApplied {
  enum class Kind { kNothing, kCommit, kGap };
  Kind kind = Kind::kNothing;
  std::uint64_t txn_id = 0;        // kCommit
  std::uint64_t first_offset = 0;  // kCommit, kGap: the first offset taken
  std::uint64_t count = 0;         // kCommit: events; kGap: offsets kept taken
  std::uint64_t lsn = 0;           // kCommit: just past the commit marker
  std::uint64_t last_txn_id = 0;   // kGap: transaction ids taken up to it
};
// journal-load's report of a commit or a gap: {"committed":..,
// "first_offset":..,"count":..,"lsn":..} or {"gap":true,"first_offset":..,
// "count":..,"last_txn_id":..}; empty for kNothing.
TXJ_EXPORT std::string JsonlAppliedLine(const JsonlApplied& applied);

// Applies JSON lines to a journal, one line at a time. Errors of every call
// name the line: "line N: what" (the field or op at fault), and end with
// " (open transaction rolled back)" when a transaction was open: after an
// error the open transaction is rolled back and the loader is done (every
// later call returns kInvalidState). Codes: kInvalidArgument when the input
// is at fault (malformed line, a copy that cannot be reproduced
// faithfully, values the journal refuses); any other code when the journal
// refused (its status is in the message).
class TXJ_EXPORT JsonlLoader {
 public:
  // `copy`: the input is a copy (ParseJsonlHeader of its first line): its
  // transaction ids, offsets and gaps are checked against the source's.
  // A copy loads only into a journal that never held anything: check with
  // ImportPositionOf (import.h) first.
  // REQUIRES: `journal` outlives the loader and has no transaction open.
  JsonlLoader(Journal& journal, bool copy);
  // Rolls back a transaction still open.
  ~JsonlLoader();
  JsonlLoader(const JsonlLoader&) = delete;
  JsonlLoader& operator=(const JsonlLoader&) = delete;

  // Applies one line (`line_number` counts from 1, for messages); blank
  // lines do nothing.
  Result<JsonlApplied> apply(std::string_view line, std::uint64_t line_number);
  // The input ended; `line_number` names the end (the number of lines read
  // plus one). kInvalidArgument when a transaction is still open or a copy
  // had no end line. Does not close the journal.
  Status finish(std::uint64_t line_number);
  // Ends the load with an error the caller found (a read error on the
  // input, ...): rolls back the open transaction; returns kInvalidArgument
  // "line N: why[ (open transaction rolled back)]".
  Status fail(std::uint64_t line_number, const std::string& why);
  // Top-level transaction open.
  bool in_transaction() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace txj

#endif  // TXJOURNAL_DUMP_H_
