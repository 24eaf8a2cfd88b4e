// One segment file, mapped into memory.
#ifndef TXJOURNAL_LIB_SEGMENT_H_
#define TXJOURNAL_LIB_SEGMENT_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "format.h"
#include "manifest.h"
#include "mapping_guard.h"
#include "non_copyable.h"
#include "segment_names.h"
#include "txjournal/file_system.h"
#include "txjournal/status.h"

namespace txj::internal {

std::string SegmentFileName(std::uint64_t base_lsn);
// True if `name` is exactly a segment file name; stores its base LSN.
bool ParseSegmentFileName(const std::string& name, std::uint64_t* base_lsn);
// The name a retired segment file of base `base_lsn` is kept under until it
// is reused (format::kRetiredSuffix), and the test for one.
std::string RetiredFileName(std::uint64_t base_lsn);
bool IsRetiredFileName(const std::string& name);

// The header of a segment of journal `journal_id` starting at `base_lsn`,
// with its checksum: what Segment::Create writes (and what a test or fuzz
// harness that builds segment files by hand should write).
format::SegmentHeader MakeSegmentHeader(const std::uint8_t journal_id[16], std::uint64_t base_lsn,
                                        std::uint64_t segment_size, std::uint64_t created_ns);
// The flags slot (format 3) that follows header `h`, with its checksum.
format::SegmentFlagsSlot MakeSegmentFlags(const format::SegmentHeader& h, std::uint64_t flags);

// How the writer writes a segment it creates: through the mapping, whose
// pages the ahead thread prefaults just ahead of it, in 4 KiB pages or in
// transparent huge pages past the first 2 MiB, which hold the header page
// (MADV_HUGEPAGE: the page cache then holds the file in 2 MiB folios and
// the writer takes one fault per 2 MiB; a sync writes
// whole dirty folios, so only a writer that rarely syncs asks for them);
// or with pwrite, the mapping never written.
enum class SegmentWrites : std::uint8_t { kMapping, kMappingHugePages, kPwrite };

class Segment : NonCopyable {
 public:
  // Creates the segment at `base_lsn` crash-safely: the file is made under a
  // temporary name at its full size (sparse), its first kFirstReserve bytes
  // reserved with fallocate (ENOSPC here is kNoSpace, never a later SIGBUS),
  // given its header, synced, renamed, and the directory is synced. Returns
  // it mapped writable, the start of its record area prefaulted. The rest is
  // reserved ahead of the writer with Reserve().
  // `writes` kPwrite: nothing prefaulted.
  static Result<std::shared_ptr<Segment>> Create(std::shared_ptr<FileSystem> fs,
                                                 const std::string& dir, const ManifestData& m,
                                                 std::uint64_t base_lsn, mode_t mode,
                                                 SegmentWrites writes = SegmentWrites::kMapping);
  // Makes `file`, a segment file of this journal that retention retired
  // (renamed out of the segment names, see DropFront), the segment at
  // `base_lsn` without clearing it: checks that nothing else has the file
  // open (FileSystem::CheckOnlyOpen: no reader may still map the old
  // segment) and that it has the segment size, rewrites its header page
  // (flag kSegmentRecycled, an empty watermark), syncs it, renames it to
  // its segment name and syncs the directory. Its old records never read
  // as new ones: their checksums are seeded with their old LSNs. Errors:
  // kBusy when another open of the file exists, kNotSupported when the
  // file system cannot tell, kInvalidArgument for a file of another size,
  // kIOError and kNoSpace naming the file; the caller then creates a new
  // segment.
  static Result<std::shared_ptr<Segment>> Recycle(std::shared_ptr<FileSystem> fs, const std::string& dir,
                                                  const ManifestData& m, std::uint64_t base_lsn,
                                                  const std::string& file,
                                                  SegmentWrites writes = SegmentWrites::kMapping);
  // Opens an existing segment file and checks its header against the
  // manifest and its name. Maps exactly the bytes the file holds.
  // Errors: kCorruption (naming the file and what is wrong), kNotSupported,
  // kIOError.
  static Result<std::shared_ptr<Segment>> Open(std::shared_ptr<FileSystem> fs,
                                               const std::string& dir, const std::string& name,
                                               const ManifestData& m, bool writable);
  ~Segment();

