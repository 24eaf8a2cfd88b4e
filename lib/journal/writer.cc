// The write path of JournalState: appending records, rolling segments,
// group commit, and the background thread.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "checksum.h"
#include "compaction_hook.h"
#include "cursor_impl.h"
#include "journal_state.h"
#include "reclaim.h"
#include "record_append.h"

namespace txj::internal {

Status JournalState::CheckUsable() const {
  if (has_failed.load(std::memory_order_acquire)) {
    auto* self = const_cast<JournalState*>(this);
    std::lock_guard<std::mutex> lock(self->sync_mu);
    return failed;
  }
  return Status::OK();
}

Status JournalState::RecordTooLarge(std::uint64_t len) const {
  return Status::InvalidArgument(
      "record of " + std::to_string(len) + " bytes does not fit a segment of " +
        std::to_string(manifest.segment_size) + " bytes, whose largest record is " +
        std::to_string(max_record_size()) + " bytes (" + std::to_string(format::kRecordHeaderSize) +
        "-byte header included; an event's body adds " + std::to_string(sizeof(format::EventBody)) +
        " bytes plus its topic, type, key and payload); the segment size is fixed when the journal " + dir +
        " is created (Options::segment_size)");
}

Status JournalState::FailClosed(const Status& cause) {
  Status f;
  {
    std::lock_guard<std::mutex> lock(sync_mu);
    if (failed.ok()) {
      failed = Status::Failed("journal " + dir + " failed closed: " + cause.ToString() +
                              "; nothing more is accepted, reopen it to recover");
      has_failed.store(true, std::memory_order_release);
    }
    sync_cv.notify_all();
    f = failed;
  }
  // A writer waiting in Roll for the next segment must see the failure: the
  // background thread prepares none once the journal failed. Taking bg_mu
  // orders this wake-up after the writer's check of has_failed (no caller
  // holds bg_mu, and sync_mu is released first: bg_mu comes before it).
  { std::lock_guard<std::mutex> lock(bg_mu); }
  bg_cv.notify_all();
  return f;
}

Status JournalState::Append(RecordType type, std::uint8_t flags, std::uint16_t depth, std::uint64_t txn_id,
                            std::uint32_t sub_id, const Part* parts, std::size_t nparts, bool use_reserve,
                            std::uint64_t* lsn, std::uint64_t* checksum, std::uint8_t** fill) {
  std::uint64_t len = format::kRecordHeaderSize;
  for (std::size_t i = 0; i < nparts; ++i) {
    len += parts[i].size;
    // Not vectorized: the caller has just stored `parts` 8 bytes at a time,
    // and 16-byte loads across two of those stores miss store forwarding
    // (perf: the vectorized sum was 13% of this function).
    asm("" : "+r"(len));
  }
  std::uint8_t* p = nullptr;
  std::uint64_t size = 0;
  TXJ_RETURN_IF_ERROR(StartRecord(type, flags, depth, txn_id, sub_id, len, use_reserve, &p, &size));
  std::uint8_t* q = p + format::kRecordHeaderSize;
  for (std::size_t i = 0; i < nparts; ++i) {
    if (fill && i + 1 == nparts) [[unlikely]] {
      *fill = q;
      LeaveRecordOpen(size, lsn, checksum);
      return Status::OK();
    }
    if (parts[i].size) std::memcpy(q, parts[i].data, parts[i].size);
    q += parts[i].size;
  }
  if ((type == RecordType::kCommit || type == RecordType::kRollback) && txn_begin_lsn != nullptr) [[unlikely]] {
    // A transaction's end marker names its begin marker where it is now: a
    // roll above wrote the stage, which may have moved the begin marker past
    // a gap after the caller built the body.
    const std::size_t at = type == RecordType::kCommit ? offsetof(format::CommitBody, begin_lsn)
                                                       : offsetof(format::RollbackBody, begin_lsn);
    std::memcpy(p + format::kRecordHeaderSize + at, txn_begin_lsn, sizeof *txn_begin_lsn);
  }
  if (type == RecordType::kCommit && txn_hash) [[unlikely]] {
    // The transaction hash, taken here, at the marker's final place: a
    // flush or a roll above may have moved the records before it.
    const std::uint64_t th = txn_hash->Digest();
    std::memcpy(p + format::kRecordHeaderSize + offsetof(format::CommitBody, running_hash), &th, sizeof th);
  }
  FinishRecord(p, type, len, size, lsn, checksum);
  return Status::OK();
}

std::uint64_t JournalState::FinishClaimed(std::uint64_t lsn, bool cancel) {
  std::uint8_t* p = staging ? stage.data() + (lsn - stage_lsn) : active->at(lsn);
  format::RecordHeader h;
  std::memcpy(&h, p, sizeof h);
  std::uint32_t checked = h.length;
  if (cancel) {
    h.type = static_cast<std::uint8_t>(RecordType::kPadding);
    h.flags = 0;
    const format::PaddingBody body{0, 0};
    std::memcpy(p + sizeof h, &body, sizeof body);
    checked = format::kPaddingCheckedSize;
  }
  std::memcpy(p, &h, sizeof h);
  const std::uint64_t c = RecordChecksum(p, checked, salt, lsn);
  std::memcpy(p, &c, sizeof c);
  last_record_checksum = c;
  if (txn_hash) txn_hash->Add(p, cancel ? format::kPaddingCheckedSize : format::AlignUp(h.length));
  return c;
}

Status JournalState::PlanNames(std::uint64_t names, std::uint64_t ref_size, NamePlan* plan) {
  const std::uint64_t names_len = format::kRecordHeaderSize + sizeof(format::NamesBody) + names;
  const std::uint64_t both = format::AlignUp(names_len) + ref_size;
  const std::uint64_t reserve = kTailReserve + gap_reserve();
  // (Only when they fit in a segment: else the names go inline here.)
  if (pos + both + reserve > active->end() && both + gap_reserve() <= max_record_size()) {
    // As StartRecord would for the event: the segment ends first.
    if (has_failed.load(std::memory_order_acquire)) return CheckUsable();
    TXJ_RETURN_IF_ERROR(Roll());
  }
  if (pos + both + reserve > active->end()) return Status::OK();  // inline: they fit in no segment
  // Not bound in this segment: AppendEvent took the bound pairs that fit,
  // and a pair bound here that did not fit is in a new segment now.
  if (names_segment != active->base()) {
    names_segment = active->base();
    next_name_id = 0;
  }
  if (next_name_id >= format::kMaxNameIds) return Status::OK();  // inline
  plan->id = static_cast<std::uint16_t>(next_name_id);
  plan->names = 0;
  plan->names_len = names_len;
  plan->names_size = format::AlignUp(names_len);
  return Status::OK();
}

void JournalState::PadToPage() {
  constexpr std::uint64_t kPage = 4096;
  const std::uint64_t boundary = (pos + kPage - 1) & ~(kPage - 1);
  if (boundary == pos) return;
  std::uint64_t len = boundary - pos;
  if (len < format::kPaddingCheckedSize) len += kPage;  // no room for a padding record: take the next page too
  if (pos + len + kTailReserve > active->end()) {
    // No room left for more than the reserve: end the segment now, so its
    // end marker goes into this page before the commit's sync. If that
    // fails the next append rolls (and writes the marker then).
    (void)Roll();
    return;
  }
  // Only the header and the padding body are written (and checksummed);
  // the rest of the page stays as the preallocated file has it (zeros, also
  // from the stage).
  std::uint8_t* p = WriteAt(len);
  if (staging) std::memset(p, 0, len);
  format::RecordHeader h{0, static_cast<std::uint32_t>(len), static_cast<std::uint8_t>(RecordType::kPadding), 0, 0,
                         0, 0, epoch};
  const format::PaddingBody body{0, 0};
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof h, &body, sizeof body);
  const std::uint64_t c = RecordChecksum(p, format::kPaddingCheckedSize, salt, pos);
  std::memcpy(p, &c, sizeof c);
  pos += len;
}

