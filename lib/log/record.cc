#include "record.h"

#include <cstring>

#include "checksum.h"

namespace txj::internal {

std::string_view DecodeErrorName(DecodeError e) {
  switch (e) {
    case DecodeError::kNone: return "valid";
    case DecodeError::kZero: return "unwritten (zero) space";
    case DecodeError::kTooShort: return "too few bytes for a record header";
    case DecodeError::kBadLength: return "record length out of range";
    case DecodeError::kBadType: return "unknown record type";
    case DecodeError::kBadChecksum: return "checksum mismatch";
    case DecodeError::kBadBody: return "record body does not fit its type";
    case DecodeError::kStaleEpoch: return "stale record from an earlier writer session";
  }
  return "unknown";
}

namespace {

bool BodyFits(RecordType type, std::uint8_t flags, const std::uint8_t* body, std::uint32_t n) {
  switch (type) {
    case RecordType::kBegin: return n == sizeof(format::BeginBody);
    case RecordType::kSubBegin: return n == sizeof(format::SubBeginBody);
    case RecordType::kSubCommit: return n == sizeof(format::SubCommitBody);
    case RecordType::kSubRollback: return n == sizeof(format::SubRollbackBody);
    case RecordType::kCommit: return n == sizeof(format::CommitBody);
    case RecordType::kRollback: return n == sizeof(format::RollbackBody);
    case RecordType::kSegmentEnd: return n == 0;
    case RecordType::kPadding: return n >= sizeof(format::PaddingBody);
    case RecordType::kEvent: {
      if (n < sizeof(format::EventBody)) return false;
      format::EventBody e;
      std::memcpy(&e, body, sizeof e);
      if ((flags & format::kFlagHasKey) == 0 && e.key_length != 0) return false;
      if ((flags & ~(format::kFlagHasKey | format::kFlagNameRef)) != 0) return false;
      if ((flags & format::kFlagNameRef) == 0 && e.topic_length == 0) return false;
      std::uint64_t want =
          sizeof e + std::uint64_t{format::InlineNamesLength(e, flags)} + e.key_length + e.payload_length;
      return want == n;
    }
    case RecordType::kNames: {
      if (n < sizeof(format::NamesBody)) return false;
      format::NamesBody b;
      std::memcpy(&b, body, sizeof b);
      return b.topic_length != 0 && b.reserved == 0 && n == sizeof b + std::uint64_t{b.topic_length} + b.type_length;
    }
  }
  return false;
}

bool KnownType(std::uint8_t t) { return t >= 1 && t <= 10; }

}  // namespace

DecodeError DecodeRecord(const std::uint8_t* p, std::uint64_t avail, std::uint64_t lsn,
                         std::uint64_t salt, RecordView* out) {
  if (avail < format::kRecordHeaderSize) return DecodeError::kTooShort;
  format::RecordHeader h;
  std::memcpy(&h, p, sizeof h);
  if (h.checksum == 0 && h.length == 0 && h.type == 0) {
    static const std::uint8_t zero[format::kRecordHeaderSize] = {};
    if (std::memcmp(p, zero, sizeof zero) == 0) return DecodeError::kZero;
  }
  if (h.length < format::kRecordHeaderSize || h.length > avail) return DecodeError::kBadLength;
  if (!KnownType(h.type)) {
    // Only a record that verifies is one of an unknown type; anything else
    // is torn or garbage bytes.
    return RecordChecksum(p, h.length, salt, lsn) == h.checksum ? DecodeError::kBadType : DecodeError::kBadChecksum;
  }
  const bool follows_gap = (h.flags & format::kFlagFollowsGap) != 0;
  h.flags &= static_cast<std::uint8_t>(~format::kFlagFollowsGap);
  auto type = static_cast<RecordType>(h.type);
  const bool padding = type == RecordType::kPadding;
  if (padding && h.length < format::kPaddingCheckedSize) return DecodeError::kBadLength;
  const std::uint32_t checked = padding ? format::kPaddingCheckedSize : h.length;
  if (RecordChecksum(p, checked, salt, lsn) != h.checksum) return DecodeError::kBadChecksum;
  if (follows_gap && lsn % format::kPageSize != 0) return DecodeError::kBadBody;  // only a page's first record may
  const std::uint8_t* body = p + format::kRecordHeaderSize;
  std::uint32_t body_len = h.length - format::kRecordHeaderSize;
  if (!BodyFits(type, h.flags, body, body_len)) return DecodeError::kBadBody;
  if (type == RecordType::kCommit) {
    if ((h.flags & ~format::kFlagRewritten) != 0) return DecodeError::kBadBody;
  } else if (type == RecordType::kBegin) {
    if ((h.flags & ~format::kFlagHashedTxn) != 0) return DecodeError::kBadBody;
  } else if (type != RecordType::kEvent && h.flags != 0) {
    return DecodeError::kBadBody;
  }
  out->lsn = lsn;
  out->checksum = h.checksum;
  out->length = h.length;
  out->type = type;
  out->flags = h.flags;
  out->follows_gap = follows_gap;
  out->depth = h.depth;
  out->txn_id = h.txn_id;
  out->sub_id = h.sub_id;
  out->epoch = h.epoch;
  out->body = body;
  out->body_length = body_len;
  return DecodeError::kNone;
}

}  // namespace txj::internal
