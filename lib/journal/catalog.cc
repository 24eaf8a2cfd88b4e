#include "catalog.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "dir_lock.h"

namespace txj::internal {

namespace {

// Big-endian keys so LMDB's byte order is numeric order.
std::string U64Key(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}
std::uint64_t KeyU64(const MDB_val& v) {
  std::uint64_t r = 0;
  const auto* p = static_cast<const unsigned char*>(v.mv_data);
  for (std::size_t i = 0; i < 8 && i < v.mv_size; ++i) r = (r << 8) | p[i];
  return r;
}
MDB_val Val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

struct Txn {
  MDB_txn* t = nullptr;
  ~Txn() {
    if (t) mdb_txn_abort(t);
  }
};

constexpr std::size_t kMapSize = std::size_t{1} << 32;

struct Env {
  MDB_env* e = nullptr;
  ~Env() {
    if (e) mdb_env_close(e);
  }
};

}  // namespace

Status LmdbError(int rc, const std::string& what, std::size_t map_size) {
  if (rc == 0) return Status::OK();
  std::string msg = what + ": ";
  if (rc == MDB_MAP_FULL) {
    msg += "its LMDB map size";
    if (map_size != 0) msg += " of " + std::to_string(map_size >> 20) + " MiB";
    msg += " is full (" + std::string(mdb_strerror(rc)) + ")";
    return Status::NoSpace(msg);
  }
  msg += mdb_strerror(rc);
  if (rc == MDB_PANIC) {
    // Set when writing a meta page failed: the environment takes no
    // transaction any more, reads included, until it is opened again.
    msg += " (an earlier write to this catalog failed and LMDB refuses it from then on: close the journal and open "
           "it again)";
  }
  if (rc == ENOSPC || rc == EDQUOT) return Status::NoSpace(msg);
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
    return Status::Corruption(msg);
  }
  return Status::IOError(msg);
}

Status Catalog::Check(int rc, const char* what) const {
  if (rc == 0) return Status::OK();
  return LmdbError(rc, std::string("LMDB ") + what + " in catalog " + path_, kMapSize);
}

Status Catalog::NeedWritable(const char* what) const {
  if (writable_) return Status::OK();
  return Status::InvalidState(std::string("cannot ") + what + ": catalog " + path_ + " is open read-only");
}

namespace {

// A sample of the offset index: the entries at or after `n` evenly spaced
// offsets (a seek each, not a walk over every entry), and the last one.
// Returns LMDB's error code (0 when done).
int SampleIndex(MDB_txn* txn, MDB_dbi index, std::size_t n, std::map<std::uint64_t, std::uint64_t>* out) {
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn, index, &cur)) return rc;
  MDB_val k, v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
  std::uint64_t last = 0, first = 0;
  if (rc == 0) {
    last = KeyU64(k);
    (*out)[last] = KeyU64(v);
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  }
  if (rc == 0) first = KeyU64(k);
  const std::uint64_t step = std::max<std::uint64_t>(1, (last - first) / n);
  for (std::size_t i = 0; rc == 0 && i < n; ++i) {
    std::string tk = U64Key(first + step * i);
    k = Val(tk);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0) (*out)[KeyU64(k)] = KeyU64(v);
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

}  // namespace

