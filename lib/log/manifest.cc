#include "manifest.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "checksum.h"
#include "format.h"
#include "hex.h"
#include "txjournal/version.h"

namespace txj::internal {

namespace {

// The fields ManifestData and the on-disk format::Manifest share, copied
// either way: one list for reading and writing the manifest.
template <typename From, typename To>
void CopyManifestFields(const From& from, To* to) {
  std::memcpy(to->journal_id, from.journal_id, sizeof to->journal_id);
  to->segment_size = from.segment_size;
  to->epoch = from.epoch;
  to->created_ns = from.created_ns;
  to->first_lsn = from.first_lsn;
  to->first_offset = from.first_offset;
  to->retention_offset = from.retention_offset;
  to->flags = from.flags;
  to->last_txn_id_before = from.last_txn_id_before;
}

}  // namespace

std::uint64_t ManifestData::salt() const { return Hash64(journal_id, sizeof journal_id, 0x74786a); }

std::string ManifestData::id_hex() const {
  return HexEncode(journal_id, sizeof journal_id);
}

Status RandomId(std::uint8_t id[16]) {
  std::size_t got = 0;
  while (got < 16) {
    ssize_t r = ::getrandom(id + got, 16 - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "getrandom for a journal id");
    }
    got += static_cast<std::size_t>(r);
  }
  return Status::OK();
}

Status ReadManifest(FileSystem& fs, const std::string& dir, ManifestData* out) {
  std::string path = JoinPath(dir, format::kManifestName);
  int fd = -1;
  if (int e = fs.Open(path, O_RDONLY, 0, &fd)) {
    if (e == ENOENT) return Status::NotFound("no journal manifest at " + path);
    return OpenError(e, "open", path);
  }
  format::Manifest m;
  std::size_t got = 0;
  int e = fs.PRead(fd, &m, sizeof m, 0, &got);
  fs.Close(fd);
  if (e) return Status::FromErrno(e, "read " + path);
  if (got != sizeof m) {
    return Status::Corruption(path + ": manifest is " + std::to_string(got) + " bytes, expected " +
                              std::to_string(sizeof m));
  }
  if (std::memcmp(m.magic, format::kManifestMagic, 8) != 0) {
    return Status::Corruption(path + ": bad magic at byte 0 (not a txjournal manifest)");
  }
  if (Hash64(&m, offsetof(format::Manifest, checksum)) != m.checksum) {
    return Status::Corruption(path + ": manifest checksum mismatch at byte " +
                              std::to_string(offsetof(format::Manifest, checksum)));
  }
  if (m.format_version < format::kOldestFormatVersion || m.format_version > kFormatVersion) {
    return Status::NotSupported(path + ": format version " + std::to_string(m.format_version) +
                                ", this build reads versions " + std::to_string(format::kOldestFormatVersion) +
                                " to " + std::to_string(kFormatVersion));
  }
  if (m.segment_size < format::kMinSegmentSize || m.segment_size > format::kMaxSegmentSize ||
      m.segment_size % 4096 != 0) {
    return Status::Corruption(path + ": invalid segment size " + std::to_string(m.segment_size));
  }
  CopyManifestFields(m, out);
  return Status::OK();
}

Status WriteManifest(FileSystem& fs, const std::string& dir, const ManifestData& d, mode_t mode) {
  format::Manifest m;
  std::memset(&m, 0, sizeof m);
  std::memcpy(m.magic, format::kManifestMagic, 8);
  m.format_version = kFormatVersion;
  CopyManifestFields(d, &m);
  m.checksum = Hash64(&m, offsetof(format::Manifest, checksum));
  std::string path = JoinPath(dir, format::kManifestName);
  std::string tmp = path + format::kTempSuffix;
  int fd = -1;
  if (int e = fs.Open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode, &fd)) {
    return OpenError(e, "create", tmp);
  }
  if (Status k = KeepOwnerAndMode(fs, fd, path); !k.ok()) {
    fs.Close(fd);
    return k;
  }
  int e = fs.PWrite(fd, &m, sizeof m, 0);
  if (!e) e = fs.DataSync(fd);
  fs.Close(fd);
  if (e) return Status::FromErrno(e, "write " + tmp);
  if (int r = fs.Rename(tmp, path)) return Status::FromErrno(r, "rename " + tmp + " to " + path);
  if (int r = fs.SyncDir(dir)) return Status::FromErrno(r, "sync directory " + dir);
  return Status::OK();
}

}  // namespace txj::internal
