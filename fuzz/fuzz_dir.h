// Turns a fuzz input into a journal, on disk or in memory (mem_fs.h), for
// the targets that open, recover or dump a journal (recovery_fuzzer.cc,
// dump_fuzzer.cc), and for the structure-aware mutator (journal_mutator.h).
//
// Input layout (little endian):
//   byte 0        flags: bit 0..1 gap before the 2nd / 3rd segment (a
//                 missing segment), bit 2 no manifest, bits 3..5 the
//                 journal-dump mode (dump_fuzzer.cc), bit 6 manifest
//                 start fields follow the epoch, bit 7 raw mode
//   bytes 1..16   journal identity (the manifest and segment headers get it)
//   bytes 17..24  manifest epoch
//   with bit 6: u64 first_lsn, first_offset, last_txn_id_before of the
//                 manifest (where retention says the journal starts)
//   then, up to four times: u32 n, a 24-byte watermark slot, n bytes of
//   segment data stored from byte 4096 of the segment (clamped to it);
//   bit 31 of n makes the segment a recycled one (format 3 flag: the
//   bytes after its records are not zeros)
// Segment headers and the manifest are built valid (with their checksums)
// so that mutations reach the records; record checksums are seeded with
// the identity, so seeds made from a real journal (make_seeds.cc) carry
// their identity along.
//
// Raw mode (bit 7): the next 128 bytes are written as JOURNAL as they are,
// and the rest as one segment file as it is, header included.
#ifndef TXJOURNAL_FUZZ_FUZZ_DIR_H_
#define TXJOURNAL_FUZZ_FUZZ_DIR_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "checksum.h"
#include "format.h"
#include "journal_state.h"
#include "mem_fs.h"
#include "manifest.h"
#include "segment.h"
#include "txjournal/journal.h"
#include "txjournal/version.h"