Status Catalog::LoadSnapshot(FileSystem& fs, const std::string& dir) {
  auto writer_alive = [&] {
    return Status::Busy("a writer holds journal " + dir + ": a read-only open does without its catalog " + path_ +
                        " (reading it safely would write catalog/lock.mdb)");
  };
  if (DirLock::IsHeld(fs, dir)) return writer_alive();
  Env env;
  TXJ_RETURN_IF_ERROR(Check(mdb_env_create(&env.e), "env_create"));
  mdb_env_set_maxdbs(env.e, 256);
  mdb_env_set_mapsize(env.e, kMapSize);
  // No lock file: nothing is written, nothing needs write permission.
  TXJ_RETURN_IF_ERROR(Check(mdb_env_open(env.e, path_.c_str(), MDB_NOTLS | MDB_RDONLY | MDB_NOLOCK, 0), "env_open"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env.e, nullptr, MDB_RDONLY, &txn.t), "txn_begin"));
  MDB_dbi meta = 0, index = 0, topics = 0;
  for (auto [name, dbi] : {std::pair<const char*, MDB_dbi*>{"meta", &meta}, {"offset_index", &index}, {"topics", &topics}}) {
    int rc = mdb_dbi_open(txn.t, name, 0, dbi);
    if (rc == MDB_NOTFOUND) return Status::NotFound("catalog " + path_ + " has no table " + name + " yet");
    TXJ_RETURN_IF_ERROR(Check(rc, "open table"));
  }
  auto scan = [&](MDB_dbi dbi, const std::function<void(const MDB_val&, const MDB_val&, std::size_t)>& fn) -> Status {
    MDB_cursor* cur = nullptr;
    TXJ_RETURN_IF_ERROR(Check(mdb_cursor_open(txn.t, dbi, &cur), "cursor_open"));
    MDB_val k, v;
    std::size_t i = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) fn(k, v, i++);
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) return Check(rc, "cursor_get");
    return Status::OK();
  };
  auto str = [](const MDB_val& v) { return std::string(static_cast<const char*>(v.mv_data), v.mv_size); };
  TXJ_RETURN_IF_ERROR(scan(meta, [&](const MDB_val& k, const MDB_val& v, std::size_t) { snap_meta_[str(k)] = str(v); }));
  TXJ_RETURN_IF_ERROR(scan(topics, [&](const MDB_val& k, const MDB_val& v, std::size_t) {
    if (v.mv_size != sizeof(TopicStats)) return;
    TopicStats t;
    std::memcpy(&t, v.mv_data, sizeof t);
    snap_topics_[str(k)] = t;
  }));
  MDB_stat st;
  TXJ_RETURN_IF_ERROR(Check(mdb_stat(txn.t, index, &st), "stat offset_index"));
  if (st.ms_entries <= kSnapshotIndexEntries) {
    TXJ_RETURN_IF_ERROR(scan(index, [&](const MDB_val& k, const MDB_val& v, std::size_t) {
      snap_index_[KeyU64(k)] = KeyU64(v);
    }));
  } else {
    TXJ_RETURN_IF_ERROR(Check(SampleIndex(txn.t, index, kSnapshotIndexEntries, &snap_index_), "read offset_index"));
  }
  mdb_txn_abort(txn.t);
  txn.t = nullptr;
  mdb_env_close(env.e);
  env.e = nullptr;
  // A writer that took the lock while this read ran may have recycled pages
  // under it: then none of it is used.
  if (DirLock::IsHeld(fs, dir)) {
    snap_meta_.clear();
    snap_topics_.clear();
    snap_index_.clear();
    return writer_alive();
  }
  return Status::OK();
}

Result<std::unique_ptr<Catalog>> Catalog::Open(FileSystem& fs, const std::string& path, bool writable,
                                               mode_t mode) {
  auto c = std::unique_ptr<Catalog>(new Catalog());
  c->path_ = path;
  c->writable_ = writable;
  if (!writable) {  // side-effect free: see catalog.h
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? std::string(".")
                            : slash == 0                ? std::string("/")
                                                        : path.substr(0, slash);
    TXJ_RETURN_IF_ERROR(c->LoadSnapshot(fs, dir));
    return c;
  }
  // The directory goes through the journal's file system; LMDB does its
  // own I/O on the files inside.
  if (int e = fs.MakeDir(path, mode | 0700); e != 0 && e != EEXIST) {
    return Status::FromErrno(e, "create catalog directory " + path);
  }
  TXJ_RETURN_IF_ERROR(c->Check(mdb_env_create(&c->env_), "env_create"));
  mdb_env_set_maxdbs(c->env_, 256);
  mdb_env_set_mapsize(c->env_, kMapSize);
  TXJ_RETURN_IF_ERROR(c->Check(mdb_env_open(c->env_, path.c_str(), MDB_NOTLS, mode), "env_open"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(c->Check(mdb_txn_begin(c->env_, nullptr, 0, &txn.t), "txn_begin"));
  unsigned dflags = MDB_CREATE;
  int rc = mdb_dbi_open(txn.t, "meta", dflags, &c->meta_);
  if (rc == MDB_NOTFOUND) return Status::NotFound("catalog " + path + " has no tables yet");
  TXJ_RETURN_IF_ERROR(c->Check(rc, "open table meta"));
  rc = mdb_dbi_open(txn.t, "offset_index", dflags, &c->index_);
  if (rc == MDB_NOTFOUND) return Status::NotFound("catalog " + path + " has no index yet");
  TXJ_RETURN_IF_ERROR(c->Check(rc, "open table offset_index"));
  rc = mdb_dbi_open(txn.t, "topics", dflags, &c->topics_);
  if (rc == MDB_NOTFOUND) return Status::NotFound("catalog " + path + " has no topics table yet");
  TXJ_RETURN_IF_ERROR(c->Check(rc, "open table topics"));
  rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  TXJ_RETURN_IF_ERROR(c->Check(rc, "commit"));
  return c;
}

Catalog::~Catalog() {
  if (env_) mdb_env_close(env_);
}

Status Catalog::PutMeta(const std::string& key, const std::string& value) {
  TXJ_RETURN_IF_ERROR(NeedWritable("write meta"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, 0, &txn.t), "txn_begin"));
  MDB_val k = Val(key), v = Val(value);
  TXJ_RETURN_IF_ERROR(Check(mdb_put(txn.t, meta_, &k, &v, 0), "put meta"));
  int rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  return Check(rc, "commit meta");
}

Result<std::optional<std::string>> Catalog::GetMeta(const std::string& key) {
  if (!writable_) {
    auto it = snap_meta_.find(key);
    if (it == snap_meta_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.t), "txn_begin"));
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn.t, meta_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  TXJ_RETURN_IF_ERROR(Check(rc, "get meta"));
  return std::optional<std::string>(std::string(static_cast<const char*>(v.mv_data), v.mv_size));
}

