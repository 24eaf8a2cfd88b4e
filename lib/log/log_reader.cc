#include "log_reader.h"

#include <cstring>

namespace txj::internal {

std::string LogReader::Where(std::uint64_t lsn) const {
  std::shared_ptr<Segment> s = (seg_ && lsn >= seg_->base() && lsn < seg_->end()) ? seg_ : segs_->Find(lsn);
  if (!s) return "LSN " + std::to_string(lsn) + " (no segment holds it)";
  return s->path() + " at byte " + std::to_string(s->file_offset(lsn)) + " (LSN " + std::to_string(lsn) + ")";
}

std::string LogReader::Where() const { return Where(pos_); }

std::uint64_t GapEnd(const Segment& seg, std::uint64_t lsn, std::uint64_t salt, std::uint64_t limit,
                     RecordView* out) {
  static const std::uint8_t kZeros[format::kPageSize] = {};
  const std::uint64_t q = format::PageUp(lsn);
  if (q == lsn || q >= limit || q >= seg.end() || lsn < seg.first_record_lsn()) return 0;
  if (std::memcmp(seg.at(lsn), kZeros, q - lsn) != 0) return 0;
  if (DecodeRecord(seg.at(q), seg.end() - q, q, salt, out) != DecodeError::kNone || !out->follows_gap) return 0;
  return q;
}

LogReader::Stop LogReader::Next(RecordView* out) {
  error_ = DecodeError::kNone;
  if (pos_ >= limit_) return Stop::kLimit;
  if (!seg_ || pos_ < seg_->base() || pos_ >= seg_->end()) {
    seg_ = segs_->Find(pos_);
    if (!seg_) return Stop::kNoSegment;
    if (pos_ < seg_->first_record_lsn()) pos_ = seg_->first_record_lsn();
    if (pos_ >= limit_) return Stop::kLimit;
  }
  DecodeError e = DecodeRecord(seg_->at(pos_), seg_->end() - pos_, pos_, salt_, out);
  if (MayBeGap(pos_, e)) {
    // Across the gap only to a record this reader takes (not a stale one):
    // otherwise the tail is judged where the gap begins.
    if (const std::uint64_t q = GapEnd(*seg_, pos_, salt_, limit_, out); q != 0 && out->epoch >= min_epoch_) {
      pos_ = q;  // out holds the record there
      e = DecodeError::kNone;
    } else if (e == DecodeError::kZero) {
      return Stop::kUnwritten;
    }
  }
  if (e == DecodeError::kNone && out->epoch < min_epoch_) e = DecodeError::kStaleEpoch;
  if (e != DecodeError::kNone) {
    error_ = e;
    return Stop::kInvalid;
  }
  return Accept(*out);
}

}  // namespace txj::internal
