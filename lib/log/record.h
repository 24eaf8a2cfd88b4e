// Decoding and validation of one record in a mapped segment.
#ifndef TXJOURNAL_LIB_RECORD_H_
#define TXJOURNAL_LIB_RECORD_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "format.h"

namespace txj::internal {

// A validated record. Pointers refer to the mapping it was decoded from and
// live as long as that mapping.
struct RecordView {
  std::uint64_t lsn = 0;
  std::uint64_t checksum = 0;
  std::uint32_t length = 0;
  RecordType type = RecordType::kSegmentEnd;
  std::uint8_t flags = 0;
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
  std::string_view topic, type, payload;
  std::optional<std::string_view> key;
};
// REQUIRES: r.type == kEvent and r came from DecodeRecord (body validated).
EventFields DecodeEventBody(const RecordView& r);

template <typename T>
T ReadBody(const RecordView& r) {
  T t;
  __builtin_memcpy(&t, r.body, sizeof(T));
  return t;
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECORD_H_
