#include "segment_set.h"

#include <algorithm>
#include <utility>

namespace txj::internal {

Status SegmentSet::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  return RefreshLocked();
}

Status SegmentSet::RefreshLocked() {
  std::vector<std::string> names;
  if (int e = fs_->ListDir(dir_, &names)) return Status::FromErrno(e, "list journal directory " + dir_);
  std::vector<std::pair<std::uint64_t, const std::string*>> found;
  for (const std::string& name : names) {
    std::uint64_t base = 0;
    if (ParseSegmentFileName(name, &base)) found.emplace_back(base, &name);
  }
  std::sort(found.begin(), found.end());
  // Sealed segments keep their mapping only (Segment::KeepMappingOnly), each
  // at once as it is opened here (nothing else holds it yet); a writer's
  // set keeps its last two as they are (the tail and the prepared one).
  const std::uint64_t keep_from =
      !writable_ ? UINT64_MAX : found.size() >= 2 ? found[found.size() - 2].first : 0;
  for (const auto& [base, name] : found) {
    if (segs_.count(base)) continue;
    if (base < min_end_) continue;  // retired (retention), being removed
    auto seg = Segment::Open(fs_, dir_, *name, manifest_, writable_);
    if (!seg.ok()) return seg.status();
    if (base < keep_from) (*seg)->KeepMappingOnly();
    segs_.emplace(base, std::move(seg).value());
  }
  std::uint64_t expect = 0;
  bool first = true;
  for (const auto& [base, seg] : segs_) {
    if (!first && base != expect) {
      return Status::Corruption("missing segment " + JoinPath(dir_, SegmentFileName(expect)) +
                                ": segments jump from LSN " + std::to_string(expect) + " to " +
                                std::to_string(base) + " (" + seg->path() + ")");
    }
    first = false;
    expect = seg->end();
  }
  return Status::OK();
}

std::shared_ptr<Segment> SegmentSet::Find(std::uint64_t lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto it = segs_.upper_bound(lsn);
    if (it != segs_.begin()) {
      --it;
      if (lsn < it->second->end()) return it->second;
    }
    if (attempt == 0 && !writable_) {
      refresh_error_ = RefreshLocked();
      if (!refresh_error_.ok()) return nullptr;
    } else {
      break;
    }
  }
  return nullptr;
}

Status SegmentSet::WhyMissing(std::uint64_t lsn) {
  if (Find(lsn)) return Status::OK();
  std::lock_guard<std::mutex> lock(mu_);
  if (!refresh_error_.ok()) {
    return refresh_error_.WithContext("no segment holds LSN " + std::to_string(lsn) + " in " + dir_ +
                                      ": looking for segments added since the open failed");
  }
  return Status::Corruption("no segment holds LSN " + std::to_string(lsn) + " in " + dir_);
}

std::shared_ptr<Segment> SegmentSet::First() {
  std::lock_guard<std::mutex> lock(mu_);
  return segs_.empty() ? nullptr : segs_.begin()->second;
}

std::shared_ptr<Segment> SegmentSet::Last() {
  std::lock_guard<std::mutex> lock(mu_);
  return segs_.empty() ? nullptr : segs_.rbegin()->second;
}

std::vector<std::shared_ptr<Segment>> SegmentSet::All() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Segment>> v;
  v.reserve(segs_.size());
  for (auto& [b, s] : segs_) v.push_back(s);
  return v;
}

void SegmentSet::Add(std::shared_ptr<Segment> seg) {
  std::lock_guard<std::mutex> lock(mu_);
  segs_[seg->base()] = std::move(seg);
}

void SegmentSet::DropBefore(std::uint64_t lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(segs_, [&](const auto& e) { return e.second->end() <= lsn; });
  if (lsn > min_end_) min_end_ = lsn;
}

void SegmentSet::DropFrom(std::uint64_t base) {
  std::lock_guard<std::mutex> lock(mu_);
  segs_.erase(segs_.lower_bound(base), segs_.end());
}

}  // namespace txj::internal