  std::uint64_t base() const { return base_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t end() const { return base_ + size_; }
  std::uint64_t first_record_lsn() const;
  const std::string& path() const { return path_; }
  std::string name() const;
  bool writable() const { return writable_; }
  // The file held an earlier segment (format::kSegmentRecycled): after its
  // records lie old bytes, not zeros.
  bool recycled() const { return recycled_; }
  // LSN below which the file's blocks were found written when a durable
  // writer reused it or opened it as its tail (FileSystem::WrittenPrefix;
  // base() otherwise, and for a segment made new): writes there allocate
  // nothing. Thread-safe.
  std::uint64_t written_end() const { return written_end_.load(std::memory_order_relaxed); }
  // A durable writer (pwrite) is to write this file, which may hold written
  // blocks past `from_lsn` (a reused file's old segment; the zeros an
  // earlier session's writer wrote ahead of its tail), from `from_lsn` on:
  // asks the file system for written_end(), and drops the pages past
  // `from_lsn` (rounded up to a page) from the page cache
  // (FileSystem::DropCachedPages: a reused file's may sit in large folios,
  // which a small commit would dirty, and the kernel write back, whole).
  // Recycle calls it for a durable writer's new segment, a durable
  // writer's open for its tail and prepared segments. Needs the
  // descriptor; a failure leaves it as it was.
  void PrepareOverwrite(std::uint64_t from_lsn);
  // The file's descriptor; -1 after KeepMappingOnly(). Unsynchronized: only
  // for the writer's active segment (never closed while active) and for
  // code that holds the only reference (recovery at open). Everything
  // else goes through the methods below, which are safe against a
  // concurrent KeepMappingOnly().
  int fd() const { return fd_; }
  // For a sealed segment (durable to its end, never written again): maps it
  // read-only and closes its file descriptor; the mapping is all that is
  // read, and one descriptor per segment ran long journals (and long
  // writing sessions) out of them. Afterwards DataEnd() reports end()
  // (readers read the zeros instead), Sync() has nothing to do, Reserve()
  // and raise_watermark() nothing to change. No-op for a segment that is
  // not sealed. Thread-safe: waits for a sync, reservation or watermark
  // write in progress on another thread.
  void KeepMappingOnly();

  // The end of the last region at or after `from` that the file system
  // says may hold data (SEEK_DATA / SEEK_HOLE): holes, and reserved but
  // never written blocks, read as zeros without being read. end() when the
  // file system cannot tell, or the descriptor is closed. Thread-safe.
  std::uint64_t DataEnd(std::uint64_t from) const;

  // Address of the byte at `lsn`. REQUIRES: base() <= lsn <= end().
  std::uint8_t* at(std::uint64_t lsn) const { return data_ + (lsn - base_); }
  std::uint64_t file_offset(std::uint64_t lsn) const { return lsn - base_; }

  // The durable watermark (see format.h); first_record_lsn() when the slot is
  // empty or invalid.
  std::uint64_t watermark(std::uint64_t salt) const;
  // The epoch of the writer that last raised the watermark; 0 when the
  // slot is empty or invalid.
  std::uint64_t watermark_epoch(std::uint64_t salt) const;
  bool sealed(std::uint64_t salt) const { return watermark(salt) >= end(); }
  // Sealed as far as other threads may know: true for a segment opened
  // sealed, and set by the writer's background thread once it has sealed
  // one (release; read with acquire). Unlike sealed(), it reads nothing a
  // thread may be writing.
  bool known_sealed() const { return known_sealed_.load(std::memory_order_acquire); }
  void set_known_sealed() { known_sealed_.store(true, std::memory_order_release); }
  // Raises the watermark to `lsn` (never lowers it).
  void raise_watermark(std::uint64_t lsn, std::uint64_t epoch, std::uint64_t salt);

  // Blocks are reserved in steps ahead of the writer, so a young journal
  // holds its data plus a bounded step, and the writer never writes a page
  // whose blocks are not reserved (a full disk is kNoSpace, never SIGBUS).
  static constexpr std::uint64_t kFirstReserve = 1 << 20;
  static constexpr std::uint64_t kReserveStep = 4 << 20;
  // LSN below which the file's blocks are reserved. Thread-safe.
  std::uint64_t reserved_end() const { return reserved_.load(std::memory_order_acquire); }
  // Reserves blocks up to at least `lsn` (clipped to end()), in whole steps.
  // Thread-safe. Errors: kNoSpace / kIOError naming the file.
  Status Reserve(std::uint64_t lsn);

  // Makes the pages of [from, to) (clipped to what is reserved) writable and
  // present, so the writer takes no page fault there. Only pages the writer
  // is about to write: a prefaulted page is dirty, and a sync writes it.
  // Best effort.
  void Prefault(std::uint64_t from, std::uint64_t to) const;

  // Write-protects the mapping of a segment the writer has left. Syncing it
  // then needs no TLB shootdowns on the writer's CPU to clean its pages.
  void MakeReadOnly();

  // fdatasync of the file (after KeepMappingOnly(): nothing to do, the
  // segment is durable to its end). Thread-safe. Errors: kIOError /
  // kNoSpace naming the file; kCorruption if it was truncated.
  Status Sync();

  // The names records of this segment its readers found and its writer
  // wrote, shared by this process's readers (see SegmentNames).
  SegmentNames& names() const { return names_; }

  // OK unless the file was truncated under this mapping and a page past
  // its new end was touched (see mapping_guard.h): then kCorruption naming
  // the file and the size it has now. Cheap: one atomic load.
  Status CheckMapping() const {
    return guard_.faults() == 0 ? Status::OK() : TruncatedError();
  }

 private:
  Segment() = default;
  // The writable segment a new or recycled file named `path` (open as
  // `fd`, mapped at `addr`) has become, its first `reserved` bytes reserved.
  static std::shared_ptr<Segment> Named(std::shared_ptr<FileSystem> fs, const std::string& path,
                                        std::uint64_t base_lsn, std::uint64_t size, void* addr, int fd,
                                        bool recycled, std::uint64_t reserved, SegmentWrites writes);
  Status TruncatedError() const;
  std::shared_ptr<FileSystem> fs_;
  std::string path_;
  std::uint64_t base_ = 0;
  std::uint64_t size_ = 0;
  std::uint8_t* data_ = nullptr;
  int fd_ = -1;
  // Shared by every use of fd_ that may run on another thread than the
  // one closing it; KeepMappingOnly() holds it exclusively.
  mutable std::shared_mutex fd_mu_;
  bool writable_ = false;
  bool recycled_ = false;
  std::atomic<std::uint64_t> written_end_{0};  // LSN
  void MakeReadOnlyLocked();
  std::mutex watermark_mu_;
  std::mutex reserve_mu_;
  std::atomic<std::uint64_t> reserved_{0};  // LSN
  MappingGuard guard_;
  std::atomic<bool> known_sealed_{false};
  mutable SegmentNames names_;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_SEGMENT_H_