namespace txj::fuzz {

inline constexpr std::uint64_t kFuzzSegmentSize = 64 * 1024;

// True when the targets also run their slow, on-disk checks (a whole
// Journal::open with its catalog, a commit, a reopen) for every input: the
// corpus replays (fuzz/run.sh --replay, the 'fuzz' test suite) set
// TXJ_FUZZ_FULL=1; fuzzing runs without them, for speed.
inline bool FullChecks() {
  static const bool full = [] {
    const char* v = std::getenv("TXJ_FUZZ_FULL");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return full;
}

// A directory for this process, emptied before each input.
inline const std::string& WorkDir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TXJ_FUZZ_DIR");
    std::string root = base ? base : (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    std::string d = root + "/txj-fuzz-" + std::to_string(::getpid());
    return d;
  }();
  return dir;
}

inline void WriteFile(const std::string& path, const void* data, std::size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (n && std::fwrite(data, 1, n, f) != n) std::abort();
  std::fclose(f);
}

inline void CleanWorkDir() {
  std::error_code ec;
  std::filesystem::remove_all(WorkDir(), ec);
}

// A directory beside WorkDir() (CleanWorkDir leaves it), kept for the
// life of the process and removed at its exit: WorkDir()-<what>.
inline std::string SideDir(const std::string& what) {
  const std::string d = WorkDir() + "-" + what;
  std::error_code ec;
  std::filesystem::remove_all(d, ec);
  std::filesystem::create_directories(d);
  static std::vector<std::string>* all = [] {
    auto* v = new std::vector<std::string>;
    std::atexit([] {
      for (const auto& p : *all) {
        std::error_code e;
        std::filesystem::remove_all(p, e);
      }
    });
    return v;
  }();
  all->push_back(d);
  return d;
}

// Where BuildJournal puts the files of a journal: a real directory
// (BuildJournalDir) or an in-memory file system (BuildJournalInMemory).
class JournalSink {
 public:
  virtual ~JournalSink() = default;
  // A new file `name` of `n` zero bytes, to be filled in place: at most
  // its first `filled` bytes.
  virtual std::uint8_t* NewFile(const std::string& name, std::size_t n, std::size_t filled) = 0;
  // Writes the manifest the way the journal does (WriteManifest).
  virtual void PutManifest(const internal::ManifestData& m) = 0;
};

// Builds the journal described by `data` (layout above) into `sink`.
inline void BuildJournal(const std::uint8_t* data, std::size_t size, JournalSink& sink) {
  if (size < 1) return;
  const std::uint8_t flags = data[0];
  ++data;
  --size;
  if (flags & 0x80) {
    const std::size_t m = size < format::kManifestSize ? size : format::kManifestSize;
    std::uint8_t* manifest = sink.NewFile(format::kManifestName, m, m);
    if (m) std::memcpy(manifest, data, m);
    if (size > m) std::memcpy(sink.NewFile(internal::SegmentFileName(0), size - m, size - m), data + m, size - m);
    return;
  }
  internal::ManifestData man;
  if (size >= 16) std::memcpy(man.journal_id, data, 16);
  data += size >= 16 ? 16 : size;
  size -= size >= 16 ? 16 : size;
  std::uint64_t epoch = 1;
  if (size >= 8) {
    std::memcpy(&epoch, data, 8);
    data += 8;
    size -= 8;
  }
  if ((flags & 0x40) && size >= 24) {  // where retention says the journal starts
    std::memcpy(&man.first_lsn, data, 8);
    std::memcpy(&man.first_offset, data + 8, 8);
    std::memcpy(&man.last_txn_id_before, data + 16, 8);
    data += 24;
    size -= 24;
  }
  man.segment_size = kFuzzSegmentSize;
  man.epoch = epoch;
  man.created_ns = 1;
  if ((flags & 4) == 0) sink.PutManifest(man);
  std::uint64_t index = 0;
  for (int s = 0; s < 4 && size >= 4; ++s) {
    std::uint32_t n;
    std::memcpy(&n, data, 4);
    data += 4;
    size -= 4;
    // Bit 31 of the length: a recycled segment (format 3 flag).
    const bool recycled = (n >> 31) != 0;
    n &= 0x7fffffffu;
    if (s == 1 && (flags & 1)) ++index;
    if (s == 2 && (flags & 2)) ++index;
    const std::uint64_t base = index * kFuzzSegmentSize;
    ++index;
    const std::size_t wm = size < sizeof(format::WatermarkSlot) ? size : sizeof(format::WatermarkSlot);
    std::size_t take = n;
    if (take > size - wm) take = size - wm;
    if (take > kFuzzSegmentSize - format::kSegmentHeaderSize) take = kFuzzSegmentSize - format::kSegmentHeaderSize;
    static_assert(format::kWatermarkOffset + sizeof(format::WatermarkSlot) <= format::kSegmentHeaderSize);
    std::uint8_t* seg =
        sink.NewFile(internal::SegmentFileName(base), kFuzzSegmentSize, format::kSegmentHeaderSize + take);
    format::SegmentHeader h;
    std::memset(&h, 0, sizeof h);
    std::memcpy(h.magic, format::kSegmentMagic, 8);
    h.format_version = kFormatVersion;
    h.header_size = format::kSegmentHeaderSize;
    std::memcpy(h.journal_id, man.journal_id, 16);
    h.base_lsn = base;
    h.segment_size = kFuzzSegmentSize;
    h.created_ns = 1;
    h.checksum = internal::Hash64(&h, offsetof(format::SegmentHeader, checksum));
    std::memcpy(seg, &h, sizeof h);
    const format::SegmentFlagsSlot f = internal::MakeSegmentFlags(h, recycled ? format::kSegmentRecycled : 0);
    std::memcpy(seg + format::kSegmentFlagsOffset, &f, sizeof f);
    std::memcpy(seg + format::kWatermarkOffset, data, wm);
    data += wm;
    size -= wm;
    std::memcpy(seg + format::kSegmentHeaderSize, data, take);
    data += take;
    size -= take;
  }
}

// Builds the journal directory for `data` on disk (WorkDir()/j); returns
// its path.
inline std::string BuildJournalDir(const std::uint8_t* data, std::size_t size) {
  CleanWorkDir();
  const std::string dir = WorkDir() + "/j";
  std::filesystem::create_directories(dir);
  struct DiskSink final : JournalSink {
    std::string dir;
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> files;
    std::uint8_t* NewFile(const std::string& name, std::size_t n, std::size_t) override {
      files.emplace_back(name, std::vector<std::uint8_t>(n, 0));
      return files.back().second.data();
    }
    void PutManifest(const internal::ManifestData& m) override {
      (void)internal::WriteManifest(*DefaultFileSystem(), dir, m, 0600);
    }
  } sink;
  sink.dir = dir;
  sink.files.reserve(8);
  BuildJournal(data, size, sink);
  for (const auto& [name, bytes] : sink.files) WriteFile(dir + "/" + name, bytes.data(), bytes.size());
  return dir;
}

// Builds the journal directory for `data` on disk, fast: in one directory
// (WorkDir()/fast) reused from input to input, whose files of the last
// input that this one does not have are removed, and each written sparse
// (its bytes up to the last non-zero one, then its size set), so that the
// scan's SEEK_DATA skips the zeros. The manifest is written as the journal
// writes it. Returns the directory. Only for targets that do not write to
// the journal (dump_fuzzer.cc).
inline std::string BuildJournalDirReused(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = [] {
    return SideDir("fast");
  }();
  static std::vector<std::string> last;  // names written for the last input
  // The files' bytes, reused from input to input (cleared, not reallocated).
  static std::deque<std::pair<std::string, std::vector<std::uint8_t>>> buffers;  // stable addresses
  struct SparseSink final : JournalSink {
    std::string dir;
    std::deque<std::pair<std::string, std::vector<std::uint8_t>>>* buffers;
    std::vector<std::pair<std::string, std::vector<std::uint8_t>*>> files;
    bool manifest = false;
    std::uint8_t* NewFile(const std::string& name, std::size_t n, std::size_t) override {
      if (files.size() == buffers->size()) buffers->emplace_back();
      std::vector<std::uint8_t>& b = (*buffers)[files.size()].second;
      b.assign(n, 0);
      files.emplace_back(name, &b);
      return b.data();
    }
    void PutManifest(const internal::ManifestData& m) override {
      manifest = true;
      (void)internal::WriteManifest(*DefaultFileSystem(), dir, m, 0600);
    }
  } sink;
  sink.dir = dir;
  sink.buffers = &buffers;
  sink.files.reserve(8);
  BuildJournal(data, size, sink);
  std::vector<std::string> now;
  if (sink.manifest) now.push_back(format::kManifestName);
  for (const auto& [name, b] : sink.files) {
    const std::vector<std::uint8_t>& bytes = *b;
    now.push_back(name);
    const std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) std::abort();
    const std::size_t end = LastNonZero(bytes.data(), bytes.size());
    if (end && ::pwrite(fd, bytes.data(), end, 0) != static_cast<ssize_t>(end)) std::abort();
    if (::ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) std::abort();
    ::close(fd);
  }
  for (const auto& n : last) {
    if (std::find(now.begin(), now.end(), n) == now.end()) ::unlink((dir + "/" + n).c_str());
  }
  last = std::move(now);
  return dir;
}

