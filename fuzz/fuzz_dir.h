// Turns a fuzz input into a journal directory, for the targets that open,
// recover or dump a journal (recovery_fuzzer.cc, dump_fuzzer.cc).
//
// Input layout (little endian):
//   byte 0        flags: bit 0..1 gap before the 2nd / 3rd segment (a
//                 missing segment), bit 2 no manifest, bit 7 raw mode
//   bytes 1..16   journal identity (the manifest and segment headers get it)
//   bytes 17..24  manifest epoch
//   then, up to four times: u32 n, a 24-byte watermark slot, n bytes of
//   segment data stored from byte 4096 of the segment (clamped to it)
// Segment headers and the manifest are built valid (with their checksums)
// so that mutations reach the records; record checksums are seeded with
// the identity, so seeds made from a real journal (make_seeds.cc) carry
// their identity along.
//
// Raw mode (bit 7): the next 128 bytes are written as JOURNAL as they are,
// and the rest as one segment file as it is, header included.
#ifndef TXJOURNAL_FUZZ_FUZZ_DIR_H_
#define TXJOURNAL_FUZZ_FUZZ_DIR_H_

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "checksum.h"
#include "format.h"
#include "manifest.h"
#include "segment.h"
#include "txjournal/version.h"

namespace txj::fuzz {

inline constexpr std::uint64_t kFuzzSegmentSize = 64 * 1024;

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

// Builds the journal directory for `data`; returns its path.
inline std::string BuildJournalDir(const std::uint8_t* data, std::size_t size) {
  CleanWorkDir();
  const std::string dir = WorkDir() + "/j";
  std::filesystem::create_directories(dir);
  if (size < 1) return dir;
  const std::uint8_t flags = data[0];
  ++data;
  --size;
  if (flags & 0x80) {
    const std::size_t m = size < format::kManifestSize ? size : format::kManifestSize;
    WriteFile(dir + "/" + format::kManifestName, data, m);
    if (size > m) WriteFile(dir + "/" + internal::SegmentFileName(0), data + m, size - m);
    return dir;
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
  man.segment_size = kFuzzSegmentSize;
  man.epoch = epoch;
  man.created_ns = 1;
  if ((flags & 4) == 0) {
    (void)internal::WriteManifest(*DefaultFileSystem(), dir, man, 0600);
  }
  std::uint64_t index = 0;
  for (int s = 0; s < 4 && size >= 4; ++s) {
    std::uint32_t n;
    std::memcpy(&n, data, 4);
    data += 4;
    size -= 4;
    if (s == 1 && (flags & 1)) ++index;
    if (s == 2 && (flags & 2)) ++index;
    const std::uint64_t base = index * kFuzzSegmentSize;
    ++index;
    std::vector<std::uint8_t> seg(kFuzzSegmentSize, 0);
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
    std::memcpy(seg.data(), &h, sizeof h);
    const std::size_t wm = size < sizeof(format::WatermarkSlot) ? size : sizeof(format::WatermarkSlot);
    std::memcpy(seg.data() + format::kWatermarkOffset, data, wm);
    data += wm;
    size -= wm;
    std::size_t take = n;
    if (take > size) take = size;
    if (take > kFuzzSegmentSize - format::kSegmentHeaderSize) take = kFuzzSegmentSize - format::kSegmentHeaderSize;
    std::memcpy(seg.data() + format::kSegmentHeaderSize, data, take);
    data += take;
    size -= take;
    WriteFile(dir + "/" + internal::SegmentFileName(base), seg.data(), seg.size());
  }
  return dir;
}

}  // namespace txj::fuzz

#endif  // TXJOURNAL_FUZZ_FUZZ_DIR_H_