Result<std::optional<Checkpoint>> Catalog::GetCheckpoint() {
  auto v = GetMeta("checkpoint");
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<Checkpoint>();
  const std::string& s = **v;
  if (s.size() != sizeof(Checkpoint)) return std::optional<Checkpoint>();
  Checkpoint cp;
  std::memcpy(&cp, s.data(), sizeof cp);
  return std::optional<Checkpoint>(cp);
}

Status Catalog::PutCheckpoint(const Checkpoint& cp,
                              const std::vector<std::pair<std::uint64_t, std::uint64_t>>& index,
                              const std::map<std::string, TopicStats>& topics, std::uint64_t topics_offset) {
  TXJ_RETURN_IF_ERROR(NeedWritable("write a checkpoint"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, 0, &txn.t), "txn_begin"));
  TXJ_RETURN_IF_ERROR(MergeTopics(txn.t, topics, topics_offset));
  for (const auto& [off, lsn] : index) {
    std::string k = U64Key(off), v = U64Key(lsn);
    MDB_val kv = Val(k), vv = Val(v);
    TXJ_RETURN_IF_ERROR(Check(mdb_put(txn.t, index_, &kv, &vv, 0), "put index"));
  }
  std::string key = "checkpoint";
  std::string val(reinterpret_cast<const char*>(&cp), sizeof cp);
  MDB_val k = Val(key), v = Val(val);
  TXJ_RETURN_IF_ERROR(Check(mdb_put(txn.t, meta_, &k, &v, 0), "put checkpoint"));
  int rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  return Check(rc, "commit checkpoint");
}

Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>> Catalog::FindIndex(std::uint64_t offset) {
  if (!writable_) {
    auto it = snap_index_.upper_bound(offset);
    if (it == snap_index_.begin()) return std::optional<std::pair<std::uint64_t, std::uint64_t>>();
    --it;
    return std::optional<std::pair<std::uint64_t, std::uint64_t>>(*it);
  }
  using R = std::optional<std::pair<std::uint64_t, std::uint64_t>>;
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.t), "txn_begin"));
  MDB_cursor* cur = nullptr;
  TXJ_RETURN_IF_ERROR(Check(mdb_cursor_open(txn.t, index_, &cur), "cursor_open"));
  std::string k = U64Key(offset);
  MDB_val kv = Val(k), vv;
  int rc = mdb_cursor_get(cur, &kv, &vv, MDB_SET_RANGE);
  if (rc == 0 && KeyU64(kv) == offset) {
    R r = std::make_pair(KeyU64(kv), KeyU64(vv));
    mdb_cursor_close(cur);
    return r;
  }
  rc = (rc == 0) ? mdb_cursor_get(cur, &kv, &vv, MDB_PREV) : mdb_cursor_get(cur, &kv, &vv, MDB_LAST);
  R r;
  if (rc == 0) r = std::make_pair(KeyU64(kv), KeyU64(vv));
  mdb_cursor_close(cur);
  if (rc != 0 && rc != MDB_NOTFOUND) return Check(rc, "cursor_get");
  return r;
}

Status Catalog::PutTopics(const std::map<std::string, TopicStats>& topics, std::uint64_t topics_offset) {
  TXJ_RETURN_IF_ERROR(NeedWritable("write topics"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, 0, &txn.t), "txn_begin"));
  TXJ_RETURN_IF_ERROR(MergeTopics(txn.t, topics, topics_offset));
  int rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  return Check(rc, "commit topics");
}

Status Catalog::MergeTopics(MDB_txn* t, const std::map<std::string, TopicStats>& topics,
                            std::uint64_t topics_offset) {
  for (const auto& [name, delta] : topics) {
    MDB_val k = Val(name), v;
    TopicStats merged = delta;
    if (mdb_get(t, topics_, &k, &v) == 0 && v.mv_size == sizeof(TopicStats)) {
      TopicStats old;
      std::memcpy(&old, v.mv_data, sizeof old);
      merged.events += old.events;
      merged.bytes += old.bytes;
      merged.first_offset = old.first_offset;
    }
    MDB_val nv{sizeof merged, &merged};
    TXJ_RETURN_IF_ERROR(Check(mdb_put(t, topics_, &k, &nv, 0), "put topic"));
  }
  if (topics_offset > 0) {
    std::string key = "topics_offset", val = U64Key(topics_offset);
    MDB_val k = Val(key), v = Val(val);
    TXJ_RETURN_IF_ERROR(Check(mdb_put(t, meta_, &k, &v, 0), "put topics offset"));
  }
  return Status::OK();
}

