// Lowercase hexadecimal: the one helper for the library's hex strings
// (journal identity, state hashes, event ids, replicated keys).
#ifndef TXJOURNAL_LIB_HEX_H_
#define TXJOURNAL_LIB_HEX_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace txj::internal {

inline constexpr char kHexDigits[] = "0123456789abcdef";

// Two digits per byte, high nibble first.
inline std::string HexEncode(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHexDigits[p[i] >> 4];
    out += kHexDigits[p[i] & 15];
  }
  return out;
}
inline std::string HexEncode(std::string_view bytes) { return HexEncode(bytes.data(), bytes.size()); }

// `v` as 16 digits, most significant first.
inline std::string HexU64(std::uint64_t v) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = kHexDigits[v & 15];
  return out;
}

// The bytes of lowercase hex `s` (an even number of digits) into `out`;
// false (and `out` unspecified) for anything else.
inline bool HexDecode(std::string_view s, std::string* out) {
  if (s.size() % 2) return false;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out->clear();
  out->reserve(s.size() / 2);
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = value(s[i]), lo = value(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_HEX_H_
