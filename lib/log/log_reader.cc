#include "log_reader.h"

#include <algorithm>
#include <cstring>

namespace txj::internal {

std::string LogReader::Where(std::uint64_t lsn) const {
  std::shared_ptr<Segment> s = (seg_ && lsn >= seg_->base() && lsn < seg_->end()) ? seg_ : segs_->Find(lsn);
  if (!s) return "LSN " + std::to_string(lsn) + " (no segment holds it)";
  return s->path() + " at byte " + std::to_string(s->file_offset(lsn)) + " (LSN " + std::to_string(lsn) + ")";
}

std::string LogReader::Where() const { return Where(pos_); }

Status LogReader::StopError(std::uint64_t at) const {
  if (no_segment_) {
    Status why = segs_->WhyMissing(pos_);
    if (!why.ok()) return why;
    // Found on a second look (a refresh that failed once succeeded now):
    // still an error for this read, which the caller may retry.
    return Status::IOError("the segment holding LSN " + std::to_string(pos_) + " in " + segs_->dir() +
                           " could not be opened at first; read again");
  }
  return Status::Corruption(std::string(DecodeErrorName(error_)) + " in " + Where(at));
}

namespace {

// The epoch field of the record header at `p`.
std::uint32_t HeaderEpoch(const std::uint8_t* p) {
  std::uint32_t epoch;
  std::memcpy(&epoch, p + offsetof(format::RecordHeader, epoch), sizeof epoch);
  return epoch;
}

// Whether decoding at `lsn` that failed with `e` may have met a gap: zeros,
// or a gap shorter than a header (the header read runs into the next page).
bool MayBeGap(std::uint64_t lsn, DecodeError e) {
  return e == DecodeError::kZero ||
         (e != DecodeError::kNone && format::PageUp(lsn) - lsn < format::kRecordHeaderSize);
}

}  // namespace

// The LSN just past the last non-zero byte of `seg` at or after `from`, or
// `from` if there is none. Reads 8 bytes at a time: on open it runs over
// the unwritten rest of the active segment and over the prepared one.
std::uint64_t NonZeroEnd(const Segment& seg, std::uint64_t from) {
  std::uint64_t end = std::max(from, seg.DataEnd(from));
  if (from >= end) return from;
  while (end - from >= 8) {
    std::uint64_t w;
    std::memcpy(&w, seg.at(end - 8), 8);
    if (w != 0) break;
    end -= 8;
  }
  while (end > from && *seg.at(end - 1) == 0) --end;
  return end;
}

DecodeError DecodeAcrossGap(const Segment& seg, std::uint64_t* lsn, std::uint64_t salt, std::uint64_t limit,
                            std::uint32_t min_epoch, RecordView* out) {
  static const std::uint8_t kZeros[format::kPageSize] = {};
  const DecodeError e = DecodeRecord(seg.at(*lsn), seg.end() - *lsn, *lsn, salt, out);
  const std::uint64_t q = format::PageUp(*lsn);
  if (q == *lsn || q >= limit || q >= seg.end() || *lsn < seg.first_record_lsn()) return e;
  if (seg.recycled()) {
    // A gap in a recycled segment holds the file's old bytes, or a record
    // an earlier session of this journal left there (it verifies at its
    // LSN, with an older epoch). A record of this session or a later one
    // that verifies but does not fit its type is damage, never a gap.
    const bool verifies = e == DecodeError::kNone || e == DecodeError::kBadType || e == DecodeError::kBadBody;
    const bool stale = verifies && HeaderEpoch(seg.at(*lsn)) < min_epoch;
    if (verifies && !stale) return e;
  } else {
    if (!MayBeGap(*lsn, e)) return e;
    if (std::memcmp(seg.at(*lsn), kZeros, q - *lsn) != 0) return e;
  }
  RecordView after;
  if (DecodeRecord(seg.at(q), seg.end() - q, q, salt, &after) != DecodeError::kNone || !after.follows_gap ||
      after.epoch < min_epoch) {
    return e;
  }
  *lsn = q;
  *out = after;
  return DecodeError::kNone;
}

LogReader::Stop LogReader::Next(RecordView* out) {
  error_ = DecodeError::kNone;
  no_segment_ = false;
  if (pos_ >= limit_) return Stop::kLimit;
  if (!seg_ || pos_ < seg_->base() || pos_ >= seg_->end()) {
    seg_ = segs_->Find(pos_);
    if (!seg_) {
      no_segment_ = true;
      return Stop::kNoSegment;
    }
    if (pos_ < seg_->first_record_lsn()) pos_ = seg_->first_record_lsn();
    if (pos_ >= limit_) return Stop::kLimit;
  }
  // Across a gap only to a record this reader takes (not a stale one):
  // otherwise the tail is judged where the gap begins.
  DecodeError e = DecodeAcrossGap(*seg_, &pos_, salt_, limit_, min_epoch_, out);
  if (e == DecodeError::kZero) return Stop::kUnwritten;
  if (e == DecodeError::kNone && out->epoch < min_epoch_) e = DecodeError::kStaleEpoch;
  // A record that verifies but does not fit its type is damage, unless an
  // earlier session wrote it: then it is stale, like any of its records.
  if ((e == DecodeError::kBadType || e == DecodeError::kBadBody) && HeaderEpoch(seg_->at(pos_)) < min_epoch_) {
    e = DecodeError::kStaleEpoch;
  }
  if (e != DecodeError::kNone) {
    error_ = e;
    return Stop::kInvalid;
  }
  return Accept(*out);
}

}  // namespace txj::internal
