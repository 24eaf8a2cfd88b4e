#include "segment_rewriter.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "checksum.h"
#include "manifest.h"
#include "record.h"

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
  format::RecordHeader h{0, static_cast<std::uint32_t>(p.end - p.lsn), static_cast<std::uint8_t>(RecordType::kPadding),
                         0, p.depth, p.txn_id, p.sub_id, p.epoch};
  format::PaddingBody body{p.skipped, p.last_txn_id};
  std::memcpy(b.data(), &h, sizeof h);
  std::memcpy(b.data() + sizeof h, &body, sizeof body);
  std::uint64_t c = RecordChecksum(b.data(), format::kPaddingCheckedSize, salt, p.lsn);
  std::memcpy(b.data(), &c, 8);
  if (checksum) *checksum = c;
  return b;
}

}  // namespace

Result<RewriteResult> RewriteSegment(const std::shared_ptr<FileSystem>& fs, const std::string& dir,
                                     const ManifestData& m, const std::shared_ptr<Segment>& seg,
                                     const CoveredFn& covered, mode_t mode) {
  const std::uint64_t salt = m.salt();
  RewriteResult result;
  // ---- read every record ----
  std::vector<Rec> recs;
  for (std::uint64_t lsn = seg->first_record_lsn(); lsn < seg->end();) {
    RecordView v;
    DecodeError e = DecodeRecord(seg->at(lsn), seg->end() - lsn, lsn, salt, &v);
    if (e == DecodeError::kZero) break;
    if (e != DecodeError::kNone) {
      return Status::Corruption("cannot compact " + seg->path() + ": " + std::string(DecodeErrorName(e)) + " at byte " +
                                std::to_string(seg->file_offset(lsn)));
    }
    recs.push_back({v, v.next_lsn()});
    if (v.type == RecordType::kSegmentEnd) break;
    lsn = v.next_lsn();
  }
  // ---- plan ----
  std::vector<Piece> pieces;
  std::vector<Padding> top;  // pending top-level paddings (merged when adjacent)
  auto flush_top = [&] {
    for (const auto& p : top) pieces.push_back({p.lsn, PaddingBytes(p, salt, nullptr)});
    top.clear();
  };
  auto add_top = [&](Padding p) {
    if (!top.empty() && top.back().end == p.lsn && p.end - top.back().lsn < 0xfffffff0ull) {
      top.back().end = p.end;
      top.back().skipped += p.skipped;
      top.back().last_txn_id = std::max(top.back().last_txn_id, p.last_txn_id);
    } else {
      top.push_back(p);
    }
  };
  auto copy = [&](std::uint64_t from, std::uint64_t to) {
    flush_top();
    if (!pieces.empty() && pieces.back().copy && pieces.back().copy_end == from) {
      pieces.back().copy_end = to;
    } else {
      pieces.push_back({from, {}, true, to});
    }
  };
  std::size_t i = 0;
  while (i < recs.size()) {
    const Rec& r = recs[i];
    if (r.v.type == RecordType::kPadding && r.v.depth == 0 && r.v.txn_id == 0) {
      const auto body = ReadBody<format::PaddingBody>(r.v);
      add_top({r.v.lsn, r.end, body.skipped_events, 0, 0, 0, r.v.epoch, body.last_txn_id});
      ++i;
      continue;
    }
    if (r.v.type != RecordType::kBegin) {  // segment end, or the tail of a transaction begun earlier
      copy(r.v.lsn, r.end);
      ++i;
      continue;
    }
    // A transaction: find its end marker in this segment.
    std::size_t j = i + 1;
    while (j < recs.size() && recs[j].v.type != RecordType::kCommit && recs[j].v.type != RecordType::kRollback) ++j;
    if (j == recs.size() || recs[j].v.txn_id != r.v.txn_id) {  // continues in the next segment: keep it
      for (; i < recs.size(); ++i) copy(recs[i].v.lsn, recs[i].end);
      break;
    }
    const Rec& end = recs[j];
    if (end.v.type == RecordType::kRollback) {
      add_top({r.v.lsn, end.end, 0, 0, 0, 0, r.v.epoch, r.v.txn_id});
      result.bytes_freed += end.end - r.v.lsn;
      i = j + 1;
      continue;
    }
    auto cb = ReadBody<format::CommitBody>(end.v);
    // Which sub-transactions were rolled back.
    std::vector<std::uint32_t> dead;
    for (std::size_t k = i + 1; k < j; ++k) {
      if (recs[k].v.type == RecordType::kSubRollback) dead.push_back(recs[k].v.sub_id);
    }
    std::sort(dead.begin(), dead.end());
    // Walk the events with their offsets; mark the covered ones.
    std::vector<char> drop(j - i, 0);
    std::vector<bool> alive{true};
    std::uint64_t off = cb.first_offset, live = 0, dropped = 0;
    for (std::size_t k = i + 1; k < j; ++k) {
      const RecordView& v = recs[k].v;
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
            drop[k - i] = 1;  // padding merges with neighbouring dropped events
          }
          break;
        case RecordType::kEvent:
          if (alive.back()) {
            ++live;
            if (covered(DecodeEventBody(v).topic, off)) {
              drop[k - i] = 1;
              ++dropped;
            }
            ++off;
          }
          break;
        default: break;
      }
    }
    bool any_event_dropped = false;
    for (std::size_t k = i + 1; k < j; ++k) {
      if (drop[k - i] && recs[k].v.type == RecordType::kEvent) any_event_dropped = true;
    }
    if (live > 0 && dropped == live && live == cb.event_count && end.end - r.v.lsn < 0xfffffff0ull) {
      add_top({r.v.lsn, end.end, cb.event_count, 0, 0, 0, r.v.epoch, r.v.txn_id});
      result.bytes_freed += end.end - r.v.lsn;
      result.events_dropped += cb.event_count;
      i = j + 1;
      continue;
    }
    if (!any_event_dropped) {
      copy(r.v.lsn, end.end);
      i = j + 1;
      continue;
    }
    // Partly covered: runs of dropped records at one level become paddings;
    // the commit marker is rebuilt to cover the records as they now are.
    std::uint64_t running = format::RunningHashStep(format::kRunningHashInit, r.v.checksum);
    std::uint64_t count = 1;
    copy(r.v.lsn, r.end);
    std::size_t k = i + 1;
    while (k < j) {
      if (!drop[k - i]) {
        copy(recs[k].v.lsn, recs[k].end);
        running = format::RunningHashStep(running, recs[k].v.checksum);
        ++count;
        ++k;
        continue;
      }
      const RecordView& first = recs[k].v;
      Padding p{first.lsn, recs[k].end, 0, first.depth, first.txn_id, first.sub_id, first.epoch};
      while (k < j && drop[k - i] && recs[k].v.depth == first.depth && recs[k].v.sub_id == first.sub_id) {
        const RecordView& v = recs[k].v;
        p.skipped += v.type == RecordType::kPadding ? ReadBody<format::PaddingBody>(v).skipped_events : 1;
        if (v.type == RecordType::kEvent) ++result.events_dropped;
        p.end = recs[k].end;
        ++k;
      }
      // Every event record is at least 56 bytes and every padding 48, so a
      // run always has room for a padding header.
      std::uint64_t c;
      flush_top();
      pieces.push_back({p.lsn, PaddingBytes(p, salt, &c)});
      result.bytes_freed += p.end - p.lsn - format::kPaddingCheckedSize;
      running = format::RunningHashStep(running, c);
      ++count;
    }
    // Rebuilt commit marker.
    std::string cm(seg->at(end.v.lsn), seg->at(end.v.lsn) + end.v.length);
    format::CommitBody nb = cb;
    nb.record_count = count;
    nb.running_hash = running;
    std::memcpy(cm.data() + format::kRecordHeaderSize, &nb, sizeof nb);
    cm[13] = static_cast<char>(static_cast<std::uint8_t>(cm[13]) | format::kFlagRewritten);
    std::uint64_t c = RecordChecksum(cm.data(), end.v.length, salt, end.v.lsn);
    std::memcpy(cm.data(), &c, 8);
    flush_top();
    pieces.push_back({end.v.lsn, std::move(cm)});
    i = j + 1;
  }
  flush_top();
  if (result.bytes_freed == 0 && result.events_dropped == 0) return result;
  // ---- write the new file ----
  std::string path = seg->path(), tmp = path + ".tmp";
  int fd = -1;
  if (int e = fs->Open(tmp, O_RDWR | O_CREAT | O_TRUNC, mode, &fd)) return Status::FromErrno(e, "create " + tmp);
  auto fail = [&](int e, const std::string& what) -> Status {
    fs->Close(fd);
    fs->Unlink(tmp);
    return Status::FromErrno(e, what + " " + tmp);
  };
  if (Status k = KeepOwnerAndMode(*fs, fd, path); !k.ok()) {  // the replaced segment's owner and mode
    (void)fail(0, "");
    return k;
  }
  if (int e = fs->Truncate(fd, seg->size())) return fail(e, "size");
  if (int e = fs->PWrite(fd, seg->at(seg->base()), format::kSegmentHeaderSize, 0)) return fail(e, "write header of");
  for (const Piece& p : pieces) {
    int e = p.copy ? fs->PWrite(fd, seg->at(p.lsn), p.copy_end - p.lsn, seg->file_offset(p.lsn))
                   : fs->PWrite(fd, p.bytes.data(), p.bytes.size(), seg->file_offset(p.lsn));
    if (e) return fail(e, "write");
  }
  if (int e = fs->DataSync(fd)) return fail(e, "fdatasync");
  fs->Close(fd);
  if (int e = fs->Rename(tmp, path)) {
    fs->Unlink(tmp);
    return Status::FromErrno(e, "rename " + tmp + " over " + path);
  }
  if (int e = fs->SyncDir(dir)) return Status::FromErrno(e, "sync directory " + dir);
  auto fresh = Segment::Open(fs, dir, seg->name(), m, false);
  if (!fresh.ok()) return fresh.status();
  result.segment = std::move(fresh).value();
  return result;
}

}  // namespace txj::internal