Result<std::map<std::string, TopicStats>> Catalog::GetTopics() {
  if (!writable_) return snap_topics_;
  std::map<std::string, TopicStats> out;
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn.t), "txn_begin"));
  MDB_cursor* cur = nullptr;
  TXJ_RETURN_IF_ERROR(Check(mdb_cursor_open(txn.t, topics_, &cur), "cursor_open"));
  MDB_val k, v;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (v.mv_size != sizeof(TopicStats)) continue;
    TopicStats t;
    std::memcpy(&t, v.mv_data, sizeof t);
    out.emplace(std::string(static_cast<const char*>(k.mv_data), k.mv_size), t);
  }
  mdb_cursor_close(cur);
  return out;
}

Result<std::uint64_t> Catalog::TopicsOffset() {
  auto v = GetMeta("topics_offset");
  if (!v.ok()) return v.status();
  if (!v->has_value() || (*v)->size() != 8) return std::uint64_t{0};
  MDB_val mv{8, (*v)->data()};
  return KeyU64(mv);
}

namespace {

// Deletes the offset index entries whose LSN is in [lo, hi); LMDB's error
// code (0 when done).
int DeleteIndexEntries(MDB_txn* txn, MDB_dbi index, std::uint64_t lo, std::uint64_t hi) {
  MDB_cursor* cur = nullptr;
  if (int rc = mdb_cursor_open(txn, index, &cur)) return rc;
  MDB_val k, v;
  int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const std::uint64_t lsn = KeyU64(v);
    if (lsn >= lo && lsn < hi && (rc = mdb_cursor_del(cur, 0)) != 0) break;
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

}  // namespace

Status Catalog::DropIndexRange(std::uint64_t lo, std::uint64_t hi) {
  TXJ_RETURN_IF_ERROR(NeedWritable("drop index entries"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, 0, &txn.t), "txn_begin"));
  TXJ_RETURN_IF_ERROR(Check(DeleteIndexEntries(txn.t, index_, lo, hi), "drop index entries"));
  int rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  return Check(rc, "commit index drop");
}

Status Catalog::DropFrom(std::uint64_t lsn) {
  TXJ_RETURN_IF_ERROR(NeedWritable("drop index entries"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, 0, &txn.t), "txn_begin"));
  TXJ_RETURN_IF_ERROR(Check(DeleteIndexEntries(txn.t, index_, lsn, ~std::uint64_t{0}), "drop index entries"));
  std::string key = "checkpoint";
  MDB_val kk = Val(key), cv;
  if (mdb_get(txn.t, meta_, &kk, &cv) == 0 && cv.mv_size == sizeof(Checkpoint)) {
    Checkpoint cp;
    std::memcpy(&cp, cv.mv_data, sizeof cp);
    if (cp.lsn > lsn) mdb_del(txn.t, meta_, &kk, nullptr);
  }
  const int rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  return Check(rc, "commit drop");
}

Status Catalog::ClearDerived() {
  TXJ_RETURN_IF_ERROR(NeedWritable("clear derived tables"));
  Txn txn;
  TXJ_RETURN_IF_ERROR(Check(mdb_txn_begin(env_, nullptr, 0, &txn.t), "txn_begin"));
  TXJ_RETURN_IF_ERROR(Check(mdb_drop(txn.t, index_, 0), "clear index"));
  TXJ_RETURN_IF_ERROR(Check(mdb_drop(txn.t, topics_, 0), "clear topics"));
  std::string tkey = "topics_offset";
  MDB_val tk = Val(tkey);
  mdb_del(txn.t, meta_, &tk, nullptr);
  std::string key = "checkpoint";
  MDB_val kk = Val(key);
  mdb_del(txn.t, meta_, &kk, nullptr);
  int rc = mdb_txn_commit(txn.t);
  txn.t = nullptr;
  return Check(rc, "commit clear");
}

void MergeTopicCounts(std::map<std::string, TopicStats>* into, const std::map<std::string, TopicStats>& delta) {
  for (const auto& [name, d] : delta) {
    auto [it, fresh] = into->try_emplace(name, d);
    if (fresh) continue;
    TopicStats& t = it->second;
    if (t.events == 0 || (d.events != 0 && d.first_offset < t.first_offset)) t.first_offset = d.first_offset;
    if (d.events != 0 && d.last_offset > t.last_offset) t.last_offset = d.last_offset;
    t.events += d.events;
    t.bytes += d.bytes;
  }
}

}  // namespace txj::internal
