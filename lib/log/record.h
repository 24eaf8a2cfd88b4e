// Decoding and validation of one record in a mapped segment.
#ifndef TXJOURNAL_LIB_RECORD_H_
#define TXJOURNAL_LIB_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "checksum.h"
#include "format.h"

namespace txj::internal {

// A validated record. Pointers refer to the mapping it was decoded from and
// live as long as that mapping.
struct RecordView {
  std::uint64_t lsn = 0;
  std::uint64_t checksum = 0;
  std::uint32_t length = 0;
  RecordType type = RecordType::kSegmentEnd;
  std::uint8_t flags = 0;   // the type's flags (kFlagFollowsGap stripped)
  bool follows_gap = false;  // kFlagFollowsGap was set
  std::uint16_t depth = 0;
  std::uint64_t txn_id = 0;
  std::uint32_t sub_id = 0;
  std::uint32_t epoch = 0;
  const std::uint8_t* body = nullptr;
  std::uint32_t body_length = 0;

  std::uint64_t next_lsn() const { return lsn + format::AlignUp(length); }
};

// Why bytes at a position are not a valid record.
enum class DecodeError {
  kNone,
  kZero,          // the header is all zero: space never written
  kTooShort,      // fewer than a header's bytes remain in the segment
  kBadLength,     // length below a header or past the segment end
  kBadType,       // checksum fine, but an unknown record type
  kBadChecksum,   // checksum does not match (torn, stale or damaged)
  kBadBody,       // checksum fine, but the body does not fit its type
  kStaleEpoch,    // valid, but from an older writer session than the record before it
};
std::string_view DecodeErrorName(DecodeError e);

// Decodes the record at `p`, which holds `avail` bytes up to the end of the
// segment, stored at `lsn` in a journal whose salt is `salt`. Reads nothing
// beyond p + avail.
DecodeError DecodeRecord(const std::uint8_t* p, std::uint64_t avail, std::uint64_t lsn,
                         std::uint64_t salt, RecordView* out);

struct EventFields {
  std::uint64_t timestamp_ns = 0;
  // Empty when the event names them by id (name_ref): NameTable finds them.
  std::string_view topic, type, payload;
  std::optional<std::string_view> key;
  bool name_ref = false;
  std::uint16_t name_id = 0;
};
// REQUIRES: r.type == kEvent and r came from DecodeRecord (body validated).
// An event that names its topic and type by id (format::kFlagNameRef)
// leaves them empty: NameTable::Resolve fills them in.
inline EventFields DecodeEventBody(const RecordView& r) {
  format::EventBody e;
  __builtin_memcpy(&e, r.body, sizeof e);
  const char* s = reinterpret_cast<const char*>(r.body) + sizeof e;
  EventFields f;
  f.timestamp_ns = e.timestamp_ns;
  if (r.flags & format::kFlagNameRef) {
    f.name_ref = true;
    f.name_id = format::NameRefId(e);
  } else {
    f.topic = std::string_view(s, e.topic_length);
    s += e.topic_length;
    f.type = std::string_view(s, e.type_length);
    s += e.type_length;
  }
  if (r.flags & format::kFlagHasKey) f.key = std::string_view(s, e.key_length);
  s += e.key_length;
  f.payload = std::string_view(s, e.payload_length);
  return f;
}

// DecodeRecord() for the commonest record, an event, inline: true exactly
// when DecodeRecord(p, avail, lsn, salt, ...) would return kNone for an
// event record; then *h and *b hold its header and the fixed part of its
// body (the names, key and payload follow b at p + kRecordHeaderSize +
// sizeof *b). False for anything else (another type, or any fault): the
// caller then decodes with DecodeRecord, which says what it is. The cheap
// checks come first, so a record of another type costs no checksum here.
// With `verify` false the checksum is not checked (everything else is): for
// a reader that checks the transaction hash over the record's bytes before
// it trusts anything in them (TxnChecker::hashed()).
template <bool verify = true>
inline bool DecodeEventInline(const std::uint8_t* p, std::uint64_t avail, std::uint64_t lsn, std::uint64_t salt,
                              format::RecordHeader* h, format::EventBody* b) {
  if (avail < format::kRecordHeaderSize + sizeof(format::EventBody)) return false;
  __builtin_memcpy(h, p, sizeof *h);
  if (h->type != static_cast<std::uint8_t>(RecordType::kEvent) ||
      (h->flags & ~(format::kFlagHasKey | format::kFlagNameRef)) != 0) {
    return false;
  }
  if (h->length < format::kRecordHeaderSize + sizeof(format::EventBody) || h->length > avail) return false;
  __builtin_memcpy(b, p + format::kRecordHeaderSize, sizeof *b);
  if (((h->flags & format::kFlagNameRef) == 0 && b->topic_length == 0) ||
      ((h->flags & format::kFlagHasKey) == 0 && b->key_length != 0)) {
    return false;
  }
  if (sizeof *b + std::uint64_t{format::InlineNamesLength(*b, h->flags)} + b->key_length + b->payload_length !=
      h->length - format::kRecordHeaderSize) {
    return false;
  }
  if constexpr (!verify) {
    (void)salt;
    (void)lsn;
    return true;
  } else {
    return RecordChecksum(p, h->length, salt, lsn) == h->checksum;
  }
}

// The commonest event of all, decoded from four words: an event of the top
// level (depth 0, sub-transaction 0) of transaction `txn`, written in
// session `epoch`, naming its topic and type by id, without a key (flags
// exactly kFlagNameRef). True exactly when DecodeEventInline<false>(p,
// avail, ...) would accept the record and its header holds those values;
// then *length, *timestamp_ns and *id are the record's (the payload is the
// length - 48 bytes at p + 48). False for anything else, which the caller
// decodes the general way. No checksum: for a reader that checks the
// transaction hash over the record's bytes before it trusts them.
inline bool DecodeTopRefEvent(const std::uint8_t* p, std::uint64_t avail, std::uint64_t txn, std::uint32_t epoch,
                              std::uint32_t* length, std::uint64_t* timestamp_ns, std::uint16_t* id) {
  constexpr std::uint64_t kFixed = format::kRecordHeaderSize + sizeof(format::EventBody);
  static_assert(kFixed == 48 && offsetof(format::RecordHeader, length) == 8 &&
                offsetof(format::RecordHeader, txn_id) == 16 && offsetof(format::RecordHeader, sub_id) == 24 &&
                offsetof(format::EventBody, payload_length) == 8 && offsetof(format::EventBody, key_length) == 12 &&
                offsetof(format::EventBody, topic_length) == 14);
  if (avail < kFixed) return false;
  std::uint64_t w1, w2, w3, b1;
  // The header's length, type, flags and depth; its transaction id; its
  // sub-transaction id and epoch; the body's payload length, key length and
  // names id.
  __builtin_memcpy(&w1, p + 8, 8);
  __builtin_memcpy(&w2, p + 16, 8);
  __builtin_memcpy(&w3, p + 24, 8);
  __builtin_memcpy(&b1, p + format::kRecordHeaderSize + 8, 8);
  constexpr std::uint64_t kTag =
      std::uint64_t{static_cast<std::uint8_t>(RecordType::kEvent)} | std::uint64_t{format::kFlagNameRef} << 8;
  const std::uint64_t len = static_cast<std::uint32_t>(w1);
  // The payload fills the record after the fixed part (key length 0): as
  // len >= 48 follows from it, len - 48 cannot wrap when it holds.
  if ((w1 >> 32) != kTag || w2 != txn || w3 != std::uint64_t{epoch} << 32 || len > avail ||
      (b1 & 0xffff'ffff'ffffull) + kFixed != len) {
    return false;
  }
  *length = static_cast<std::uint32_t>(len);
  __builtin_memcpy(timestamp_ns, p + format::kRecordHeaderSize, 8);
  *id = static_cast<std::uint16_t>(b1 >> 48);
  return true;
}

template <typename T>
T ReadBody(const RecordView& r) {
  T t;
  __builtin_memcpy(&t, r.body, sizeof(T));
  return t;
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECORD_H_
