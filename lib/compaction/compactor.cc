#include "txjournal/compactor.h"

#include <cstring>


namespace txj {

namespace {

void PutU32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& out, std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

bool GetU32(std::string_view& in, std::uint32_t* v) {
  if (in.size() < 4) return false;
  std::memcpy(v, in.data(), 4);
  in.remove_prefix(4);
  return true;
}
bool GetU64(std::string_view& in, std::uint64_t* v) {
  if (in.size() < 8) return false;
  std::memcpy(v, in.data(), 8);
  in.remove_prefix(8);
  return true;
}

}  // namespace

Status LatestByKeyCompactor::apply(State& state, const Event& event) const {
  if (!event.key) {
    return Status::InvalidArgument("latest-by-key: event at offset " + std::to_string(event.offset) + " of topic " +
                                   std::string(event.topic) + " has no key");
  }
  auto& m = static_cast<Map&>(state).values;
  if (event.type == tombstone_) {
    m.erase(std::string(*event.key));
  } else {
    m.insert_or_assign(std::string(*event.key), std::string(event.payload));
  }
  return Status::OK();
}

// Encoding: u64 count, then per key in byte order: u32 key length, key,
// u32 value length, value.
std::string LatestByKeyCompactor::encode(const State& state) const {
  const auto& m = static_cast<const Map&>(state).values;
  std::string out;
  PutU64(out, m.size());
  for (const auto& [k, v] : m) {
    PutU32(out, static_cast<std::uint32_t>(k.size()));
    out += k;
    PutU32(out, static_cast<std::uint32_t>(v.size()));
    out += v;
  }
  return out;
}

Result<std::unique_ptr<Compactor::State>> LatestByKeyCompactor::decode(std::string_view in) const {
  auto state = std::make_unique<Map>();
  std::uint64_t n = 0;
  if (!GetU64(in, &n)) return Status::Corruption("latest-by-key state: truncated count");
  std::string prev;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint32_t kl = 0, vl = 0;
    if (!GetU32(in, &kl) || in.size() < kl) return Status::Corruption("latest-by-key state: truncated key " + std::to_string(i));
    std::string k(in.substr(0, kl));
    in.remove_prefix(kl);
    if (!GetU32(in, &vl) || in.size() < vl) return Status::Corruption("latest-by-key state: truncated value " + std::to_string(i));
    if (i > 0 && k <= prev) return Status::Corruption("latest-by-key state: keys out of order at " + std::to_string(i));
    state->values.emplace_hint(state->values.end(), k, std::string(in.substr(0, vl)));
    in.remove_prefix(vl);
    prev = std::move(k);
  }
  if (!in.empty()) return Status::Corruption("latest-by-key state: " + std::to_string(in.size()) + " trailing bytes");
  return std::unique_ptr<Compactor::State>(std::move(state));
}

}  // namespace txj
