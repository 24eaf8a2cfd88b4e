#include "snapshot_store.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "checksum.h"
#include "manifest.h"
#include "txjournal/version.h"

namespace txj::internal {

namespace {

constexpr char kSnapMagic[8] = {'T', 'X', 'J', 'S', 'N', 'A', 'P', '1'};
constexpr char kMarkMagic[8] = {'T', 'X', 'J', 'C', 'M', 'P', 'K', '1'};
constexpr std::size_t kMaxSnapshotFile = std::size_t{1} << 34;  // 16 GiB: refuse absurd sizes

void Put(std::string& out, const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); }
template <typename T>
void PutInt(std::string& out, T v) { Put(out, &v, sizeof v); }
void PutStr(std::string& out, const std::string& s) {
  PutInt<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

struct Reader {
  std::string_view in;
  template <typename T>
  bool Int(T* v) {
    if (in.size() < sizeof(T)) return false;
    std::memcpy(v, in.data(), sizeof(T));
    in.remove_prefix(sizeof(T));
    return true;
  }
  bool Str(std::string* s, std::uint64_t max) {
    std::uint32_t n;
    if (!Int(&n) || n > max || in.size() < n) return false;
    s->assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
  }
};

Result<std::string> ReadWholeFile(FileSystem* fs, const std::string& path) {
  int fd = -1;
  if (int e = fs->Open(path, O_RDONLY, 0, &fd)) return Status::FromErrno(e, "open " + path);
  std::uint64_t size = 0;
  int e = fs->FileSize(fd, &size);
  if (e || size > kMaxSnapshotFile) {
    fs->Close(fd);
    return e ? Status::FromErrno(e, "stat " + path) : Status::Corruption(path + ": absurd size " + std::to_string(size));
  }
  std::string buf(size, '\0');
  std::size_t got = 0;
  e = fs->PRead(fd, buf.data(), buf.size(), 0, &got);
  fs->Close(fd);
  if (e) return Status::FromErrno(e, "read " + path);
  buf.resize(got);
  return buf;
}

}  // namespace

SnapshotStore::SnapshotStore(FileSystem* fs, std::string journal_dir, mode_t mode)
    : fs_(fs), dir_(JoinPath(journal_dir, "snapshots")), mode_(mode) {}

std::string SnapshotStore::TopicId(const std::string& topic) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(Hash64(topic.data(), topic.size(), 0x746f70)));
  return buf;
}

Status SnapshotStore::EnsureDir() {
  TXJ_RETURN_IF_ERROR(RefuseSymlink(*fs_, dir_));
  mode_t dmode = mode_ | ((mode_ & 0444) >> 2) | 0100;
  int e = fs_->MakeDir(dir_, dmode);
  if (e && e != EEXIST) return Status::FromErrno(e, "create " + dir_);
  if (!e) {
    std::string parent = dir_.substr(0, dir_.rfind('/'));
    if (int r = fs_->SyncDir(parent)) return Status::FromErrno(r, "sync directory " + parent);
  }
  return Status::OK();
}

Status SnapshotStore::WriteFileAtomically(const std::string& name, const std::string& bytes) {
  TXJ_RETURN_IF_ERROR(EnsureDir());
  std::string path = JoinPath(dir_, name), tmp = path + ".tmp";
  int fd = -1;
  if (int e = fs_->Open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode_, &fd)) return Status::FromErrno(e, "create " + tmp);
  int e = fs_->PWrite(fd, bytes.data(), bytes.size(), 0);
  if (!e) e = fs_->DataSync(fd);
  fs_->Close(fd);
  if (e) {
    fs_->Unlink(tmp);
    return Status::FromErrno(e, "write " + tmp);
  }
  if (int r = fs_->Rename(tmp, path)) return Status::FromErrno(r, "rename " + tmp);
  if (int r = fs_->SyncDir(dir_)) return Status::FromErrno(r, "sync directory " + dir_);
  return Status::OK();
}

Result<SnapshotInfo> SnapshotStore::Write(const std::string& topic, const std::string& compactor,
                                          std::uint32_t version, std::uint64_t covered_offset,
                                          std::uint64_t events_folded, const std::string& state) {
  std::string out;
  Put(out, kSnapMagic, 8);
  PutInt<std::uint32_t>(out, kFormatVersion);
  PutStr(out, topic);
  PutStr(out, compactor);
  PutInt<std::uint32_t>(out, version);
  PutInt<std::uint64_t>(out, covered_offset);
  PutInt<std::uint64_t>(out, events_folded);
  PutInt<std::uint64_t>(out, state.size());
  out += state;
  PutInt<std::uint64_t>(out, Hash64(out.data(), out.size()));
  char name[64];
  std::snprintf(name, sizeof name, "%s-%016llx.snap", TopicId(topic).c_str(),
                static_cast<unsigned long long>(covered_offset));
  TXJ_RETURN_IF_ERROR(WriteFileAtomically(name, out));
  SnapshotInfo info{topic, compactor, version, covered_offset, events_folded, StateHash(state), state.size(),
                    JoinPath(dir_, name)};
  return info;
}