// The manifest `d` as internal::WriteManifest writes it (format.h), built
// in place: the in-memory journals of the recovery and dump targets put it
// without WriteManifest's temporary file, rename and lstat of the real
// path (2% of an execution; what the targets fuzz reads the manifest, the
// writing is the harness's). The replays (FullChecks) write it with
// WriteManifest too and compare.
inline format::Manifest ManifestBytes(const internal::ManifestData& d) {
  format::Manifest m;
  std::memset(&m, 0, sizeof m);
  std::memcpy(m.magic, format::kManifestMagic, 8);
  m.format_version = kFormatVersion;
  std::memcpy(m.journal_id, d.journal_id, sizeof m.journal_id);
  m.segment_size = d.segment_size;
  m.epoch = d.epoch;
  m.created_ns = d.created_ns;
  m.first_lsn = d.first_lsn;
  m.first_offset = d.first_offset;
  m.retention_offset = d.retention_offset;
  m.flags = d.flags;
  m.last_txn_id_before = d.last_txn_id_before;
  m.checksum = internal::Hash64(&m, offsetof(format::Manifest, checksum));
  return m;
}

// Builds the journal for `data` in `fs` (emptied first) under `dir`.
inline void BuildJournalInMemory(const std::uint8_t* data, std::size_t size, MemFileSystem& fs,
                                 const std::string& dir) {
  fs.Reset();
  fs.AddDir(dir);
  struct MemSink final : JournalSink {
    MemFileSystem* fs;
    std::string dir;
    std::uint8_t* NewFile(const std::string& name, std::size_t n, std::size_t filled) override {
      return fs->Put(dir + "/" + name, n, filled);
    }
    void PutManifest(const internal::ManifestData& m) override {
      const format::Manifest bytes = ManifestBytes(m);
      const std::string path = dir + "/" + format::kManifestName;
      std::memcpy(fs->Put(path, sizeof bytes), &bytes, sizeof bytes);
      if (!FullChecks()) return;
      // The replays check that the journal's own writer writes these bytes.
      (void)internal::WriteManifest(*fs, dir, m, 0600);
      auto f = fs->Get(path);
      if (!f || f->size != sizeof bytes || std::memcmp(f->bytes(), &bytes, sizeof bytes) != 0) {
        std::fprintf(stderr, "fuzz_dir.h: ManifestBytes and WriteManifest differ\n");
        __builtin_trap();
      }
    }
  } sink;
  sink.fs = &fs;
  sink.dir = dir;
  BuildJournal(data, size, sink);
  fs.Resync();
}

