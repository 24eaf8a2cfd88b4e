#include "staged_ops.h"

#include <cstring>

#include "hash.h"

namespace txj::internal {

std::string EncodeFields(const std::vector<std::optional<std::string>>& fields) {
  std::string out;
  for (const auto& f : fields) {
    std::uint32_t n = f ? static_cast<std::uint32_t>(f->size()) : 0xffffffffu;
    out.append(reinterpret_cast<const char*>(&n), 4);
    if (f) out += *f;
  }
  return out;
}

Result<std::vector<std::optional<std::string>>> DecodeFields(std::string_view in, const std::string& what) {
  std::vector<std::optional<std::string>> out;
  while (!in.empty()) {
    if (in.size() < 4) return Status::Corruption(what + ": truncated field length");
    std::uint32_t n;
    std::memcpy(&n, in.data(), 4);
    in.remove_prefix(4);
    if (n == 0xffffffffu) {
      out.emplace_back();
      continue;
    }
    if (in.size() < n) return Status::Corruption(what + ": truncated field");
    out.emplace_back(std::string(in.substr(0, n)));
    in.remove_prefix(n);
  }
  return out;
}

std::string Id128(std::string_view bytes) { return Hash128Hex(bytes); }

}  // namespace txj::internal
