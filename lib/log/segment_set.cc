#include "segment_set.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
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
    // Segments wholly before the journal's start are retired ones a crash
    // left (their removal or rename to a retired name was not yet durable,
    // while a later one was): the open removes them, whatever gaps lie
    // between them.
    if (seg->end() < manifest_.first_lsn) continue;
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

std::shared_ptr<Segment> SegmentSet::FindLocked(std::uint64_t lsn) const {
  auto it = segs_.upper_bound(lsn);
  if (it == segs_.begin()) return nullptr;
  --it;
  return lsn < it->second->end() ? it->second : nullptr;
}

// The segments after the last one known, opened by name (each begins where
// the one before it ends) until `lsn` is covered or the next file does not
// exist. A reader follows a writer this way without listing the directory:
// a listing made while the writer renames its next segment into place was
// seen to miss a segment that existed (recovery_test under TSan, "read-only
// opens while a busy writer rolls segments never report damage").
Status SegmentSet::OpenSuccessorsLocked(std::uint64_t lsn) {
  while (!segs_.empty() && lsn >= segs_.rbegin()->second->end()) {
    const std::uint64_t base = segs_.rbegin()->second->end();
    const std::string name = SegmentFileName(base);
    int probe = -1;
    const int e = fs_->Open(JoinPath(dir_, name), O_RDONLY, 0, &probe);
    if (e == ENOENT) return Status::OK();
    if (e != 0) return Status::FromErrno(e, "open segment " + JoinPath(dir_, name));
    fs_->Close(probe);
    auto seg = Segment::Open(fs_, dir_, name, manifest_, writable_);
    if (!seg.ok()) return seg.status();
    (*seg)->KeepMappingOnly();
    segs_.emplace(base, std::move(seg).value());
  }
  return Status::OK();
}

std::shared_ptr<Segment> SegmentSet::Find(std::uint64_t lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto seg = FindLocked(lsn)) return seg;
  if (writable_) return nullptr;
  refresh_error_ = OpenSuccessorsLocked(lsn);
  if (!refresh_error_.ok()) return nullptr;
  if (auto seg = FindLocked(lsn)) return seg;
  refresh_error_ = RefreshLocked();
  if (!refresh_error_.ok()) return nullptr;
  return FindLocked(lsn);
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
