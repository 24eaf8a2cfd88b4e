// libFuzzer target: the record decoder (lib/log/record.h) on arbitrary bytes.
// Input: u64 LSN, u64 salt, then the bytes of the "segment" from that LSN.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace txj::internal;
  if (size < 16) return 0;
  std::uint64_t lsn, salt;
  std::memcpy(&lsn, data, 8);
  std::memcpy(&salt, data + 8, 8);
  data += 16;
  size -= 16;
  // Decode every record of the buffer in turn, as the log reader does.
  std::uint64_t pos = 0;
  for (int i = 0; i < 1000 && pos < size; ++i) {
    RecordView r;
    DecodeError e = DecodeRecord(data + pos, size - pos, lsn + pos, salt, &r);
    (void)DecodeErrorName(e);
    if (e != DecodeError::kNone) break;
    // A valid record lies inside the buffer, whatever its fields say.
    if (r.length < txj::format::kRecordHeaderSize || r.length > size - pos) __builtin_trap();
    if (r.body + r.body_length > data + size) __builtin_trap();
    if (r.type == txj::RecordType::kEvent) {
      EventFields f = DecodeEventBody(r);
      const auto* end = reinterpret_cast<const char*>(data + size);
      volatile std::size_t sink = f.topic.size() + f.type.size() + f.payload.size() + (f.key ? f.key->size() : 0);
      (void)sink;
      if (f.payload.data() + f.payload.size() > end) __builtin_trap();
      if (!f.topic.empty() && f.topic.data() + f.topic.size() > end) __builtin_trap();
    }
    pos += r.next_lsn() - r.lsn;
  }
  return 0;
}