void JournalState::StartStaging() {
  if (staging) return;
  // What the transaction wrote through the mapping is final: hash it now,
  // the stage's records are added from here on.
  if (txn_hash && !txn_ending) txn_hash->Settle();
  if (stage.empty()) stage.resize(kStageSize);
  staging = true;
  stage_lsn = pos;
}

void JournalState::EndStaging(std::uint64_t txn_bytes) {
  if (stage_always) return;
  stage_next = txn_bytes >= kSpillBytes;
  // Bytes left in the stage (a failed flush: the journal failed closed)
  // stay where they are.
  if (!staging || pos != stage_lsn) return;
  staging = false;
  ready_end = 0;  // the next write through the mapping asks the ahead thread again
}

Status JournalState::Flush() {
  if (!staging || pos == stage_lsn) return Status::OK();
  std::unique_lock<std::mutex> freeze;
  if (gaps) {
    freeze = std::unique_lock<std::mutex>(freeze_mu);
    // The page at stage_lsn holds bytes a sync has begun to cover: go on at
    // the next page (the reserve at the segment's end keeps room for it;
    // without the room, as in a tail left by a format 1 writer, in place).
    if (stage_lsn % format::kPageSize != 0 && frozen_end > format::PageDown(stage_lsn) &&
        format::PageUp(stage_lsn) + (pos - stage_lsn) + kSegmentEndSize <= active->end()) {
      MoveStagedPastGap();
    }
  }
  const std::uint64_t n = pos - stage_lsn;
  // Without commit durability the blocks are reserved (fallocate) a step
  // at a time (Segment::kReserveStep, never more than one step past what
  // is written), as writes through the mapping have them: a pwrite into
  // reserved blocks skips ext4's delayed allocation, page by page (append
  // 100 B x 100: 0.70-0.79 -> 0.86-0.93 of pwrite into a fallocated file;
  // docs/performance.md, twenty-third session). Durable writes keep their
  // zeros ahead (ZeroAhead). A failed reservation is left to the write,
  // which reports a full disk itself.
  if (!stage_always && pos > active->reserved_end()) (void)active->Reserve(pos);
  // In a reused file's written blocks a durable write ends at a page
  // boundary, the rest of its last page zeros: the old segment's pages
  // were dropped from the cache (Segment::PrepareOverwrite), and a write
  // of part of a page not cached makes the kernel read the page from the
  // disk first. Past `pos` nothing is written yet (the next write there
  // overwrites the zeros), and no page a sync began to cover is written
  // (MoveStagedPastGap above).
  std::uint64_t w = n;
  if (stage_always && pos % format::kPageSize != 0 && format::PageUp(pos) <= active->written_end()) {
    w = n + (format::PageUp(pos) - pos);
    if (stage.size() < w) {  // a stage sized to a large record, or full
      const std::uint8_t* old = stage.data();
      const std::size_t old_size = stage.size();
      stage.resize(w);
      if (txn_hash) txn_hash->Rebase(old, old_size, stage.data());
    }
    std::memset(stage.data() + n, 0, w - n);
  }
  if (int e = fs->PWrite(active->fd(), stage.data(), w, active->file_offset(stage_lsn))) {
    return FailClosed(Status::FromErrno(e, "write " + std::to_string(w) + " bytes to " + active->path() + " at byte " +
                                               std::to_string(active->file_offset(stage_lsn))));
  }
  stage_lsn = pos;
  if (gaps) written_end = pos;
  // The stage's bytes are final now and the stage is reused: the open
  // transaction's hash takes them in (or, once its end marker is written,
  // is needed no more).
  if (txn_hash) {
    if (txn_ending) {
      txn_hash->Reset();
    } else {
      txn_hash->Settle();
    }
  }
  return Status::OK();
}

