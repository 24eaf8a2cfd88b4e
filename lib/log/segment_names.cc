#include "segment_names.h"

#include <algorithm>

namespace txj::internal {

void SegmentNames::AddWritten(std::uint32_t epoch, std::uint16_t id, std::string_view topic, std::string_view type,
                              std::uint64_t lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!IsWritten(epoch)) written_epochs_.push_back(epoch);
  bindings_.try_emplace({epoch, id}, Binding{lsn, std::string(topic), std::string(type)});
}

void SegmentNames::AddScanned(std::uint64_t first, std::uint64_t from, std::uint64_t to,
                              const std::vector<Found>& found) {
  std::lock_guard<std::mutex> lock(mu_);
  read_back_ += to - from;
  if (from > std::max(scanned_to_, first)) return;  // a hole between: what is here would not be all
  for (const Found& f : found) {
    auto [it, added] =
        bindings_.try_emplace({f.epoch, f.id}, Binding{f.lsn, std::string(f.topic), std::string(f.type)});
    Binding& b = it->second;
    if (!added && f.lsn != b.lsn && (f.topic != b.topic || f.type != b.type) &&
        (b.rebound_lsn == 0 || f.lsn < b.rebound_lsn)) {
      b.rebound_lsn = f.lsn;
    }
  }
  scanned_to_ = std::max(scanned_to_, to);
}

}  // namespace txj::internal
