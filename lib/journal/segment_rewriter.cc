#include "segment_rewriter.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "checksum.h"
#include "log_reader.h"
#include "manifest.h"
#include "name_table.h"
#include "record.h"
#include "txn_hash.h"

namespace txj::internal {

namespace {

struct Rec {
  RecordView v;
  std::uint64_t end;  // lsn + aligned length
};

// One piece of the new segment: bytes copied from the old file, a padding
// header, or a rebuilt record.
struct Piece {
  std::uint64_t lsn;
  std::string bytes;     // new bytes to write at lsn (padding header or rebuilt record)
  bool copy = false;     // copy [lsn, copy_end) from the old file instead
  std::uint64_t copy_end = 0;
};

struct Padding {
  std::uint64_t lsn, end, skipped;
  std::uint16_t depth;
  std::uint64_t txn_id;
  std::uint32_t sub_id, epoch;
  std::uint64_t last_txn_id = 0;  // top level: highest id of the transactions it replaces
};

std::string PaddingBytes(const Padding& p, std::uint64_t salt, std::uint64_t* checksum) {
  std::string b(format::kPaddingCheckedSize, '\0');
  // A padding that starts a page may stand where a gap ended: it keeps the
  // flag that lets readers cross it (harmless where there was none).
  const std::uint8_t flags = p.lsn % format::kPageSize == 0 ? format::kFlagFollowsGap : 0;
  format::RecordHeader h{0, static_cast<std::uint32_t>(p.end - p.lsn), static_cast<std::uint8_t>(RecordType::kPadding),
                         flags, p.depth, p.txn_id, p.sub_id, p.epoch};
  format::PaddingBody body{p.skipped, p.last_txn_id};
  std::memcpy(b.data(), &h, sizeof h);
  std::memcpy(b.data() + sizeof h, &body, sizeof body);
  std::uint64_t c = RecordChecksum(b.data(), format::kPaddingCheckedSize, salt, p.lsn);
  std::memcpy(b.data(), &c, 8);
  if (checksum) *checksum = c;
  return b;
}

// Plans the new version of one segment as pieces, then writes it.
class Rewriter {
 public:
  Rewriter(const ManifestData& m, const std::shared_ptr<Segment>& seg, const CoveredFn& covered)
      : salt_(m.salt()), seg_(seg), covered_(covered) {}

  Status ReadRecords();
  void Plan();
  bool Changed() const { return result_.bytes_freed != 0 || result_.events_dropped != 0; }
  Status Write(FileSystem& fs, mode_t mode) const;
  RewriteResult& result() { return result_; }

 private:
  // Whether recs_[i..j] holds a names record: it stays, whatever becomes
  // of its transaction (later events may name it).
  bool HoldsNames(std::size_t i, std::size_t j) const;
  // The transaction begun at recs_[i]: returns the index after it.
  std::size_t PlanTransaction(std::size_t i);
  // Marks in drop_ (indexed from i) the records of the committed
  // transaction [i, j] that go: covered events, and paddings among live
  // records. Returns {live events, dropped events}.
  std::pair<std::uint64_t, std::uint64_t> MarkDropped(std::size_t i, std::size_t j, std::uint64_t first_offset);
  // A partly covered transaction: runs of dropped records at one level
  // become paddings; the commit marker is rebuilt to cover the records as
  // they now are.
  void RebuildPartly(std::size_t i, std::size_t j, const format::CommitBody& cb);
  void FlushTop();
  void AddTop(Padding p);
  void Copy(std::uint64_t from, std::uint64_t to);