// A read-only Journal::open of `dir` in `fs`, an in-memory file system
// where no catalog can be (LMDB works on real files only): without trying
// to open one (internal::OpenWithoutCatalog: an LMDB environment per open
// was a tenth of the recovery target's time), which is the same open unless
// the manifest says that the catalog holds data the journal cannot rebuild;
// then the missing catalog is an error, and Journal::open reports it. With
// the full checks (the corpus replays) Journal::open must answer the same.
inline Result<std::unique_ptr<Journal>> OpenReadOnlyInMemory(const std::shared_ptr<FileSystem>& fs,
                                                             const std::string& dir) {
  Options o;
  o.read_only = true;
  o.file_system = fs;
  internal::ManifestData m;
  const bool precious =
      internal::ReadManifest(*fs, dir, &m).ok() && (m.flags & format::kManifestCatalogHoldsSourceData) != 0;
  auto j = precious ? Journal::open(dir, o) : internal::OpenWithoutCatalog(dir, o);
  if (FullChecks() && !precious) {
    auto k = Journal::open(dir, o);
    if (k.ok() != j.ok() || (!k.ok() && k.status().ToString() != j.status().ToString()) ||
        (k.ok() && (*k)->recovery_report().ToString() != (*j)->recovery_report().ToString())) {
      std::fprintf(stderr, "a read-only open with the catalog (%s) and without (%s) differ\n",
                   k.ok() ? "ok" : k.status().ToString().c_str(), j.ok() ? "ok" : j.status().ToString().c_str());
      __builtin_trap();
    }
  }
  return j;
}

}  // namespace txj::fuzz

#endif  // TXJOURNAL_FUZZ_FUZZ_DIR_H_
