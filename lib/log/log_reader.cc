#include "log_reader.h"

namespace txj::internal {

std::string LogReader::Where(std::uint64_t lsn) const {
  std::shared_ptr<Segment> s = (seg_ && lsn >= seg_->base() && lsn < seg_->end()) ? seg_ : segs_->Find(lsn);
  if (!s) return "LSN " + std::to_string(lsn) + " (no segment holds it)";
  return s->path() + " at byte " + std::to_string(s->file_offset(lsn)) + " (LSN " + std::to_string(lsn) + ")";
}

std::string LogReader::Where() const { return Where(pos_); }

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
  if (e == DecodeError::kZero) return Stop::kUnwritten;
  if (e == DecodeError::kNone && out->epoch < min_epoch_) e = DecodeError::kStaleEpoch;
  if (e != DecodeError::kNone) {
    error_ = e;
    return Stop::kInvalid;
  }
  return Accept(*out);
}

}  // namespace txj::internal
