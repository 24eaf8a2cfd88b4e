#include "segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "checksum.h"
#include "format.h"
#include "txjournal/version.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace txj::internal {

std::string SegmentFileName(std::uint64_t base_lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx%s", static_cast<unsigned long long>(base_lsn),
                format::kSegmentSuffix);
  return buf;
}

bool ParseSegmentFileName(const std::string& name, std::uint64_t* base_lsn) {
  const std::size_t digits = format::kSegmentNameDigits;
  if (name.size() != digits + std::strlen(format::kSegmentSuffix)) return false;
  if (name.compare(digits, std::string::npos, format::kSegmentSuffix) != 0) return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    char c = name[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  *base_lsn = v;
  return true;
}

std::string RetiredFileName(std::uint64_t base_lsn) {
  std::string n = SegmentFileName(base_lsn);
  return n.substr(0, format::kSegmentNameDigits) + format::kRetiredSuffix;
}

bool IsRetiredFileName(const std::string& name) {
  std::uint64_t base = 0;
  if (name.size() != format::kSegmentNameDigits + std::strlen(format::kRetiredSuffix)) return false;
  if (name.compare(format::kSegmentNameDigits, std::string::npos, format::kRetiredSuffix) != 0) return false;
  return ParseSegmentFileName(name.substr(0, format::kSegmentNameDigits) + format::kSegmentSuffix, &base);
}

namespace {

std::uint64_t SegmentSalt(std::uint64_t salt, std::uint64_t base) { return salt ^ (base * 31 + 7); }

std::uint64_t WatermarkCheck(const format::WatermarkSlot& w, std::uint64_t seg_salt) {
  return Hash64(&w, offsetof(format::WatermarkSlot, checksum), seg_salt);
}

}  // namespace

Segment::~Segment() {
  guard_.Unregister();
  if (data_ != nullptr) fs_->Unmap(data_, size_);
  if (fd_ >= 0) fs_->Close(fd_);
}

std::string Segment::name() const { return SegmentFileName(base_); }

std::uint64_t Segment::first_record_lsn() const { return base_ + format::kSegmentHeaderSize; }

std::uint64_t Segment::watermark(std::uint64_t salt) const {
  format::WatermarkSlot w;
  std::memcpy(&w, data_ + format::kWatermarkOffset, sizeof w);
  if (w.checksum != WatermarkCheck(w, SegmentSalt(salt, base_))) return first_record_lsn();
  if (w.lsn < first_record_lsn() || w.lsn > end()) return first_record_lsn();
  return w.lsn;
}

std::uint64_t Segment::watermark_epoch(std::uint64_t salt) const {
  format::WatermarkSlot w;
  std::memcpy(&w, data_ + format::kWatermarkOffset, sizeof w);
  if (w.checksum != WatermarkCheck(w, SegmentSalt(salt, base_))) return 0;
  if (w.lsn < first_record_lsn() || w.lsn > end()) return 0;
  return w.epoch;
}

void Segment::raise_watermark(std::uint64_t lsn, std::uint64_t epoch, std::uint64_t salt) {
  std::lock_guard<std::mutex> lock(watermark_mu_);
  std::shared_lock<std::shared_mutex> fd_lock(fd_mu_);
  if (fd_ < 0) return;  // sealed: its watermark is at its end already
  if (lsn <= watermark(salt)) return;
  format::WatermarkSlot w{lsn, epoch, 0};
  w.checksum = WatermarkCheck(w, SegmentSalt(salt, base_));
  // Through the file, not the mapping: a retired segment is mapped read-only.
  // A failed write only leaves the older, still true, watermark.
  (void)fs_->PWrite(fd_, &w, sizeof w, format::kWatermarkOffset);
}

Status Segment::TruncatedError() const {
  std::uint64_t now = 0;
  int e = EBADF;
  {
    std::shared_lock<std::shared_mutex> fd_lock(fd_mu_);
    if (fd_ >= 0) e = fs_->FileSize(fd_, &now);
  }
  return Status::Corruption(path_ + ": the file was truncated while mapped (by another process?): it holds " +
                            (e == 0 ? std::to_string(now) : std::string("an unknown number of")) +
                            " bytes of its " + std::to_string(size_) + "; " + std::to_string(guard_.faults()) +
                            " page(s) past its end were touched and read as zeros; the journal must be reopened");
}

void Segment::MakeReadOnly() {
  // Exclusive: it changes writable_ (and the mapping) under it.
  std::unique_lock<std::shared_mutex> fd_lock(fd_mu_);
  MakeReadOnlyLocked();
}

void Segment::MakeReadOnlyLocked() {
  if (!writable_ || fd_ < 0) return;
  // Replace the mapping in place (same address, so readers' pointers stay
  // valid): the new one has no dirty or writable page-table entries, so a
  // later sync has nothing to clean in this process.
  void* p = ::mmap(data_, size_, PROT_READ, MAP_SHARED | MAP_FIXED, fd_, 0);
  if (p == data_) writable_ = false;
}

void Segment::Prefault(std::uint64_t from, std::uint64_t to) const {
  to = std::min({to, end(), reserved_end()});
  if (from < base_) from = base_;
  const std::uint64_t f = (from - base_) & ~std::uint64_t{4095};
  if (to <= base_ + f) return;
  ::madvise(data_ + f, to - base_ - f, MADV_POPULATE_WRITE);
}

Status Segment::Reserve(std::uint64_t lsn) {
  if (lsn <= reserved_end()) return Status::OK();
  std::lock_guard<std::mutex> lock(reserve_mu_);
  const std::uint64_t have = reserved_.load(std::memory_order_relaxed);
  if (lsn <= have) return Status::OK();
  const std::uint64_t want = std::min(end(), base_ + ((lsn - base_ + kReserveStep - 1) / kReserveStep) * kReserveStep);
  if (want <= have) return Status::OK();  // reserved to the end already: nothing to ask for
  std::shared_lock<std::shared_mutex> fd_lock(fd_mu_);
  if (fd_ < 0) return Status::OK();  // sealed: never written again
  if (int e = fs_->Allocate(fd_, have - base_, want - have)) {
    return Status::FromErrno(e, "reserve bytes " + std::to_string(have - base_) + " to " + std::to_string(want - base_) +
                                    " of segment " + path_);
  }
  reserved_.store(want, std::memory_order_release);
  return Status::OK();
}

Status Segment::Sync() {
  std::uint64_t now = size_;
  {
    std::shared_lock<std::shared_mutex> fd_lock(fd_mu_);
    if (fd_ >= 0) {  // else sealed: durable to its end, and closed after that sync
      if (int e = fs_->DataSync(fd_)) return Status::FromErrno(e, "fdatasync " + path_);
      if (fs_->FileSize(fd_, &now) != 0) now = size_;
    }
  }
  // A file truncated under the writer and then extended again by its
  // pwrite (kCommit writes through the file, not the mapping) has lost the
  // bytes in between: its size says so.
  if (now != size_) {
    return Status::Corruption(path_ + ": the file was truncated while open (by another process?): it holds " +
                              std::to_string(now) + " bytes of its " + std::to_string(size_) +
                              "; the journal must be reopened");
  }
  // Writes into pages of a file truncated under the mapping went to the
  // guard's private pages, not to the file: the sync did not make them
  // durable.
  return CheckMapping();
}

format::SegmentHeader MakeSegmentHeader(const std::uint8_t journal_id[16], std::uint64_t base_lsn,
                                        std::uint64_t segment_size, std::uint64_t created_ns) {
  format::SegmentHeader h;
  std::memset(&h, 0, sizeof h);
  std::memcpy(h.magic, format::kSegmentMagic, 8);
  h.format_version = kFormatVersion;
  h.header_size = format::kSegmentHeaderSize;
  std::memcpy(h.journal_id, journal_id, 16);
  h.base_lsn = base_lsn;
  h.segment_size = segment_size;
  h.created_ns = created_ns;
  h.checksum = Hash64(&h, offsetof(format::SegmentHeader, checksum));
  return h;
}

format::SegmentFlagsSlot MakeSegmentFlags(const format::SegmentHeader& h, std::uint64_t flags) {
  std::uint8_t bytes[sizeof h + sizeof flags];
  std::memcpy(bytes, &h, sizeof h);
  std::memcpy(bytes + sizeof h, &flags, sizeof flags);
  return format::SegmentFlagsSlot{flags, Hash64(bytes, sizeof bytes)};
}

namespace {

// The header page of a new segment at `base_lsn` (an empty watermark slot).
std::vector<std::uint8_t> HeaderPage(const ManifestData& m, std::uint64_t base_lsn, std::uint64_t flags) {
  std::vector<std::uint8_t> page(format::kSegmentHeaderSize, 0);
  const format::SegmentHeader h = MakeSegmentHeader(m.journal_id, base_lsn, m.segment_size, NowNanos());
  std::memcpy(page.data(), &h, sizeof h);
  const format::SegmentFlagsSlot f = MakeSegmentFlags(h, flags);
  std::memcpy(page.data() + format::kSegmentFlagsOffset, &f, sizeof f);
  return page;
}

// Gives the prepared file `tmp` (open as `fd`, mapped at `addr`) its name
// `path`, durably. Never replaces a segment that exists: a rename would
// clobber its data. On failure everything is undone and closed.
Status NameNewSegment(FileSystem& fs, const std::string& dir, const std::string& tmp, const std::string& path,
                      int fd, void* addr, std::uint64_t size) {
  auto undo = [&](bool unlink_tmp) {
    fs.Unmap(addr, size);
    fs.Close(fd);
    if (unlink_tmp) fs.Unlink(tmp);
  };
  int probe = -1;
  const int pe = fs.Open(path, O_RDONLY, 0, &probe);
  if (pe == 0) {
    fs.Close(probe);
    undo(true);
    return Status::InvalidState("internal error: segment " + path + " already exists; not replacing it");
  }
  // Only "no such file" means it is not there: after any other error the
  // rename below might replace a segment that exists.
  if (pe != ENOENT) {
    undo(true);
    return Status::FromErrno(pe, "check that " + path + " does not exist before renaming " + tmp);
  }
  if (int e = fs.Rename(tmp, path)) {
    undo(true);
    return Status::FromErrno(e, "rename to " + path + " from " + tmp);
  }
  if (int e = fs.SyncDir(dir)) {
    undo(false);
    // Nothing was written to it yet: remove it, so that the next attempt
    // starts over instead of refusing to replace it (which wedged the writer
    // after one failed directory sync).
    fs.Unlink(path);
    return Status::FromErrno(e, "sync directory " + dir + " after creating " + path);
  }
  return Status::OK();
}

// Before the file has its segment name (and before any page of it is
// touched): a reader of this process's mappings never sees the writer's
// mapping without its advice. Best effort: a kernel without transparent
// huge pages for files (or with them off) maps 4 KiB pages.
//
// The first 2 MiB keep 4 KiB pages: the header page is written with pwrite
// before the mapping exists, so the page cache holds it as a small folio
// and no 2 MiB folio fits there. Advised anyway, every fault in that range
// tried a 2 MiB read-ahead that could not be placed (kernel 6.18: a
// prefault of the segment's first 4 MiB took 38 ms instead of 2), and the
// read-ahead's fallback left the writer to fault the next 2 MiB in 4 KiB
// pages itself (about 400 faults per segment at 1 M appends/s;
// docs/performance.md, "Twenty-first session").
void AdviseMapping(void* addr, std::uint64_t size, SegmentWrites writes) {
  constexpr std::uint64_t kHugePage = 2 << 20;
  if (writes == SegmentWrites::kMappingHugePages && size > kHugePage) {
    ::madvise(static_cast<std::uint8_t*>(addr) + kHugePage, size - kHugePage, MADV_HUGEPAGE);
  }
}

}  // namespace

Result<std::shared_ptr<Segment>> Segment::Create(std::shared_ptr<FileSystem> fs,
                                                 const std::string& dir, const ManifestData& m,
                                                 std::uint64_t base_lsn, mode_t mode, SegmentWrites writes) {
  const std::uint64_t size = m.segment_size;
  std::string path = JoinPath(dir, SegmentFileName(base_lsn));
  std::string tmp = path + format::kTempSuffix;
  int fd = -1;
  if (int e = fs->Open(tmp, O_RDWR | O_CREAT | O_TRUNC, mode, &fd)) {
    return Status::FromErrno(e, "create segment " + tmp);
  }
  auto fail = [&](int e, const std::string& what) -> Status {
    fs->Close(fd);
    fs->Unlink(tmp);
    return Status::FromErrno(e, what + " " + tmp);
  };
  // Full size, sparse: readers map all of it; blocks are reserved ahead of
  // the writer (Reserve), the first step now.
  if (int e = fs->Truncate(fd, size)) return fail(e, "set the size to " + std::to_string(size) + " bytes of");
  const std::uint64_t first = std::min(size, kFirstReserve);
  if (int e = fs->Allocate(fd, 0, first)) return fail(e, "reserve " + std::to_string(first) + " bytes for");
  // Only the header page is written: fallocate has reserved the rest (reads
  // as zeros). Zero-filling whole segments made later syncs a little cheaper
  // but wrote every segment twice, and its burst of writes stalled the
  // commits syncing meanwhile (journal-bench: p99 commit latency in ms).
  const std::vector<std::uint8_t> page = HeaderPage(m, base_lsn, 0);
  if (int e = fs->PWrite(fd, page.data(), page.size(), 0)) return fail(e, "write header of");
  if (int e = fs->DataSync(fd)) return fail(e, "fdatasync");
  void* addr = nullptr;
  if (int e = fs->Map(fd, 0, size, true, &addr)) return fail(e, "mmap");
  AdviseMapping(addr, size, writes);
  TXJ_RETURN_IF_ERROR(NameNewSegment(*fs, dir, tmp, path, fd, addr, size));
  return Named(std::move(fs), path, base_lsn, size, addr, fd, false, first, writes);
}

std::shared_ptr<Segment> Segment::Named(std::shared_ptr<FileSystem> fs, const std::string& path,
                                        std::uint64_t base_lsn, std::uint64_t size, void* addr, int fd,
                                        bool recycled, std::uint64_t reserved, SegmentWrites writes) {
  auto seg = std::shared_ptr<Segment>(new Segment());
  seg->fs_ = std::move(fs);
  seg->path_ = path;
  seg->base_ = base_lsn;
  seg->size_ = size;
  seg->data_ = static_cast<std::uint8_t*>(addr);
  seg->guard_.Register(addr, seg->size_);
  seg->fd_ = fd;
  seg->writable_ = true;
  seg->recycled_ = recycled;
  seg->written_end_.store(base_lsn, std::memory_order_relaxed);
  seg->reserved_.store(base_lsn + reserved, std::memory_order_relaxed);
  // The writer's first writes after rolling into it take no page fault (best
  // effort: older kernels lack MADV_POPULATE_WRITE and fault lazily).
  if (writes != SegmentWrites::kPwrite) {
    seg->Prefault(seg->first_record_lsn(), seg->first_record_lsn() + kFirstReserve);
  }
  return seg;
}

Result<std::shared_ptr<Segment>> Segment::Recycle(std::shared_ptr<FileSystem> fs, const std::string& dir,
                                                  const ManifestData& m, std::uint64_t base_lsn,
                                                  const std::string& file, SegmentWrites writes) {
  const std::uint64_t size = m.segment_size;
  const std::string path = JoinPath(dir, SegmentFileName(base_lsn));
  int fd = -1;
  if (int e = fs->Open(file, O_RDWR, 0, &fd)) return Status::FromErrno(e, "open retired segment file " + file);
  auto fail = [&](Status st) -> Status {
    fs->Close(fd);
    return st;
  };
  if (int e = fs->CheckOnlyOpen(fd)) {
    if (e == EBUSY) {
      return fail(Status::Busy("cannot reuse " + file + " as segment " + path +
                               ": another open of it exists (a reader still maps it)"));
    }
    return fail(Status::NotSupported("cannot reuse " + file + " as segment " + path +
                                     ": the file system cannot tell whether another open of it exists (" +
                                     std::string(std::strerror(e)) + ")"));
  }
  std::uint64_t have = 0;
  if (int e = fs->FileSize(fd, &have)) return fail(Status::FromErrno(e, "size of " + file));
  if (have != size) {
    return fail(Status::InvalidArgument("cannot reuse " + file + ": it holds " + std::to_string(have) +
                                        " bytes, the journal's segments " + std::to_string(size)));
  }
  // Blocks reserved as for a new segment (a retired one may end in holes;
  // reserving blocks the file holds already costs nothing).
  const std::uint64_t first = std::min(size, kFirstReserve);
  if (int e = fs->Allocate(fd, 0, first)) {
    return fail(Status::FromErrno(e, "reserve " + std::to_string(first) + " bytes of " + file));
  }
  // Its retired name on stable storage before anything in it changes: the
  // rename that retired it may not be yet (the caller's directory sync
  // comes after it publishes the file, or an earlier process ended first),
  // and a crash must never find the old segment's name over a new header
  // (the power-loss soak found one: "header says base LSN 458752 but the
  // file name says 0").
  if (int e = fs->SyncDir(dir)) return fail(Status::FromErrno(e, "sync directory " + dir + " before reusing " + file));
  // The new header next, durably, then the name: a crash before the rename
  // leaves a retired file with a new header (still not a segment).
  const std::vector<std::uint8_t> page = HeaderPage(m, base_lsn, format::kSegmentRecycled);
  if (int e = fs->PWrite(fd, page.data(), page.size(), 0)) {
    return fail(Status::FromErrno(e, "write the header of " + file + " (to become " + path + ")"));
  }
  if (int e = fs->DataSync(fd)) return fail(Status::FromErrno(e, "fdatasync " + file + " (to become " + path + ")"));
  void* addr = nullptr;
  if (int e = fs->Map(fd, 0, size, true, &addr)) return fail(Status::FromErrno(e, "mmap " + file));
  AdviseMapping(addr, size, writes);
  TXJ_RETURN_IF_ERROR(NameNewSegment(*fs, dir, file, path, fd, addr, size));
  auto seg = Named(std::move(fs), path, base_lsn, size, addr, fd, true, first, writes);
  // How much of the old file is written blocks: a durable writer (pwrite)
  // writes no zeros ahead there.
  if (writes == SegmentWrites::kPwrite) seg->PrepareOverwrite(seg->first_record_lsn());
  return seg;
}

void Segment::PrepareOverwrite(std::uint64_t from_lsn) {
  std::shared_lock<std::shared_mutex> lock(fd_mu_);
  if (fd_ < 0) return;
  std::uint64_t n = 0;
  if (fs_->WrittenPrefix(fd_, size_, &n) == 0) {
    written_end_.store(base_ + std::min(n, size_), std::memory_order_relaxed);
  }
  const std::uint64_t from = format::PageUp(std::max(from_lsn, base_)) - base_;
  if (from < size_) (void)fs_->DropCachedPages(fd_, from, size_ - from);  // a hint
}

Result<std::shared_ptr<Segment>> Segment::Open(std::shared_ptr<FileSystem> fs,
                                               const std::string& dir, const std::string& name,
                                               const ManifestData& m, bool writable) {
  std::string path = JoinPath(dir, name);
  std::uint64_t base_from_name = 0;
  if (!ParseSegmentFileName(name, &base_from_name)) {
    return Status::InvalidArgument(path + ": not a segment file name");
  }
  int fd = -1;
  if (int e = fs->Open(path, writable ? O_RDWR : O_RDONLY, 0, &fd)) {
    return Status::FromErrno(e, "open segment " + path);
  }
  auto close_with = [&](Status s) -> Status {
    fs->Close(fd);
    return s;
  };
  std::uint64_t file_size = 0;
  if (int e = fs->FileSize(fd, &file_size)) return close_with(Status::FromErrno(e, "stat " + path));
  if (file_size < sizeof(format::SegmentHeader)) {
    return close_with(Status::Corruption(path + ": segment file is " + std::to_string(file_size) +
                                         " bytes, too small for a segment header (at byte 0)"));
  }
  format::SegmentHeader h;
  std::size_t got = 0;
  if (int e = fs->PRead(fd, &h, sizeof h, 0, &got)) return close_with(Status::FromErrno(e, "read " + path));
  if (got != sizeof h) return close_with(Status::Corruption(path + ": short read of segment header at byte 0"));
  if (std::memcmp(h.magic, format::kSegmentMagic, 8) != 0) {
    return close_with(Status::Corruption(path + ": bad segment magic at byte 0"));
  }
  if (Hash64(&h, offsetof(format::SegmentHeader, checksum)) != h.checksum) {
    return close_with(Status::Corruption(path + ": segment header checksum mismatch at byte " +
                                         std::to_string(offsetof(format::SegmentHeader, checksum))));
  }
  if (h.format_version < format::kOldestFormatVersion || h.format_version > kFormatVersion) {
    return close_with(Status::NotSupported(path + ": segment format version " +
                                           std::to_string(h.format_version) + ", this build reads versions " +
                                           std::to_string(format::kOldestFormatVersion) + " to " +
                                           std::to_string(kFormatVersion)));
  }
  if (std::memcmp(h.journal_id, m.journal_id, 16) != 0) {
    return close_with(Status::Corruption(path + ": segment belongs to another journal (identity at byte " +
                                         std::to_string(offsetof(format::SegmentHeader, journal_id)) +
                                         " differs from the manifest)"));
  }
  if (h.base_lsn != base_from_name) {
    return close_with(Status::Corruption(path + ": header says base LSN " + std::to_string(h.base_lsn) +
                                         " but the file name says " + std::to_string(base_from_name) +
                                         " (renamed or copied segment)"));
  }
  if (h.header_size != format::kSegmentHeaderSize || h.segment_size < format::kMinSegmentSize ||
      h.segment_size > format::kMaxSegmentSize || h.segment_size % 4096 != 0) {
    return close_with(Status::Corruption(path + ": invalid header or segment size in header at byte 0"));
  }
  std::uint64_t flags = 0;
  if (h.format_version >= format::kFirstFormatWithSegmentFlags) {
    format::SegmentFlagsSlot f;
    if (int e = fs->PRead(fd, &f, sizeof f, format::kSegmentFlagsOffset, &got)) {
      return close_with(Status::FromErrno(e, "read " + path));
    }
    if (got != sizeof f || MakeSegmentFlags(h, f.flags).checksum != f.checksum) {
      return close_with(Status::Corruption(path + ": segment flags checksum mismatch at byte " +
                                           std::to_string(format::kSegmentFlagsOffset +
                                                          offsetof(format::SegmentFlagsSlot, checksum))));
    }
    if ((f.flags & ~format::kKnownSegmentFlags) != 0) {
      return close_with(Status::NotSupported(path + ": segment flags " + std::to_string(f.flags) + " at byte " +
                                             std::to_string(format::kSegmentFlagsOffset) +
                                             " hold flags this build does not know"));
    }
    flags = f.flags;
  }
  if (file_size != h.segment_size) {
    return close_with(Status::Corruption(path + ": file holds " + std::to_string(file_size) +
                                         " bytes but its header says " + std::to_string(h.segment_size) +
                                         " (truncated or extended segment)"));
  }
  void* addr = nullptr;
  if (int e = fs->Map(fd, 0, file_size, writable, &addr)) {
    return close_with(Status::FromErrno(e, "mmap " + path));
  }
  auto seg = std::shared_ptr<Segment>(new Segment());
  seg->fs_ = std::move(fs);
  seg->path_ = std::move(path);  // not used below: one allocation less per open
  seg->base_ = h.base_lsn;
  seg->size_ = file_size;
  seg->data_ = static_cast<std::uint8_t*>(addr);
  seg->guard_.Register(addr, seg->size_);
  seg->fd_ = fd;
  seg->writable_ = writable;
  seg->recycled_ = (flags & format::kSegmentRecycled) != 0;
  // What is reserved is not known (journals written before reserving in
  // steps are reserved whole): the writer reserves again from its position.
  seg->reserved_.store(seg->first_record_lsn(), std::memory_order_relaxed);
  seg->known_sealed_.store(seg->sealed(m.salt()), std::memory_order_relaxed);
  return seg;
}

void Segment::KeepMappingOnly() {
  if (!known_sealed()) return;
  std::unique_lock<std::shared_mutex> fd_lock(fd_mu_);
  if (fd_ < 0) return;
  MakeReadOnlyLocked();
  if (writable_) return;  // the read-only mapping failed: keep what works
  fs_->Close(fd_);
  fd_ = -1;
}

std::uint64_t Segment::DataEnd(std::uint64_t from) const {
  std::shared_lock<std::shared_mutex> fd_lock(fd_mu_);
  if (fd_ < 0) return end();
  off_t off = static_cast<off_t>(file_offset(from));
  const off_t size = static_cast<off_t>(size_);
  off_t last = off;
  for (int regions = 0; off < size; ++regions) {
    const off_t d = ::lseek(fd_, off, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;  // no data after off
      return end();
    }
    const off_t h = ::lseek(fd_, d, SEEK_HOLE);
    if (h < 0) return end();
    last = std::min(h, size);
    off = h;
    if (regions > 4096) return end();  // a file cut in pieces: just read it
  }
  return base_ + static_cast<std::uint64_t>(last);
}

}  // namespace txj::internal