Status JournalState::EndSegmentIfFull() {
  const std::uint64_t smallest = format::AlignUp(format::kRecordHeaderSize + sizeof(format::BeginBody));
  // The next transaction starts past this page once the commit's sync began.
  if (format::PageUp(pos) + smallest + kTailReserve + gap_reserve() <= active->end()) return Status::OK();
  // Once the sync began, the segment-end marker written later goes past
  // this page, or, without room for that, into it: a page holding this
  // acknowledged commit, which a power loss during that write can tear
  // (the power-loss soak lost a commit so). Without that room the segment
  // ends now, before the sync, waiting for the next segment if it must.
  const bool marker_moves_later = format::PageUp(pos) + 2 * kSegmentEndSize <= active->end();
  if (marker_moves_later) {
    // Only when the next segment is ready: a commit does not wait for it,
    // and a failed preparation is left for the next append to report (its
    // roll writes the marker past this page).
    std::lock_guard<std::mutex> lock(bg_mu);
    if (!prepared || !prepare_error.ok()) return Status::OK();
  }
  Status r = Roll();
  if (r.ok() || marker_moves_later) return Status::OK();  // if it failed, the next append rolls
  // No segment to go on in (its preparation failed: no space, say): the
  // marker could only be written later into this commit's page, after the
  // sync. The commit is not acknowledged and nothing more is written.
  return FailClosed(r.WithContext(
      "the segment-end marker of " + active->path() + " has no room past the page of the commit ending at byte " +
      std::to_string(active->file_offset(pos)) + ", so the segment must end before its sync"));
}