  const std::uint64_t salt_;
  const std::shared_ptr<Segment>& seg_;
  const CoveredFn& covered_;
  RewriteResult result_;
  std::vector<Rec> recs_;
  std::vector<std::string_view> topics_;  // recs_[k]'s topic when it is an event
  std::vector<Piece> pieces_;
  std::vector<Padding> top_;  // pending top-level paddings (merged when adjacent)
  std::vector<char> drop_;
};

Status Rewriter::ReadRecords() {
  for (std::uint64_t lsn = seg_->first_record_lsn(); lsn < seg_->end();) {
    RecordView v;
    const DecodeError e = DecodeAcrossGap(*seg_, &lsn, salt_, seg_->end(), 0, &v);
    if (e == DecodeError::kZero) {
      // The rewrite keeps only what was read: bytes past unwritten space
      // (a damaged record after a gap, say) must stop it, not vanish.
      if (const std::uint64_t end = NonZeroEnd(*seg_, lsn); end != lsn) {
        return Status::Corruption("cannot compact " + seg_->path() + ": non-zero bytes up to byte " +
                                  std::to_string(seg_->file_offset(end)) + " after unwritten space at byte " +
                                  std::to_string(seg_->file_offset(lsn)));
      }
      break;
    }
    if (e != DecodeError::kNone) {
      return Status::Corruption("cannot compact " + seg_->path() + ": " + std::string(DecodeErrorName(e)) +
                                " at byte " + std::to_string(seg_->file_offset(lsn)));
    }
    recs_.push_back({v, v.next_lsn()});
    if (v.type == RecordType::kSegmentEnd) break;
    lsn = v.next_lsn();
  }
  // Each event's topic (format 5: by id, from the names records before it).
  NameTable names;
  topics_.resize(recs_.size());
  for (std::size_t k = 0; k < recs_.size(); ++k) {
    const RecordView& v = recs_[k].v;
    Status s;
    if (v.type == RecordType::kNames) {
      s = names.Define(seg_, v);
    } else if (v.type == RecordType::kEvent) {
      EventFields f;
      s = names.Decode(seg_, salt_, v, &f);
      topics_[k] = f.topic;
    }
    if (!s.ok()) {
      return Status::Corruption("cannot compact " + seg_->path() + ": " + s.message() + " (byte " +
                                std::to_string(seg_->file_offset(v.lsn)) + ")");
    }
  }
  return Status::OK();
}

bool Rewriter::HoldsNames(std::size_t i, std::size_t j) const {
  for (std::size_t k = i; k <= j; ++k) {
    if (recs_[k].v.type == RecordType::kNames) return true;
  }
  return false;
}

void Rewriter::FlushTop() {
  for (const auto& p : top_) pieces_.push_back({p.lsn, PaddingBytes(p, salt_, nullptr)});
  top_.clear();
}

void Rewriter::AddTop(Padding p) {
  if (!top_.empty() && top_.back().end == p.lsn && p.end - top_.back().lsn < 0xfffffff0ull) {
    top_.back().end = p.end;
    top_.back().skipped += p.skipped;
    top_.back().last_txn_id = std::max(top_.back().last_txn_id, p.last_txn_id);
  } else {
    top_.push_back(p);
  }
}

void Rewriter::Copy(std::uint64_t from, std::uint64_t to) {
  FlushTop();
  if (!pieces_.empty() && pieces_.back().copy && pieces_.back().copy_end == from) {
    pieces_.back().copy_end = to;
  } else {
    pieces_.push_back({from, {}, true, to});
  }
}

void Rewriter::Plan() {
  std::size_t i = 0;
  while (i < recs_.size()) {
    const Rec& r = recs_[i];
    if (r.v.type == RecordType::kPadding && r.v.depth == 0 && r.v.txn_id == 0) {
      const auto body = ReadBody<format::PaddingBody>(r.v);
      AddTop({r.v.lsn, r.end, body.skipped_events, 0, 0, 0, r.v.epoch, body.last_txn_id});
      ++i;
    } else if (r.v.type != RecordType::kBegin) {  // segment end, or the tail of a transaction begun earlier
      Copy(r.v.lsn, r.end);
      ++i;
    } else {
      i = PlanTransaction(i);
    }
  }
  FlushTop();
}

std::size_t Rewriter::PlanTransaction(std::size_t i) {
  const Rec& r = recs_[i];
  // Its end marker in this segment.
  std::size_t j = i + 1;
  while (j < recs_.size() && recs_[j].v.type != RecordType::kCommit && recs_[j].v.type != RecordType::kRollback) ++j;
  if (j == recs_.size() || recs_[j].v.txn_id != r.v.txn_id) {  // continues in the next segment: keep it
    for (; i < recs_.size(); ++i) Copy(recs_[i].v.lsn, recs_[i].end);
    return i;
  }
  const Rec& end = recs_[j];
  if (end.v.type == RecordType::kRollback && HoldsNames(i, j)) {  // kept whole: rare
    Copy(r.v.lsn, end.end);
    return j + 1;
  }
  if (end.v.type == RecordType::kRollback) {
    AddTop({r.v.lsn, end.end, 0, 0, 0, 0, r.v.epoch, r.v.txn_id});
    result_.bytes_freed += end.end - r.v.lsn;
    return j + 1;
  }
  const auto cb = ReadBody<format::CommitBody>(end.v);
  const auto [live, dropped] = MarkDropped(i, j, cb.first_offset);
  bool any_event_dropped = false;
  for (std::size_t k = i + 1; k < j; ++k) {
    if (drop_[k - i] && recs_[k].v.type == RecordType::kEvent) any_event_dropped = true;
  }
  if (live > 0 && dropped == live && live == cb.event_count && end.end - r.v.lsn < 0xfffffff0ull && !HoldsNames(i, j)) {
    AddTop({r.v.lsn, end.end, cb.event_count, 0, 0, 0, r.v.epoch, r.v.txn_id});
    result_.bytes_freed += end.end - r.v.lsn;
    result_.events_dropped += cb.event_count;
  } else if (!any_event_dropped) {
    Copy(r.v.lsn, end.end);
  } else {
    RebuildPartly(i, j, cb);
  }
  return j + 1;
}

std::pair<std::uint64_t, std::uint64_t> Rewriter::MarkDropped(std::size_t i, std::size_t j,
                                                              std::uint64_t first_offset) {
  // Which sub-transactions were rolled back.
  std::vector<std::uint32_t> dead;
  for (std::size_t k = i + 1; k < j; ++k) {
    if (recs_[k].v.type == RecordType::kSubRollback) dead.push_back(recs_[k].v.sub_id);
  }
  std::sort(dead.begin(), dead.end());
  // Walk the events with their offsets; mark the covered ones.
  drop_.assign(j - i, 0);
  std::vector<bool> alive{true};
  std::uint64_t off = first_offset, live = 0, dropped = 0;
  for (std::size_t k = i + 1; k < j; ++k) {
    const RecordView& v = recs_[k].v;
    switch (v.type) {
      case RecordType::kSubBegin:
        alive.push_back(alive.back() && !std::binary_search(dead.begin(), dead.end(), v.sub_id));
        break;
      case RecordType::kSubCommit:
      case RecordType::kSubRollback:
        if (alive.size() > 1) alive.pop_back();
        break;
      case RecordType::kPadding:
        if (alive.back()) {
          std::uint64_t n = ReadBody<format::PaddingBody>(v).skipped_events;
          off += n;
          live += n;
          dropped += n;
          drop_[k - i] = 1;  // padding merges with neighbouring dropped events
        }
        break;
      case RecordType::kEvent:
        if (alive.back()) {
          ++live;
          if (covered_(topics_[k], off)) {
            drop_[k - i] = 1;
            ++dropped;
          }
          ++off;
        }
        break;
      default: break;
    }
  }
  return {live, dropped};
}

void Rewriter::RebuildPartly(std::size_t i, std::size_t j, const format::CommitBody& cb) {
  const Rec& r = recs_[i];
  const Rec& end = recs_[j];
  // Format 4: the transaction hash over the records as they will be (the
  // kept ones read from the old mapping, which outlives this call); before,
  // the running hash over their checksums.
  const bool hashed = (r.v.flags & format::kFlagHashedTxn) != 0;
  TxnHash th;
  std::uint64_t running = format::RunningHashStep(format::kRunningHashInit, r.v.checksum);
  std::uint64_t count = 1;
  Copy(r.v.lsn, r.end);
  if (hashed) th.Add(seg_->at(r.v.lsn), r.end - r.v.lsn);
  std::size_t k = i + 1;
  while (k < j) {
    if (!drop_[k - i]) {
      Copy(recs_[k].v.lsn, recs_[k].end);
      running = format::RunningHashStep(running, recs_[k].v.checksum);
      if (hashed) th.Add(seg_->at(recs_[k].v.lsn), recs_[k].end - recs_[k].v.lsn);
      ++count;
      ++k;
      continue;
    }
    const RecordView& first = recs_[k].v;
    Padding p{first.lsn, recs_[k].end, 0, first.depth, first.txn_id, first.sub_id, first.epoch};
    while (k < j && drop_[k - i] && recs_[k].v.depth == first.depth && recs_[k].v.sub_id == first.sub_id) {
      const RecordView& v = recs_[k].v;
      p.skipped += v.type == RecordType::kPadding ? ReadBody<format::PaddingBody>(v).skipped_events : 1;
      if (v.type == RecordType::kEvent) ++result_.events_dropped;
      p.end = recs_[k].end;
      ++k;
    }
    // Every event record is at least 56 bytes and every padding 48, so a
    // run always has room for a padding header.
    std::uint64_t c;
    FlushTop();
    pieces_.push_back({p.lsn, PaddingBytes(p, salt_, &c)});
    result_.bytes_freed += p.end - p.lsn - format::kPaddingCheckedSize;
    running = format::RunningHashStep(running, c);
    if (hashed) {  // its header and body, as its checksum (hashed now: the piece may move)
      th.Add(reinterpret_cast<const std::uint8_t*>(pieces_.back().bytes.data()), format::kPaddingCheckedSize);
      th.Settle();
    }
    ++count;
  }
  // Rebuilt commit marker.
  std::string cm(seg_->at(end.v.lsn), seg_->at(end.v.lsn) + end.v.length);
  format::CommitBody nb = cb;
  nb.record_count = count;
  nb.running_hash = hashed ? th.Digest() : running;
  std::memcpy(cm.data() + format::kRecordHeaderSize, &nb, sizeof nb);
  cm[13] = static_cast<char>(static_cast<std::uint8_t>(cm[13]) | format::kFlagRewritten);
  std::uint64_t c = RecordChecksum(cm.data(), end.v.length, salt_, end.v.lsn);
  std::memcpy(cm.data(), &c, 8);
  FlushTop();
  pieces_.push_back({end.v.lsn, std::move(cm)});
}

// The new version under a temporary name, synced, then renamed over the
// segment.
Status Rewriter::Write(FileSystem& fs, mode_t mode) const {
  const std::string path = seg_->path(), tmp = path + ".tmp";
  int fd = -1;
  if (int e = fs.Open(tmp, O_RDWR | O_CREAT | O_TRUNC, mode, &fd)) return Status::FromErrno(e, "create " + tmp);
  auto fail = [&](int e, const std::string& what) -> Status {
    fs.Close(fd);
    fs.Unlink(tmp);
    return Status::FromErrno(e, what + " " + tmp);
  };
  if (Status k = KeepOwnerAndMode(fs, fd, path); !k.ok()) {  // the replaced segment's owner and mode
    (void)fail(0, "");
    return k;
  }
  if (int e = fs.Truncate(fd, seg_->size())) return fail(e, "size");
  if (int e = fs.PWrite(fd, seg_->at(seg_->base()), format::kSegmentHeaderSize, 0)) return fail(e, "write header of");
  for (const Piece& p : pieces_) {
    int e = p.copy ? fs.PWrite(fd, seg_->at(p.lsn), p.copy_end - p.lsn, seg_->file_offset(p.lsn))
                   : fs.PWrite(fd, p.bytes.data(), p.bytes.size(), seg_->file_offset(p.lsn));
    if (e) return fail(e, "write");
  }
  if (int e = fs.DataSync(fd)) return fail(e, "fdatasync");
  fs.Close(fd);
  if (int e = fs.Rename(tmp, path)) {
    fs.Unlink(tmp);
    return Status::FromErrno(e, "rename " + tmp + " over " + path);
  }
  return Status::OK();
}

}  // namespace

Result<RewriteResult> RewriteSegment(const std::shared_ptr<FileSystem>& fs, const std::string& dir,
                                     const ManifestData& m, const std::shared_ptr<Segment>& seg,
                                     const CoveredFn& covered, mode_t mode, std::uint64_t min_freed) {
  Rewriter w(m, seg, covered);
  TXJ_RETURN_IF_ERROR(w.ReadRecords());
  w.Plan();
  if (!w.Changed() || w.result().bytes_freed < min_freed) return w.result();
  TXJ_RETURN_IF_ERROR(w.Write(*fs, mode));
  if (int e = fs->SyncDir(dir)) return Status::FromErrno(e, "sync directory " + dir);
  auto fresh = Segment::Open(fs, dir, seg->name(), m, false);
  if (!fresh.ok()) return fresh.status();
  RewriteResult result = w.result();
  result.segment = std::move(fresh).value();
  return result;
}

}  // namespace txj::internal
