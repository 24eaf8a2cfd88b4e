// Sequential, validating reader of records across segments.
#ifndef TXJOURNAL_LIB_LOG_READER_H_
#define TXJOURNAL_LIB_LOG_READER_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "record.h"
#include "segment_set.h"

namespace txj::internal {

// DecodeRecord() of the record at *lsn in `seg`, crossing a gap (format 2,
// docs/format.md "Gaps"): where zeros run from *lsn to the next page
// boundary (an all-zero header, or less than a header left before it) and a
// valid record flagged kFlagFollowsGap, of epoch `min_epoch` or later,
// starts there inside `seg` and below `limit`, *lsn moves to it and *out
// holds it. Otherwise *lsn stays and the result is DecodeRecord's there.
// In a recycled segment a gap holds old bytes, not zeros: what stands
// before the boundary may be anything but a record that verifies and is
// taken (one of an epoch below `min_epoch` is stale, so it may).
// The LSN just past the last non-zero byte of `seg` at or after `from`, or
// `from` if there is none; holes the file system reports are not read.
std::uint64_t NonZeroEnd(const Segment& seg, std::uint64_t from);

DecodeError DecodeAcrossGap(const Segment& seg, std::uint64_t* lsn, std::uint64_t salt, std::uint64_t limit,
                            std::uint32_t min_epoch, RecordView* out);

class LogReader {
 public:
  enum class Stop {
    kRecord,          // *out holds a valid record
    kLimit,           // the limit LSN is reached
    kUnwritten,       // zero bytes: the end of what was written
    kInvalid,         // bytes that are not a valid record (see error())
    kNoSegment,       // the segment that should hold the position does not exist
  };

  LogReader(SegmentSet* segments, std::uint64_t start_lsn)
      : segs_(segments), salt_(segments->manifest().salt()), pos_(start_lsn) {}

  // Records at or after `limit` are not returned (kLimit).
  void set_limit(std::uint64_t limit) { limit_ = limit; }
  // Epoch of the record before the start position (records must not go below).
  void set_min_epoch(std::uint32_t e) { min_epoch_ = e; }

  // Reads the record at the current position and advances past it. A
  // kSegmentEnd record is returned too; the position then moves to the next
  // segment's first record.
  Stop Next(RecordView* out);
  // Next() with the common case (a valid record inside the current segment,
  // below the limit) inline; everything else goes through Next().
  Stop NextInline(RecordView* out) {
    if (seg_ && pos_ < limit_ && pos_ >= seg_->base() && pos_ < seg_->end()) {
      if (DecodeRecord(seg_->at(pos_), seg_->end() - pos_, pos_, salt_, out) == DecodeError::kNone &&
          out->epoch >= min_epoch_ && out->type != RecordType::kSegmentEnd) {
        error_ = DecodeError::kNone;
        return Accept(*out);
      }
    }
    return Next(out);
  }

  // The bytes at the current position when NextInline() would decode there
  // itself (inside the current segment, below the limit), with the count of
  // bytes to the segment's end in *avail; nullptr otherwise.
  const std::uint8_t* Peek(std::uint64_t* avail) const {
    if (seg_ && pos_ < limit_ && pos_ >= seg_->base() && pos_ < seg_->end()) {
      *avail = seg_->end() - pos_;
      return seg_->at(pos_);
    }
    return nullptr;
  }
  // Moves past the record at Peek() once the caller found it valid, as
  // NextInline() would have: decoded without error (DecodeEventInline),
  // epoch at least last_epoch(), not a kSegmentEnd record.
  void Skip(std::uint32_t epoch, std::uint32_t length) {
    error_ = DecodeError::kNone;
    min_epoch_ = epoch;
    pos_ += format::AlignUp(length);
  }

  // Skip() over `bytes` of records (aligned lengths) the caller checked as
  // Skip() asks, the last of them of `epoch`.
  void SkipRun(std::uint32_t epoch, std::uint64_t bytes) {
    error_ = DecodeError::kNone;
    min_epoch_ = epoch;
    pos_ += bytes;
  }
  std::uint64_t limit() const { return limit_; }

  std::uint64_t position() const { return pos_; }
  // Keeps the current segment mapping when `lsn` lies in it, so a reader
  // goes on in the version of a segment it started in even if compaction
  // has replaced the file meanwhile.
  void Seek(std::uint64_t lsn) {
    pos_ = lsn;
    if (seg_ && (lsn < seg_->base() || lsn >= seg_->end())) seg_.reset();
  }
  DecodeError error() const { return error_; }
  // What made the last Next() stop at `at` with kInvalid (kCorruption: the
  // decode error and where) or kNoSegment (the segment set's reason: an
  // I/O error opening a new segment, or kCorruption naming the LSN).
  Status StopError(std::uint64_t at) const;
  const std::shared_ptr<Segment>& segment() const { return seg_; }
  std::uint32_t last_epoch() const { return min_epoch_; }
  // "FILE at byte N" for the current position.
  std::string Where() const;
  std::string Where(std::uint64_t lsn) const;

 private:
  // Takes a valid record at the current position and moves past it (past
  // the segment's end for a kSegmentEnd record).
  Stop Accept(const RecordView& r) {
    min_epoch_ = r.epoch;
    pos_ = r.type == RecordType::kSegmentEnd ? seg_->end() + format::kSegmentHeaderSize : r.next_lsn();
    return Stop::kRecord;
  }

  SegmentSet* segs_;
  std::uint64_t salt_;
  std::uint64_t pos_;
  std::uint64_t limit_ = std::numeric_limits<std::uint64_t>::max();
  std::uint32_t min_epoch_ = 0;
  std::shared_ptr<Segment> seg_;
  DecodeError error_ = DecodeError::kNone;
  bool no_segment_ = false;  // the last Next() stopped with kNoSegment
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_LOG_READER_H_