void JournalState::MoveStagedPastGap() {
  const std::uint64_t to = format::PageUp(stage_lsn);
  const std::uint64_t d = to - stage_lsn;
  for (std::uint64_t at = stage_lsn; at < pos;) {
    std::uint8_t* p = stage.data() + (at - stage_lsn);
    format::RecordHeader h;
    std::memcpy(&h, p, sizeof h);
    const auto type = static_cast<RecordType>(h.type);
    if (at == stage_lsn) h.flags |= format::kFlagFollowsGap;
    std::memcpy(p, &h, sizeof h);
    if (type == RecordType::kCommit) {
      // Its begin marker moved too when it was staged (it is written with
      // the rest of the transaction), and its transaction hash covers the
      // records before it: their bytes (new checksums, the gap flag) are in
      // place already, and the hash reads them now.
      format::CommitBody b;
      std::memcpy(&b, p + sizeof h, sizeof b);
      if (b.begin_lsn >= stage_lsn) b.begin_lsn += d;
      if (txn_hash) b.running_hash = txn_hash->Digest();
      std::memcpy(p + sizeof h, &b, sizeof b);
    } else if (type == RecordType::kRollback) {
      format::RollbackBody b;
      std::memcpy(&b, p + sizeof h, sizeof b);
      if (b.begin_lsn >= stage_lsn) b.begin_lsn += d;
      std::memcpy(p + sizeof h, &b, sizeof b);
    }
    const std::uint32_t checked = type == RecordType::kPadding ? format::kPaddingCheckedSize : h.length;
    const std::uint64_t c = RecordChecksum(p, checked, salt, at + d);
    std::memcpy(p, &c, sizeof c);
    if (at == last_record_lsn) last_record_checksum = c;
    if (type == RecordType::kBegin && txn_begin_lsn) *txn_begin_lsn = at + d;
    at += format::AlignUp(h.length);
  }
  if (last_record_lsn >= stage_lsn) last_record_lsn += d;
  pos += d;
  stage_lsn = to;
}

void JournalState::ZeroAhead(std::uint64_t txn_bytes) {
  constexpr std::uint64_t kPage = 4096;
  const std::uint64_t page_end = (pos + kPage - 1) & ~(kPage - 1);
  // A new segment starts past the old one's end; a reused file's written
  // blocks need no zeros (Segment::written_end).
  zeroed_end = std::max({zeroed_end, page_end, active->written_end()});
  // A large transaction pays its allocation once for many pages: zeros
  // would only double its bytes. Small ones refill the window when it runs
  // low.
  if (txn_bytes >= kZeroAheadStep || zeroed_end - pos >= kZeroAheadStep / 4) return;
  const std::uint64_t to = std::min(zeroed_end + kZeroAheadStep, active->end());
  static const std::uint8_t kZeros[kPage] = {};
  // Page by page: one large write of zeros lands in a large page-cache
  // folio, and every later small commit into it would write the whole folio
  // back. A failed write of zeros loses nothing (the commit's own write
  // reports the error when it comes): stop zeroing.
  for (std::uint64_t at = zeroed_end; at + kPage <= to; at += kPage) {
    if (fs->PWrite(active->fd(), kZeros, kPage, active->file_offset(at)) != 0) return;
    zeroed_end = at + kPage;
  }
}

Status JournalState::MakeRoom(std::uint64_t need) {
  if (need > active->reserved_end()) {
    // The ahead thread is behind (or this is the first write after opening):
    // reserve here. A failure is the caller's error, nothing was written.
    if (!active->Reserve(need + kAheadWindow).ok()) TXJ_RETURN_IF_ERROR(active->Reserve(need));
  }
  {
    std::lock_guard<std::mutex> lock(ahead_mu);
    ahead_seg = active;
    ahead_target = pos + kAheadWindow;
  }
  ahead_cv.notify_one();
  ready_end = std::min(active->reserved_end(), std::max(need, pos + kAheadChunk));
  return Status::OK();
}

