// The body of a replication message (format 2; docs/format.md, "Replication
// messages"): a fixed 92-byte prefix, the variable fields, then the payload.
//
//   0   4  "TXJ" and the format version (2)
//   4   1  flags: bit 0 = the event has a key (other bits zero)
//   5   3  zero
//   8  32  the source journal's identity, 32 hex digits
//  40   8  transaction id                      (integers: unsigned,
//  48   8  first offset of the transaction      little-endian)
//  56   8  events of the transaction in the stream
//  64   8  this event's index among them
//  72   8  timestamp (ns)
//  80   4  topic length T
//  84   4  type length Y
//  88   4  key length K (0 without a key)
//  92      topic (T bytes), type (Y), key (K), payload (the rest)
//
// Format 1 (before) carried the same fields in ten headers (Txj-Journal,
// Txj-Txn, Txj-First, Txj-Count, Txj-Index, Txj-Topic, Txj-Type, Txj-Ts,
// Txj-Key, beside Nats-Msg-Id) and the bare payload: each header cost the
// NATS client about four allocations on both sides. Format 2 keeps only the
// headers the server acts on (Nats-Msg-Id, Nats-Expected-Last-Sequence).
// Header-only, so that tests and the bench can build messages.
#ifndef TXJOURNAL_LIB_REPLICATION_FORMAT_H_
#define TXJOURNAL_LIB_REPLICATION_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace txj::internal::repl {

inline constexpr std::uint8_t kFormat = 2;
inline constexpr std::size_t kPrefix = 92;
inline constexpr std::size_t kJidLen = 32;
inline constexpr std::size_t kCountAt = 56;  // patched once the transaction's size is known
inline constexpr std::uint8_t kHasKey = 1;

struct Fields {
  std::string_view journal;  // 32 hex digits
  std::uint64_t txn = 0, first = 0, count = 0, index = 0, ts = 0;
  std::string_view topic, type;
  std::optional<std::string_view> key;
  std::string_view payload;
};

inline void PutU64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutU32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline std::uint64_t GetU64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint32_t GetU32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Appends the body of one message to `out` (which is not cleared). The
// journal identity must be kJidLen bytes; lengths must fit in 32 bits (the
// journal's own limits on topic, type and key are far below).
inline void Encode(const Fields& f, std::string* out) {
  const std::size_t at = out->size();
  const std::size_t key_len = f.key ? f.key->size() : 0;
  out->resize(at + kPrefix + f.topic.size() + f.type.size() + key_len + f.payload.size());
  char* p = out->data() + at;
  p[0] = 'T';
  p[1] = 'X';
  p[2] = 'J';
  p[3] = static_cast<char>(kFormat);
  p[4] = static_cast<char>(f.key ? kHasKey : 0);
  p[5] = p[6] = p[7] = 0;
  std::memset(p + 8, '0', kJidLen);
  std::memcpy(p + 8, f.journal.data(), f.journal.size() < kJidLen ? f.journal.size() : kJidLen);
  PutU64(p + 40, f.txn);
  PutU64(p + 48, f.first);
  PutU64(p + kCountAt, f.count);
  PutU64(p + 64, f.index);
  PutU64(p + 72, f.ts);
  PutU32(p + 80, static_cast<std::uint32_t>(f.topic.size()));
  PutU32(p + 84, static_cast<std::uint32_t>(f.type.size()));
  PutU32(p + 88, static_cast<std::uint32_t>(key_len));
  char* q = p + kPrefix;
  auto put = [&](std::string_view s) {
    if (!s.empty()) std::memcpy(q, s.data(), s.size());
    q += s.size();
  };
  put(f.topic);
  put(f.type);
  if (f.key) put(*f.key);
  put(f.payload);
}

enum class Decoded { kOk, kNotTxj, kOtherVersion, kBad };

// Reads a message body; on kOk the views in `f` point into `body`. kNotTxj:
// no "TXJ" prefix (format 1, or not a txjournal message); kOtherVersion:
// "TXJ" and another version (`*version` says which); kBad: a format-2 prefix
// whose fields do not fit (`*why` says which).
inline Decoded Decode(std::string_view body, Fields* f, int* version, std::string* why) {
  if (body.size() < 4 || body.compare(0, 3, "TXJ") != 0) return Decoded::kNotTxj;
  *version = static_cast<unsigned char>(body[3]);
  if (*version != kFormat) return Decoded::kOtherVersion;
  if (body.size() < kPrefix) {
    *why = "a body of " + std::to_string(body.size()) + " bytes, shorter than the " + std::to_string(kPrefix) +
           "-byte prefix";
    return Decoded::kBad;
  }
  const char* p = body.data();
  const auto flags = static_cast<unsigned char>(p[4]);
  if ((flags & ~kHasKey) != 0 || p[5] != 0 || p[6] != 0 || p[7] != 0) {
    *why = "unknown flags in bytes 4-7";
    return Decoded::kBad;
  }
  f->journal = body.substr(8, kJidLen);
  f->txn = GetU64(p + 40);
  f->first = GetU64(p + 48);
  f->count = GetU64(p + kCountAt);
  f->index = GetU64(p + 64);
  f->ts = GetU64(p + 72);
  const std::uint64_t t = GetU32(p + 80), y = GetU32(p + 84), k = GetU32(p + 88);
  if (kPrefix + t + y + k > body.size()) {
    *why = "topic, type and key lengths " + std::to_string(t) + " + " + std::to_string(y) + " + " + std::to_string(k) +
           " past the body's " + std::to_string(body.size() - kPrefix) + " bytes after the prefix";
    return Decoded::kBad;
  }
  if (f->count == 0 || f->index >= f->count) {
    *why = "event index " + std::to_string(f->index) + " of a transaction of " + std::to_string(f->count) + " events";
    return Decoded::kBad;
  }
  if ((flags & kHasKey) == 0 && k != 0) {
    *why = "a key of " + std::to_string(k) + " bytes without the key flag";
    return Decoded::kBad;
  }
  std::size_t at = kPrefix;
  f->topic = body.substr(at, t);
  at += t;
  f->type = body.substr(at, y);
  at += y;
  if (flags & kHasKey) {
    f->key = body.substr(at, k);
  } else {
    f->key.reset();
  }
  at += k;
  f->payload = body.substr(at);
  return Decoded::kOk;
}

}  // namespace txj::internal::repl

#endif  // TXJOURNAL_LIB_REPLICATION_FORMAT_H_
