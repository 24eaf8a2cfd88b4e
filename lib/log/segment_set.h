// The ordered set of a journal's segments, shared by the writer and readers.
#ifndef TXJOURNAL_LIB_SEGMENT_SET_H_
#define TXJOURNAL_LIB_SEGMENT_SET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "segment.h"

namespace txj::internal {

class SegmentSet {
 public:
  SegmentSet(std::shared_ptr<FileSystem> fs, std::string dir, ManifestData manifest, bool writable)
      : fs_(std::move(fs)), dir_(std::move(dir)), manifest_(manifest), writable_(writable) {}

  // Lists the directory and opens segments not yet known. Errors:
  // kCorruption when segments are not contiguous (a missing middle segment,
  // naming the expected file) or a segment file is bad.
  Status Refresh();

  // The segment holding `lsn`, or null. Refreshes once when not found.
  std::shared_ptr<Segment> Find(std::uint64_t lsn);
  // Why Find(lsn) found nothing, for a reader to report: the error of the
  // last refresh that failed (a file that could not be opened or mapped,
  // for example too many open files), or kCorruption "no segment holds
  // LSN ...". Refreshes again first: a segment found now gives OK.
  Status WhyMissing(std::uint64_t lsn);
  std::shared_ptr<Segment> First();
  std::shared_ptr<Segment> Last();
  std::vector<std::shared_ptr<Segment>> All();
  void Add(std::shared_ptr<Segment> seg);
  // Forgets segments at or after `base` (the writer deletes their files).
  void DropFrom(std::uint64_t base);
  // Forgets segments that end at or before `lsn`.
  void DropBefore(std::uint64_t lsn);
  // Replaces the segment with the same base (a rewritten file).
  void Replace(std::shared_ptr<Segment> seg) { Add(std::move(seg)); }

  const ManifestData& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  FileSystem& fs() { return *fs_; }
  const std::shared_ptr<FileSystem>& fs_ptr() const { return fs_; }

 private:
  Status RefreshLocked();
  std::shared_ptr<Segment> FindLocked(std::uint64_t lsn) const;
  Status OpenSuccessorsLocked(std::uint64_t lsn);
  std::shared_ptr<FileSystem> fs_;
  std::string dir_;
  ManifestData manifest_;
  bool writable_;
  std::mutex mu_;
  std::map<std::uint64_t, std::shared_ptr<Segment>> segs_;
  std::uint64_t min_end_ = 0;  // segments ending at or before this are retired
  Status refresh_error_;       // of the last refresh, OK when it succeeded
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_SEGMENT_SET_H_