void JournalState::AheadLoop() {
  std::unique_lock<std::mutex> lock(ahead_mu);
  std::shared_ptr<Segment> seg;
  std::uint64_t done = 0;
  for (;;) {
    ahead_cv.wait(lock, [&] { return ahead_stop || (ahead_seg && (ahead_seg != seg || ahead_target > done)); });
    if (ahead_stop) break;
    const std::uint64_t target = ahead_target;
    if (ahead_seg != seg) {
      seg = ahead_seg;
      done = 0;
    }
    lock.unlock();
    // A failed reservation is left to the writer, which reserves itself
    // before it writes and reports the error.
    if (seg->Reserve(target).ok()) {
      const std::uint64_t from = std::max(done, target > kAheadWindow ? target - kAheadWindow : 0);
      seg->Prefault(from, target);
      // A target past the segment's end is done once all of it is reserved
      // (otherwise the wait above would return at once, forever).
      done = std::max(done, seg->reserved_end() >= seg->end() ? target : std::min(target, seg->reserved_end()));
    } else {
      done = target;  // do not spin on it
    }
    lock.lock();
  }
  seg.reset();
  ahead_seg.reset();
}

int JournalState::RetireFile(const Segment& seg, bool* kept) {
  *kept = false;
  {
    std::lock_guard<std::mutex> lock(free_mu);
    if (free_files.size() < options.recycled_segments) {
      const std::string to = JoinPath(dir, RetiredFileName(seg.base()));
      if (fs->Rename(seg.path(), to) == 0) {
        free_files.push_back(to);
        *kept = true;
        return 0;
      }
    }
  }
  const int e = fs->Unlink(seg.path());
  return e == ENOENT ? 0 : e;
}

Result<std::shared_ptr<Segment>> JournalState::NewSegment(std::uint64_t base) {
  std::vector<std::string> busy;
  for (;;) {
    std::string file;
    {
      std::lock_guard<std::mutex> lock(free_mu);
      for (const auto& f : free_files) {
        if (std::find(busy.begin(), busy.end(), f) == busy.end()) {
          file = f;
          break;
        }
      }
    }
    if (file.empty()) break;
    auto r = Segment::Recycle(fs, dir, manifest, base, file, segment_writes());
    if (!r.ok() && r.status().code() == Code::kBusy) {
      busy.push_back(file);  // a reader still maps it: later
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(free_mu);
      std::erase(free_files, file);
    }
    if (r.ok()) return r;
    // Not reusable (another size, an I/O error, a file system that cannot
    // tell who has it open): removed, and a new file instead.
    (void)fs->Unlink(file);
  }
  return Segment::Create(fs, dir, manifest, base, options.file_mode, segment_writes());
}

Status JournalState::Roll() {
  // The segment-end marker's page must be reserved like any other.
  if (pos + kSegmentEndSize > active->reserved_end()) {
    TXJ_RETURN_IF_ERROR(active->Reserve(pos + kSegmentEndSize).WithContext("cannot end segment " + active->path()));
  }
  std::shared_ptr<Segment> next;
  {
    std::unique_lock<std::mutex> lock(bg_mu);
    if (without_threads && !prepared) {  // no background thread prepares it
      auto r = NewSegment(prepare_base);
      if (!r.ok()) return r.status().WithContext("cannot continue in a new segment after " + active->path());
      prepared = std::move(r).value();
    }
    bg_cv.notify_all();
    // has_failed: the journal failed closed after this writer's CheckUsable
    // (a seal's sync failed, say); the background thread prepares nothing
    // from then on, so waiting only for a segment would wait forever.
    bg_cv.wait(
        lock, [&] { return prepared || !prepare_error.ok() || bg_stop || has_failed.load(std::memory_order_acquire); });
    if (!prepared && prepare_error.ok() && !bg_stop) {
      lock.unlock();
      return CheckUsable().WithContext("cannot continue in a new segment after " + active->path());
    }
    if (!prepared) {
      Status e = prepare_error.ok() ? Status::Closed("journal " + dir + " is closing") : prepare_error;
      prepare_error = Status::OK();  // the background thread tries again
      bg_cv.notify_all();
      return e.WithContext("cannot continue in a new segment after " + active->path());
    }
    next = std::move(prepared);
    // In the same critical section: the background thread must never see
    // the slot empty with the old base, or it would prepare this segment again.
    prepare_base = next->end();
  }
  // The segment-end marker uses the reserve kept at the end of every segment.
  if (pos + kSegmentEndSize > active->end()) {
    return Status::Corruption("internal error: no room for the segment-end marker in " + active->path() + " at byte " +
                              std::to_string(active->file_offset(pos)));
  }
  format::RecordHeader h{0, format::kRecordHeaderSize, static_cast<std::uint8_t>(RecordType::kSegmentEnd), 0,
                         0, 0, 0, epoch};
  std::uint8_t* p = WriteAt(format::kRecordHeaderSize);
  std::memcpy(p, &h, sizeof h);
  const std::uint64_t c = RecordChecksum(p, format::kRecordHeaderSize, salt, pos);
  std::memcpy(p, &c, sizeof c);
  if (staging) {
    pos += format::kRecordHeaderSize;
    Status f = Flush();
    pos -= format::kRecordHeaderSize;
    // Failed closed; the unused next segment is left for recovery (it
    // keeps or removes an empty segment past the tail).
    if (!f.ok()) return f;
  }
  // The open transaction's bytes in the mapping of the segment it leaves.
  if (txn_hash && !staging && !txn_ending) txn_hash->Settle();
  std::shared_ptr<Segment> old = active;
  segments->Add(next);
  Boundary b;
  {
    std::lock_guard<std::mutex> lock(sync_mu);
    unsynced.push_back(next);
    b = last_boundary;
  }
  active = next;
  pos = next->first_record_lsn();
  stage_lsn = pos;
  ready_end = 0;  // the next append asks the ahead thread for the new segment
  {
    std::lock_guard<std::mutex> lock(bg_mu);
    to_seal.push_back({old, b, std::chrono::steady_clock::now()});
    bg_cv.notify_all();
  }
  return Status::OK();
}

