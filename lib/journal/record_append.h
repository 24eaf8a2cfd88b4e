// The writer's per-record steps, inline: JournalState::StartRecord,
// FinishRecord and AppendEvent, which Transaction::append takes inline on
// the per-event path (transaction.cc) and Append shares (writer.cc).
// Include only from those two files (the definitions are inline members of
// JournalState).
#ifndef TXJOURNAL_LIB_RECORD_APPEND_H_
#define TXJOURNAL_LIB_RECORD_APPEND_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "checksum.h"
#include "journal_state.h"

namespace txj::internal {

namespace record_append {

// Writes a record header (checksum 0) at `p` as four 8-byte words built in
// registers. Building a format::RecordHeader on the stack and copying it
// stored its byte and 16-bit fields one by one and read them back 16 bytes
// at a time: two store-forwarding stalls per record, a third of Append's
// time in perf.
inline void StoreHeader(std::uint8_t* p, std::uint32_t len, RecordType type, std::uint8_t flags, std::uint16_t depth,
                        std::uint64_t txn_id, std::uint32_t sub_id, std::uint32_t epoch) {
  static_assert(std::endian::native == std::endian::little, "the record header is little-endian");
  static_assert(offsetof(format::RecordHeader, length) == 8 && offsetof(format::RecordHeader, type) == 12 &&
                offsetof(format::RecordHeader, flags) == 13 && offsetof(format::RecordHeader, depth) == 14 &&
                offsetof(format::RecordHeader, txn_id) == 16 && offsetof(format::RecordHeader, sub_id) == 24 &&
                offsetof(format::RecordHeader, epoch) == 28 && sizeof(format::RecordHeader) == 32);
  const std::uint64_t zero = 0;
  const std::uint64_t w1 = len | std::uint64_t{static_cast<std::uint8_t>(type)} << 32 | std::uint64_t{flags} << 40 |
                           std::uint64_t{depth} << 48;
  const std::uint64_t w3 = sub_id | std::uint64_t{epoch} << 32;
  std::memcpy(p, &zero, 8);
  std::memcpy(p + 8, &w1, 8);
  std::memcpy(p + 16, &txn_id, 8);
  std::memcpy(p + 24, &w3, 8);
}

}  // namespace record_append

inline std::uint8_t* JournalState::WriteAt(std::uint64_t size) {
  if (!staging) return active->at(pos);
  if (pos - stage_lsn + size > stage.size()) {
    const std::uint8_t* old = stage.data();
    const std::size_t old_size = stage.size();
    stage.resize(pos - stage_lsn + size);
    if (txn_hash) txn_hash->Rebase(old, old_size, stage.data());
  }
  return stage.data() + (pos - stage_lsn);
}

// Where a record of `len` bytes (header included) goes: checks the journal
// is usable and the record fits, rolls to the next segment, moves a large
// transaction to the stage or makes room in the mapping as needed, writes
// the header (checksum 0) and the alignment's zeros. *p: the record's
// first byte; *size: its aligned size.
[[gnu::always_inline]] inline Status JournalState::StartRecord(RecordType type, std::uint8_t flags, std::uint16_t depth,
                                                               std::uint64_t txn_id, std::uint32_t sub_id,
                                                               std::uint64_t len, bool use_reserve, std::uint8_t** p,
                                                               std::uint64_t* size) {
  if (has_failed.load(std::memory_order_acquire)) [[unlikely]]
    return CheckUsable();
  if (len > max_record_size()) [[unlikely]]
    return RecordTooLarge(len);
  *size = format::AlignUp(len);
  // The reserve holds the end markers; they still fit after the stage moved
  // past a gap, as the room for that move is kept too.
  // A top-level transaction begins in the next segment when this one is
  // nearly full, so that small transactions never span two segments: a
  // segment that ends inside a transaction can be neither rewritten without
  // it nor removed by retention (docs/format.md, "Rolling").
  const std::uint64_t room = type == RecordType::kBegin ? BeginRoom() : 0;
  if (pos + *size + room + (use_reserve ? kSegmentEndSize : kTailReserve + gap_reserve()) > active->end())
      [[unlikely]] {
    TXJ_RETURN_IF_ERROR(Roll());
  }
  // A large transaction goes on in the stage (txn_begin_lsn is set before
  // its begin marker is written: only events count).
  if (type == RecordType::kEvent && !staging && txn_begin_lsn != nullptr && pos - *txn_begin_lsn >= kSpillBytes)
      [[unlikely]] {
    StartStaging();
  }
  if (staging) {
    if (pos - stage_lsn + *size > stage.size()) [[unlikely]]
      TXJ_RETURN_IF_ERROR(Flush());
  } else if (pos + *size > ready_end) [[unlikely]] {
    TXJ_RETURN_IF_ERROR(MakeRoom(pos + *size));
  }
  *p = WriteAt(*size);  // grows the stage for a record larger than it
  if (*size != len) {
    // The alignment bytes are part of the transaction hash: zeros, never
    // what the stage or a recycled file held there.
    const std::uint64_t zero = 0;
    std::memcpy(*p + *size - 8, &zero, 8);
  }
  record_append::StoreHeader(*p, static_cast<std::uint32_t>(len), type, flags, depth, txn_id, sub_id, epoch);
  return Status::OK();
}

// Ends the record StartRecord began at `p` once its bytes are in: its
// checksum, the transaction hash, the position.
[[gnu::always_inline]] inline void JournalState::FinishRecord(std::uint8_t* p, RecordType type, std::uint64_t len,
                                                              std::uint64_t size, std::uint64_t* lsn,
                                                              std::uint64_t* checksum) {
  const std::uint64_t c = RecordChecksum(p, static_cast<std::uint32_t>(len), salt, pos);
  std::memcpy(p, &c, sizeof c);
  if (txn_hash && type != RecordType::kCommit && type != RecordType::kRollback) {
    txn_hash->Add(p, size);
    // Through the mapping nothing written moves again: hash a large
    // transaction's bytes while they are still in the cache, not all at
    // its commit. (The stage's may still move past a gap: Flush.)
    if (!staging && txn_hash->pending() >= kTxnHashStep) [[unlikely]]
      txn_hash->Settle();
  }
  *lsn = pos;
  *checksum = c;
  last_record_lsn = pos;
  last_record_checksum = c;
  pos += size;
}

// Leaves the record StartRecord began open for the caller to fill (a
// claim): no checksum yet, FinishClaimed ends it.
inline void JournalState::LeaveRecordOpen(std::uint64_t size, std::uint64_t* lsn, std::uint64_t* checksum) {
  *lsn = pos;
  *checksum = 0;
  last_record_lsn = pos;
  pos += size;
}

namespace record_append {

// Copies a topic's or type's name (at most 255 bytes, usually a few): two
// overlapping loads and stores instead of a call to memcpy.
[[gnu::always_inline]] inline std::uint8_t* CopyName(std::uint8_t* d, std::string_view s) {
  const std::size_t n = s.size();
  const char* src = s.data();
  if (n >= 8) {
    if (n > 16) {
      std::memcpy(d, src, n);
    } else {
      std::uint64_t a, b;
      std::memcpy(&a, src, 8);
      std::memcpy(&b, src + n - 8, 8);
      std::memcpy(d, &a, 8);
      std::memcpy(d + n - 8, &b, 8);
    }
  } else if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {
    d[0] = static_cast<std::uint8_t>(src[0]);
    d[n / 2] = static_cast<std::uint8_t>(src[n / 2]);
    d[n - 1] = static_cast<std::uint8_t>(src[n - 1]);
  }
  return d + n;
}

// The names record binding `id` to topic and type at `p` (`size` bytes,
// aligned), its checksum not yet computed.
inline void StoreNames(std::uint8_t* p, std::uint64_t len, std::uint64_t size, std::uint16_t depth,
                       std::uint64_t txn_id, std::uint32_t sub_id, std::uint32_t epoch, std::uint16_t id,
                       std::string_view topic, std::string_view type) {
  const std::uint64_t zero = 0;
  std::memcpy(p + size - 8, &zero, 8);  // the alignment's zeros (hashed)
  StoreHeader(p, static_cast<std::uint32_t>(len), RecordType::kNames, 0, depth, txn_id, sub_id, epoch);
  static_assert(sizeof(format::NamesBody) == 8 && offsetof(format::NamesBody, topic_length) == 2 &&
                offsetof(format::NamesBody, type_length) == 3);
  const std::uint64_t body = id | std::uint64_t{topic.size()} << 16 | std::uint64_t{type.size()} << 24;
  std::uint8_t* q = p + format::kRecordHeaderSize;
  std::memcpy(q, &body, 8);
  CopyName(CopyName(q + 8, topic), type);
}

}  // namespace record_append

[[gnu::always_inline]] inline Status JournalState::AppendEvent(
    std::uint8_t flags, std::uint16_t depth, std::uint64_t txn_id, std::uint32_t sub_id, std::uint64_t timestamp_ns,
    std::string_view topic, std::string_view type, std::string_view key, const void* payload,
    std::uint64_t payload_size, ValidatedNames::Slot* slot, std::uint8_t** fill, std::uint64_t* lsn,
    std::uint64_t* checksum, std::uint32_t* records) {
  // The pair by its id in the active segment (format 5), when it is bound
  // there already and the event fits in the segment (StartRecord will not
  // roll); else PlanNames decides (a names record first, or the names
  // inline).
  NamePlan plan;
  plan.names = topic.size() + type.size();
  if (slot != nullptr) [[likely]] {
    const std::uint64_t ref_size =
        format::AlignUp(format::kRecordHeaderSize + sizeof(format::EventBody) + key.size() + payload_size);
    if (slot->segment == active->base() && pos + ref_size + kTailReserve + gap_reserve() <= active->end()) [[likely]] {
      plan.id = slot->id;
      plan.names = 0;
    } else {
      TXJ_RETURN_IF_ERROR(PlanNames(topic.size() + type.size(), ref_size, &plan));
    }
  }
  const std::uint64_t len =
      format::kRecordHeaderSize + sizeof(format::EventBody) + plan.names + key.size() + payload_size;
  if (plan.names == 0) flags |= format::kFlagNameRef;
  std::uint8_t* p = nullptr;
  std::uint64_t size = 0;
  // With the names by id the room was checked above: StartRecord does not
  // roll (the pair's id is bound in the segment the event goes to).
  TXJ_RETURN_IF_ERROR(
      StartRecord(RecordType::kEvent, flags, depth, txn_id, sub_id, plan.names_size + len, false, &p, &size));
  *records = 1;
  if (plan.names_size != 0) [[unlikely]] {
    record_append::StoreNames(p, plan.names_len, plan.names_size, depth, txn_id, sub_id, epoch, plan.id, topic, type);
    std::uint64_t names_lsn, names_sum;
    FinishRecord(p, RecordType::kNames, plan.names_len, plan.names_size, &names_lsn, &names_sum);
    // Before any event naming it can be read: this process's readers then
    // never read the segment back for this session's names.
    active->names().AddWritten(static_cast<std::uint32_t>(epoch), plan.id, topic, type, names_lsn);
    ++next_name_id;
    slot->segment = active->base();
    slot->id = plan.id;
    p += plan.names_size;
    size -= plan.names_size;
    *records = 2;
    // StartRecord wrote the event's header where the names record is now.
    record_append::StoreHeader(p, static_cast<std::uint32_t>(len), RecordType::kEvent, flags, depth, txn_id, sub_id,
                               epoch);
  }
  const std::uint64_t names = plan.names;
  const std::uint16_t id = plan.id;
  // The body as two words built in registers (as StoreHeader: a
  // format::EventBody built on the stack was stored field by field and read
  // back whole).
  static_assert(offsetof(format::EventBody, payload_length) == 8 && offsetof(format::EventBody, key_length) == 12 &&
                offsetof(format::EventBody, topic_length) == 14 && offsetof(format::EventBody, type_length) == 15 &&
                sizeof(format::EventBody) == 16);
  const std::uint64_t lengths =
      payload_size | std::uint64_t{key.size()} << 32 |
      (names == 0 ? std::uint64_t{id} << 48 : (std::uint64_t{topic.size()} << 48 | std::uint64_t{type.size()} << 56));
  std::uint8_t* q = p + format::kRecordHeaderSize;
  std::memcpy(q, &timestamp_ns, 8);
  std::memcpy(q + 8, &lengths, 8);
  q += sizeof(format::EventBody);
  if (names != 0) [[unlikely]] {
    q = record_append::CopyName(q, topic);
    q = record_append::CopyName(q, type);
  }
  if (!key.empty()) [[unlikely]] {
    std::memcpy(q, key.data(), key.size());
    q += key.size();
  }
  if (fill) [[unlikely]] {
    *fill = q;
    LeaveRecordOpen(size, lsn, checksum);
    return Status::OK();
  }
  if (payload_size) std::memcpy(q, payload, payload_size);
  FinishRecord(p, RecordType::kEvent, len, size, lsn, checksum);
  return Status::OK();
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_RECORD_APPEND_H_
