// On-disk format constants and layouts. docs/format.md is the prose
// specification; this header is the single place the numbers live.
// Everything here reaches the disk: do not change existing values.
#ifndef TXJOURNAL_LIB_FORMAT_H_
#define TXJOURNAL_LIB_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "txjournal/record_type.h"

namespace txj::format {

// ---- Files of a journal directory ----
inline constexpr const char* kManifestName = "JOURNAL";
inline constexpr const char* kLockName = "LOCK";
inline constexpr const char* kHeadName = "HEAD";
inline constexpr const char* kCatalogDir = "catalog";
inline constexpr const char* kSegmentSuffix = ".seg";
inline constexpr const char* kTempSuffix = ".tmp";
// A segment file retention or compaction retired, kept to be reused as a
// new segment (Segment::Recycle): the old base LSN in 16 hex digits.
inline constexpr const char* kRetiredSuffix = ".free";
inline constexpr std::size_t kSegmentNameDigits = 16;  // hex base LSN

// ---- Manifest (JOURNAL): 128 bytes, written whole by rename ----
inline constexpr char kManifestMagic[8] = {'T', 'X', 'J', 'M', 'A', 'N', 'I', 'F'};
inline constexpr std::size_t kManifestSize = 128;
struct Manifest {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t reserved0;
  std::uint8_t journal_id[16];
  std::uint64_t segment_size;
  std::uint64_t epoch;         // incremented by every open for writing
  std::uint64_t created_ns;
  // Retention: where the journal starts after front segments were removed.
  std::uint64_t first_lsn;     // first record of the first segment
  std::uint64_t first_offset;  // offset of the first event at or after first_lsn
  std::uint64_t retention_offset;  // events below it were dropped by retention, whatever their topic
  std::uint64_t flags;             // kManifestCatalogHoldsSourceData, ...
  // Highest transaction id used before first_lsn (removed segments took
  // their ids with them; new ids must stay above it). 0 in journals that
  // never removed a segment.
  std::uint64_t last_txn_id_before;
  std::uint8_t reserved[24];
  std::uint64_t checksum;      // XXH3_64 of the bytes before it
};
static_assert(sizeof(Manifest) == kManifestSize);
// The catalog holds data that cannot be rebuilt from the journal (consumer
// offsets, session keys, eventbox state): a missing or damaged catalog is
// then an error, not something to rebuild silently.
inline constexpr std::uint64_t kManifestCatalogHoldsSourceData = 1;

// ---- Segment file ----
// [0, 4096): header page. Records start at byte 4096 of every segment.
inline constexpr char kSegmentMagic[8] = {'T', 'X', 'J', 'S', 'E', 'G', '\r', '\n'};
inline constexpr std::uint64_t kSegmentHeaderSize = 4096;
inline constexpr std::uint64_t kMinSegmentSize = 64 * 1024;
inline constexpr std::uint64_t kMaxSegmentSize = 1ull << 40;
struct SegmentHeader {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t header_size;    // kSegmentHeaderSize
  std::uint8_t journal_id[16];
  std::uint64_t base_lsn;       // LSN of byte 0 of this file; also its name
  std::uint64_t segment_size;   // file size in bytes
  std::uint64_t created_ns;
  std::uint64_t checksum;       // XXH3_64 of the bytes before it
};
static_assert(sizeof(SegmentHeader) == 64);

// Format 3: the header is followed by its flags, at byte 64 of the header
// page. The checksum covers the 64 header bytes and `flags`, so a header of
// one life of a file never verifies with the flags of another.
inline constexpr std::uint64_t kSegmentFlagsOffset = 64;
struct SegmentFlagsSlot {
  std::uint64_t flags;     // kSegmentRecycled, ...
  std::uint64_t checksum;  // XXH3_64 of the segment header and `flags`
};
static_assert(sizeof(SegmentFlagsSlot) == 16);
// The file held an earlier segment of this journal (retention retired it)
// and was given a new base without being cleared: the bytes after the
// records are that segment's old contents, not zeros (docs/format.md
// "Recycled segments").
inline constexpr std::uint64_t kSegmentRecycled = 1;
inline constexpr std::uint64_t kKnownSegmentFlags = kSegmentRecycled;
// The first format whose segment headers carry SegmentFlagsSlot.
inline constexpr std::uint32_t kFirstFormatWithSegmentFlags = 3;

// The durable watermark: every byte of this segment below `lsn` was on stable
// storage before this slot was written. Damage below it cannot come from a
// crash. `lsn` equal to the segment end means the segment is sealed.
inline constexpr std::uint64_t kWatermarkOffset = 512;
struct WatermarkSlot {
  std::uint64_t lsn;
  std::uint64_t epoch;
  std::uint64_t checksum;  // XXH3_64 of lsn and epoch, seeded with the segment salt
};
static_assert(sizeof(WatermarkSlot) == 24);

// ---- Records ----
// record := header body padding ; padding makes the next record 8-aligned.
inline constexpr std::uint32_t kRecordAlign = 8;
inline constexpr std::uint32_t kRecordHeaderSize = 32;
struct RecordHeader {
  std::uint64_t checksum;  // XXH3_64(bytes [8, length)), seed = RecordSeed(salt, lsn)
  std::uint32_t length;    // header + body, without padding
  std::uint8_t type;       // RecordType
  std::uint8_t flags;      // kFlagHasKey for events; 0 otherwise
  std::uint16_t depth;     // nesting depth: 0 top level, 1 first sub level, ...
  std::uint64_t txn_id;    // top-level transaction id; 0 for kSegmentEnd
  std::uint32_t sub_id;    // sub-transaction id inside txn_id; 0 = the top level
  std::uint32_t epoch;     // writer session; never decreases along the log
};
static_assert(sizeof(RecordHeader) == kRecordHeaderSize);

inline constexpr std::uint8_t kFlagHasKey = 1;
// On a commit marker: the transaction was rewritten by compaction; its
// record_count and running_hash cover the records as they are now.
inline constexpr std::uint8_t kFlagRewritten = 2;
// Format 2, on any record that starts on a page boundary: the space from the
// end of the record before it to this boundary may be a gap, never written
// (the writer skipped the rest of a page an earlier sync had made durable).
// Readers strip it before the type's own flag checks (docs/format.md "Gaps").
inline constexpr std::uint8_t kFlagFollowsGap = 0x80;
// Format 4, on a begin marker: the transaction's commit marker carries in
// `running_hash` the transaction hash (TxnHash: XXH3-64 of the
// transaction's record bytes, docs/format.md "Transaction hash") instead
// of the running hash over the records' checksums.
inline constexpr std::uint8_t kFlagHashedTxn = 4;
// The first format whose writers set kFlagHashedTxn.
inline constexpr std::uint32_t kFirstFormatWithTxnHash = 4;
inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t PageDown(std::uint64_t lsn) { return lsn & ~(kPageSize - 1); }
inline constexpr std::uint64_t PageUp(std::uint64_t lsn) { return PageDown(lsn + kPageSize - 1); }
// The oldest format this build reads (format 1 journals are format 2 ones
// that never hold a gap; a writer's open upgrades their manifest).
inline constexpr std::uint32_t kOldestFormatVersion = 1;

struct BeginBody { std::uint64_t timestamp_ns; };
struct SubBeginBody { std::uint32_t parent_sub_id; std::uint32_t reserved; };
struct EventBody {
  std::uint64_t timestamp_ns;
  std::uint32_t payload_length;
  std::uint16_t key_length;
  std::uint8_t topic_length;
  std::uint8_t type_length;
  // followed by topic, type, key, payload bytes
};
// Format 5: names records and events that name their topic and type by id
// (docs/format.md "Names"). A names record binds `id` to a topic and type
// pair for the events after it in the same segment written by the same
// writer session (epoch): a reader that meets an event with kFlagNameRef
// finds the pair in the last names record before it, in its segment, with
// its epoch and id. It stands in a transaction like an event of the same
// level (counted in the commit marker's record count and hash) but holds
// whatever becomes of its transaction: a later event may name it after a
// rollback.
struct NamesBody {
  std::uint16_t id;
  std::uint8_t topic_length;  // at least 1
  std::uint8_t type_length;
  std::uint32_t reserved;  // 0
  // followed by topic, type bytes
};
static_assert(sizeof(NamesBody) == 8);
// On an event: its topic and type are the pair a names record bound to the
// id stored in the body's topic_length (low byte) and type_length (high
// byte); no names follow the body.
inline constexpr std::uint8_t kFlagNameRef = 8;
inline constexpr std::uint32_t kFirstFormatWithNames = 5;
// Ids per segment and writer session: past them a writer stores names inline.
inline constexpr std::uint32_t kMaxNameIds = 1u << 16;
inline constexpr std::uint16_t NameRefId(const EventBody& b) {
  return static_cast<std::uint16_t>(b.topic_length | (std::uint16_t{b.type_length} << 8));
}
// The names' bytes stored in an event record with this body and flags.
inline constexpr std::uint32_t InlineNamesLength(const EventBody& b, std::uint8_t flags) {
  return (flags & kFlagNameRef) != 0 ? 0 : std::uint32_t{b.topic_length} + b.type_length;
}

struct SubCommitBody { std::uint64_t event_count; };  // events handed to the parent
struct SubRollbackBody { std::uint64_t discarded_count; };
struct CommitBody {
  std::uint64_t first_offset;
  std::uint64_t event_count;
  std::uint64_t record_count;  // records from the begin marker to this one, excluded
  std::uint64_t running_hash;  // RunningHash over those records' checksums, or the TxnHash (kFlagHashedTxn)
  std::uint64_t begin_lsn;
  std::uint64_t timestamp_ns;
};
struct RollbackBody { std::uint64_t record_count; std::uint64_t begin_lsn; };
// A padding record replaces records removed by compaction. Its checksum
// covers only the header and this body; the bytes after them, up to
// `length`, are unspecified (usually a hole in the file).
struct PaddingBody {
  std::uint64_t skipped_events;  // committed events it stands for (their offsets stay taken)
  // Top level: the highest transaction id it stands for (compaction removed
  // those transactions; their ids stay taken). 0 for none, and inside a
  // transaction.
  std::uint64_t last_txn_id;
};
inline constexpr std::uint32_t kPaddingCheckedSize = kRecordHeaderSize + 16;
static_assert(sizeof(EventBody) == 16 && sizeof(CommitBody) == 48 && sizeof(RollbackBody) == 16);

// The commit marker's running hash: h0 = kRunningHashInit, then for each
// record r of the transaction in order: h = (rotl(h, 23) ^ r.checksum) * kRunningHashMul.
inline constexpr std::uint64_t kRunningHashInit = 0x6a09e667f3bcc908ull;
inline constexpr std::uint64_t kRunningHashMul = 0x9e3779b97f4a7c15ull;
inline constexpr std::uint64_t RunningHashStep(std::uint64_t h, std::uint64_t checksum) {
  return (((h << 23) | (h >> 41)) ^ checksum) * kRunningHashMul;
}

// Seed of a record's checksum: binds the record to its journal (salt is
// XXH3_64 of the journal id) and to its position (lsn).
inline constexpr std::uint64_t RecordSeed(std::uint64_t salt, std::uint64_t lsn) {
  return salt ^ (lsn * 0xc2b2ae3d27d4eb4full);
}

inline constexpr std::uint64_t AlignUp(std::uint64_t n) {
  return (n + kRecordAlign - 1) & ~std::uint64_t{kRecordAlign - 1};
}
}  // namespace txj::format

#endif  // TXJOURNAL_LIB_FORMAT_H_