void JournalState::Publish(std::uint64_t visible_lsn, std::uint64_t next_off) {
  // REQUIRES: sync_mu held (publications are ordered).
  if (visible_lsn <= visible.load(std::memory_order_relaxed)) return;
  visible_next_offset.store(next_off, std::memory_order_relaxed);
  visible.store(visible_lsn, std::memory_order_release);
  head.Publish(visible_lsn, next_off);
}

void JournalState::NoteBoundary(const Boundary& b, std::uint64_t begin_lsn, std::uint64_t first_offset) {
  {
    std::lock_guard<std::mutex> lock(sync_mu);
    commit_end = b.lsn;
    last_boundary = b;
    ++commits_noted;
    if (gathering) gather_cv.notify_one();
    if (options.durability != Durability::kCommit) Publish(b.lsn, b.next_offset);
  }
  if (b.next_offset > first_offset &&
      (!index_any || first_offset >= last_index_offset + 1024 || begin_lsn >= last_index_lsn + (256u << 10))) {
    std::lock_guard<std::mutex> lock(index_mu);
    index[first_offset] = begin_lsn;
    index_pending.emplace_back(first_offset, begin_lsn);
    last_index_offset = first_offset;
    last_index_lsn = begin_lsn;
    index_any = true;
  }
}

void JournalState::GatherCommits(std::unique_lock<std::mutex>& lock) {
  if (last_sync_batch < 2) return;
  const auto deadline = std::chrono::steady_clock::now() + last_sync_time;
  gathering = true;
  while ((commits_noted - commits_at_sync < last_sync_batch || slot_demand.load(std::memory_order_acquire) > 0) &&
         failed.ok()) {
    if (gather_cv.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  gathering = false;
}

Status JournalState::SyncTo(std::uint64_t target, bool commit) {
  std::unique_lock<std::mutex> lock(sync_mu);
  for (;;) {
    if (!failed.ok()) return failed;
    if (synced_lsn >= target) return Status::OK();
    if (syncing) {
      sync_cv.wait(lock);
      continue;
    }
    syncing = true;
    if (commit) GatherCommits(lock);
    const std::uint64_t batch = commits_noted - commits_at_sync;
    commits_at_sync = commits_noted;
    const auto started = std::chrono::steady_clock::now();
    const std::uint64_t t = std::max(target, commit_end);
    const std::uint64_t prev = synced_lsn;
    const Boundary b = last_boundary;
    std::vector<std::shared_ptr<Segment>> segs = unsynced;
    lock.unlock();
    if (gaps) {
      // From here on, no write touches a page this sync may make hold an
      // acknowledged commit (Flush moves past it).
      std::lock_guard<std::mutex> freeze(freeze_mu);
      frozen_end = std::max(frozen_end, written_end);
    }
    Status s;
    for (const auto& seg : segs) {
      if (seg->base() >= t) continue;
      // Lags one sync behind: it states what an earlier sync made durable.
      // Raised in steps, so most syncs write back only the data pages.
      if (prev > seg->base() && prev <= seg->end() && prev >= seg->watermark(salt) + kWatermarkStep) {
        seg->raise_watermark(prev, epoch, salt);
      }
      s = seg->Sync();
      if (!s.ok()) break;
    }
    lock.lock();
    syncing = false;
    if (commit) {
      last_sync_batch = batch;
      last_sync_time = std::chrono::steady_clock::now() - started;
    }
    if (!s.ok()) {
      lock.unlock();
      return FailClosed(s);
    }
    if (t > synced_lsn) synced_lsn = t;
    synced_offset = std::max(synced_offset, b.next_offset);
    std::erase_if(unsynced, [&](const std::shared_ptr<Segment>& seg) { return seg->end() <= t; });
    Publish(b.lsn, b.next_offset);
    sync_cv.notify_all();
  }
}

void JournalState::WriteCheckpoint(const Boundary& b) {
  if (!catalog || b.lsn == 0) return;
  // Compaction is rewriting a segment, retention dropping some (or the
  // other background thread is writing a checkpoint): skip; the next
  // checkpoint comes soon, DropFront writes the skipped one when it needs
  // it, and close() holds compaction off and stops those threads, so the
  // last one is written.
  std::unique_lock<std::mutex> cp_lock(checkpoint_mu, std::try_to_lock);
  if (!cp_lock.owns_lock()) {
    std::lock_guard<std::mutex> lock(sync_mu);
    if (b.lsn > missed_checkpoint.lsn) missed_checkpoint = b;
    return;
  }
  (void)WriteCheckpointLocked(b);
}

bool JournalState::WriteCheckpointLocked(const Boundary& b) {
  if (!catalog || b.lsn == 0 || b.lsn <= last_checkpoint_lsn) return false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  {
    std::lock_guard<std::mutex> lock(index_mu);
    for (const auto& e : index_pending) {
      if (e.second < b.lsn) entries.push_back(e);
    }
  }
  // The topics table follows commits here only when an automatic compaction
  // policy needs the counts (compaction's door writes the checkpoint with
  // them); otherwise topics() catches it up on demand, so the writer's
  // machine does not read every event twice.
  const Checkpoint& cp = b;
  auto write = [&](const std::map<std::string, TopicStats>& topics, std::uint64_t topics_offset) {
    return catalog->PutCheckpoint(cp, entries, topics, topics_offset).ok();
  };
  const bool written = compaction_follows.load(std::memory_order_acquire) ? compaction->AtCheckpoint(b.next_offset, write)
                                                                          : write({}, 0);
  if (written) {
    last_checkpoint_lsn = b.lsn;
    last_checkpoint_prev_lsn = b.prev_lsn;
    std::lock_guard<std::mutex> lock(index_mu);
    std::erase_if(index_pending, [&](const auto& e) { return e.second < b.lsn; });
  }
  // A failed catalog write loses nothing: the catalog is derived and the
  // next open scans further.
  return written;
}

bool JournalState::WriteNewestCheckpoint() {
  Boundary b;
  {
    std::lock_guard<std::mutex> lock(sync_mu);
    b = missed_checkpoint;
    if (last_boundary.lsn <= synced_lsn && last_boundary.lsn > b.lsn) b = last_boundary;
  }
  return WriteCheckpointLocked(b);
}

JournalState::~JournalState() {
  if (compaction) compaction->Stop();
  StopBackground();
}

void JournalState::StartBackground() {
  bg = std::thread([this] { BackgroundLoop(); });
  sealer = std::thread([this] { SealLoop(); });
  ahead = std::thread([this] { AheadLoop(); });
}

void JournalState::StopBackground() {
  {
    std::lock_guard<std::mutex> lock(bg_mu);
    bg_stop = true;
    bg_cv.notify_all();
  }
  if (bg.joinable()) bg.join();
  if (sealer.joinable()) sealer.join();
  {
    std::lock_guard<std::mutex> lock(ahead_mu);
    ahead_stop = true;
  }
  ahead_cv.notify_all();
  if (ahead.joinable()) ahead.join();
}

void JournalState::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  auto next_periodic = Clock::now() + options.sync_interval;
  auto next_checkpoint = Clock::now() + std::chrono::milliseconds(500);
  std::unique_lock<std::mutex> lock(bg_mu);
  for (;;) {
    // A writer may be waiting for the next segment: prepare it first.
    if (!bg_stop && !prepared && prepare_error.ok() && prepare_base != 0 && !has_failed.load()) {
      const std::uint64_t base = prepare_base;
      lock.unlock();
      auto r = NewSegment(base);
      lock.lock();
      if (r.ok()) {
        prepared = std::move(r).value();
      } else {
        prepare_error = r.status();
      }
      bg_cv.notify_all();
      continue;
    }
    if (bg_stop) break;
    const auto now = Clock::now();
    if (options.durability == Durability::kPeriodic && now >= next_periodic) {
      lock.unlock();
      std::uint64_t target;
      {
        std::lock_guard<std::mutex> sl(sync_mu);
        target = commit_end;
      }
      (void)SyncTo(target);  // a failure fails the journal closed
      next_periodic = Clock::now() + options.sync_interval;
      lock.lock();
      continue;
    }
    if (now >= next_checkpoint) {
      Boundary b;
      bool durable;
      {
        std::lock_guard<std::mutex> sl(sync_mu);
        b = last_boundary;
        durable = b.lsn <= synced_lsn;
      }
      // Automatic compaction follows the checkpoints: with a policy, a
      // checkpoint first makes what is committed durable (checkpoints name
      // durable boundaries only), so policies act within about a checkpoint
      // interval whatever the durability.
      const bool follow = !durable && compaction_follows.load(std::memory_order_acquire);
      if (durable || follow) {
        lock.unlock();
        if (durable || SyncTo(b.lsn).ok()) WriteCheckpoint(b);
        lock.lock();
      }
      next_checkpoint = Clock::now() + std::chrono::milliseconds(500);
      continue;
    }
    auto wake = next_checkpoint;
    if (options.durability == Durability::kPeriodic) wake = std::min(wake, next_periodic);
    bg_cv.wait_until(lock, wake);
  }
}

void JournalState::ReleaseLater(std::shared_ptr<Segment> seg) {
  {
    std::lock_guard<std::mutex> lock(bg_mu);
    if (!sealer.joinable() || bg_stop) return;  // no sealing thread: released here, at return
    to_release.push_back(std::move(seg));
  }
  bg_cv.notify_all();
}

void JournalState::SealLoop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(bg_mu);
  for (;;) {
    if (!to_release.empty()) {
      std::vector<std::shared_ptr<Segment>> release = std::move(to_release);
      to_release.clear();
      lock.unlock();
      release.clear();  // the last reference, unless a cursor still holds one
      lock.lock();
      continue;
    }
    const bool seal_due =
        !to_seal.empty() && (bg_stop || options.durability == Durability::kCommit || to_seal.size() > kSealBacklog ||
                             Clock::now() >= to_seal.front().retired + kSealDelay);
    if (seal_due) {
      SealJob job = std::move(to_seal.front());
      to_seal.pop_front();
      lock.unlock();
      job.seg->MakeReadOnly();
      Status s = job.seg->Sync();
      if (s.ok()) {
        job.seg->raise_watermark(job.seg->end(), epoch, salt);
        s = job.seg->Sync();
      }
      if (s.ok()) job.seg->set_known_sealed();  // compaction may rewrite it from now on
      if (!s.ok()) {
        (void)FailClosed(s);
      } else {
        {
          std::lock_guard<std::mutex> sl(sync_mu);
          if (job.seg->end() > synced_lsn) synced_lsn = job.seg->end();
          synced_offset = std::max(synced_offset, job.boundary.next_offset);
          std::erase(unsynced, job.seg);
          // A committer whose commit this seal made durable returns from
          // SyncTo without syncing (or publishing): publish for it.
          Publish(job.boundary.lsn, job.boundary.next_offset);
        }
        WriteCheckpoint(job.boundary);
        SummarizeSealed(*this, job.seg);
        // Durable to its end and never written again: its mapping is all
        // that is read. A writer that seals thousands of segments in one
        // session would otherwise run out of descriptors at a roll.
        job.seg->KeepMappingOnly();
      }
      lock.lock();
      continue;
    }
    if (bg_stop) break;  // and nothing left to seal
    if (to_seal.empty()) {
      bg_cv.wait(lock);
    } else {
      bg_cv.wait_until(lock, to_seal.front().retired + kSealDelay);
    }
  }
}

}  // namespace txj::internal