Result<StoredSnapshot> SnapshotStore::Read(const std::string& file) const {
  auto bytes = ReadWholeFile(fs_, file);
  if (!bytes.ok()) return bytes.status();
  const std::string& b = *bytes;
  if (b.size() < 8 + 8 || std::memcmp(b.data(), kSnapMagic, 8) != 0) {
    return Status::Corruption(file + ": not a snapshot (bad magic at byte 0)");
  }
  std::uint64_t stored;
  std::memcpy(&stored, b.data() + b.size() - 8, 8);
  if (Hash64(b.data(), b.size() - 8) != stored) {
    return Status::Corruption(file + ": snapshot checksum mismatch (checksum at byte " + std::to_string(b.size() - 8) + ")");
  }
  Reader r{std::string_view(b.data() + 8, b.size() - 16)};
  std::uint32_t fv = 0;
  StoredSnapshot s;
  std::uint64_t state_len = 0;
  if (!r.Int(&fv)) return Status::Corruption(file + ": truncated snapshot header");
  if (fv < format::kOldestFormatVersion || fv > kFormatVersion) return Status::NotSupported(file + ": snapshot format version " + std::to_string(fv));
  if (!r.Str(&s.info.topic, 4096) || !r.Str(&s.info.compactor, 4096) || !r.Int(&s.info.compactor_version) ||
      !r.Int(&s.info.covered_offset) || !r.Int(&s.info.events_folded) || !r.Int(&state_len) ||
      state_len != r.in.size()) {
    return Status::Corruption(file + ": malformed snapshot fields");
  }
  s.state.assign(r.in);
  s.info.state_hash = StateHash(s.state);
  s.info.size = s.state.size();
  s.info.file = file;
  return s;
}

Result<std::vector<SnapshotStore::Listing>> SnapshotStore::List(const std::string& topic) const {
  std::vector<std::string> names;
  std::vector<Listing> out;
  if (int e = fs_->ListDir(dir_, &names)) {
    if (e == ENOENT) return out;
    return Status::FromErrno(e, "list " + dir_);
  }
  const std::string prefix = topic.empty() ? "" : TopicId(topic) + "-";
  for (const auto& n : names) {
    if (n.size() < 5 || n.compare(n.size() - 5, 5, ".snap") != 0) continue;
    if (!prefix.empty() && n.compare(0, prefix.size(), prefix) != 0) continue;
    Listing l;
    auto s = Read(JoinPath(dir_, n));
    if (s.ok()) {
      l.info = s->info;
    } else {
      l.damaged = true;
      l.problem = s.status().ToString();
      l.info.file = JoinPath(dir_, n);
      l.info.topic = topic;
      unsigned long long off = 0;
      if (n.size() > 22) off = std::strtoull(n.substr(17, 16).c_str(), nullptr, 16);
      l.info.covered_offset = off;
    }
    if (!topic.empty() && !l.damaged && l.info.topic != topic) continue;  // id collision
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(), [](const Listing& a, const Listing& b) {
    if (a.info.topic != b.info.topic) return a.info.topic < b.info.topic;
    return a.info.covered_offset > b.info.covered_offset;
  });
  return out;
}

Status SnapshotStore::Remove(const std::string& file) {
  if (int e = fs_->Unlink(file); e && e != ENOENT) return Status::FromErrno(e, "remove " + file);
  return Status::OK();
}

Result<std::map<std::string, std::uint64_t>> SnapshotStore::CompactedMarks() const {
  std::map<std::string, std::uint64_t> marks;
  std::vector<std::string> names;
  if (int e = fs_->ListDir(dir_, &names)) {
    if (e == ENOENT) return marks;
    return Status::FromErrno(e, "list " + dir_);
  }
  for (const auto& n : names) {
    if (n.size() < 10 || n.compare(n.size() - 10, 10, ".compacted") != 0) continue;
    std::string path = JoinPath(dir_, n);
    auto bytes = ReadWholeFile(fs_, path);
    if (!bytes.ok()) return bytes.status();
    const std::string& b = *bytes;
    std::uint64_t stored = 0;
    if (b.size() < 16 + 4 + 8 || std::memcmp(b.data(), kMarkMagic, 8) != 0 ||
        (std::memcpy(&stored, b.data() + b.size() - 8, 8), Hash64(b.data(), b.size() - 8) != stored)) {
      return Status::Corruption(path + ": damaged compaction mark (magic or checksum)");
    }
    Reader r{std::string_view(b.data() + 8, b.size() - 16)};
    std::string topic;
    std::uint64_t off = 0;
    if (!r.Str(&topic, 4096) || !r.Int(&off)) return Status::Corruption(path + ": malformed compaction mark");
    marks[topic] = off;
  }
  return marks;
}

Status SnapshotStore::SetCompactedMark(const std::string& topic, std::uint64_t offset) {
  std::string out;
  Put(out, kMarkMagic, 8);
  PutStr(out, topic);
  PutInt<std::uint64_t>(out, offset);
  PutInt<std::uint64_t>(out, Hash64(out.data(), out.size()));
  return WriteFileAtomically(TopicId(topic) + ".compacted", out);
}

}  // namespace txj::internal
