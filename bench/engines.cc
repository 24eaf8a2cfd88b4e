// The baselines: the memory-copy limit, pwrite + fdatasync, LMDB, SQLite,
// RocksDB; and txjournal itself.
#include <fcntl.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "engine.h"
#include "record_model.h"
#include "txjournal/journal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace bench {

namespace {

// What the engines that write record_model.h's bytes into files of their
// own share: where they are in the log, the current file, and the end of a
// transaction (an fdatasync when durable).
class RecordFileEngine : public Engine {
 public:
  std::int64_t DataSyncs() const override { return syncs_; }

 protected:
  // A run begins: nothing written yet.
  void Reset(const std::string& dir, const Shape& s) {
    shape_ = s;
    dir_ = dir;
    lsn_ = 4096;
    txn_ = 0;
    offset_ = 0;
    syncs_ = 0;
  }
  bool Fail(const char* what) {
    error = std::string(what) + " on " + path_ + ": " + std::strerror(errno);
    return false;
  }
  // Opens the next file, DIR/<prefix>-<n>.dat, empty.
  bool OpenNextFile(const char* prefix) {
    path_ = dir_ + "/" + prefix + "-" + std::to_string(files_++) + ".dat";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    return fd_ >= 0 || Fail("open");
  }
  static std::uint64_t NowNs() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
  }
  // A transaction of `n` bytes was written at pos_: moves on past it, and
  // syncs the file when the run is durable.
  bool Written(std::size_t n) {
    pos_ += n;
    lsn_ += n;
    offset_ += shape_.per_txn;
    if (shape_.durable) {
      ++syncs_;
      if (::fdatasync(fd_) != 0) return Fail("fdatasync");
    }
    return true;
  }

  Shape shape_;
  std::string dir_, path_;
  int fd_ = -1;
  std::size_t pos_ = 0;
  std::uint64_t lsn_ = 0, txn_ = 0, offset_ = 0, files_ = 0;
  std::int64_t syncs_ = 0;
};

// What appending can cost at best: the bytes txjournal writes for the same
// transaction (record_model.h: headers, names, payload, alignment, XXH3 with
// the position seed, the commit's running hash; one timestamp read per
// transaction) copied into a shared mapping of the file; with `durable`, an
// fdatasync per transaction.
//   limit-prefaulted: one 256 MiB file whose pages were faulted in and
//     dirtied before the clock starts (MADV_POPULATE_WRITE), reused round
//     and round: no page fault, no allocation, only the copy and the hash.
//   limit-fresh-pages: a new mapping of a new fallocated 64 MiB file (the
//     default segment size) whenever the current one is full, no page
//     touched before the writer does: every page costs a fault, a page of
//     the page cache and the file system's unwritten-extent handling, as a
//     new segment does. A full file is unmapped and unlinked (its dirty pages
//     are dropped, never written back), so only the cost of writing into
//     memory is measured.
class Limit final : public RecordFileEngine {
 public:
  explicit Limit(bool fresh) : fresh_(fresh) {}
  std::string name() const override { return fresh_ ? "limit-fresh-pages" : "limit-prefaulted"; }
  bool OpenWritesAreSetup() const override { return true; }
  bool HasDeviceBytes() const override { return false; }
  bool Open(const std::string& dir, const Shape& s) override {
    Reset(dir, s);
    if (!NewFile()) return false;
    if (!fresh_ && ::madvise(map_, size(), MADV_POPULATE_WRITE) != 0) {
      for (std::size_t i = 0; i < size(); i += 4096) map_[i] = 0;  // kernels before 5.14
    }
    return true;
  }
  bool Commit(const std::string& p) override {
    const std::size_t need = model::TxnBytes(p.size(), shape_.per_txn);
    if (pos_ + need > size()) {
      if (fresh_) {
        if (!NewFile()) return false;
      } else {
        pos_ = 0;
      }
    }
    return Written(model::WriteTxn(map_ + pos_, lsn_, kSalt, ++txn_, offset_, NowNs(), p, shape_.per_txn));
  }
  bool Close() override {
    Drop();
    return true;
  }

 private:
  static constexpr std::uint64_t kSalt = 0x5eed5eed5eed5eedull;
  std::size_t size() const { return fresh_ ? (std::size_t{64} << 20) : (std::size_t{256} << 20); }
  void Drop() {
    if (map_ != nullptr) ::munmap(map_, size());
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
    map_ = nullptr;
    fd_ = -1;
    path_.clear();
  }
  bool NewFile() {
    Drop();
    if (!OpenNextFile("limit")) return false;
    if (int e = ::posix_fallocate(fd_, 0, static_cast<off_t>(size())); e != 0) {
      errno = e;
      return Fail("posix_fallocate");
    }
    void* m = ::mmap(nullptr, size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) return Fail("mmap");
    map_ = static_cast<char*>(m);
    pos_ = 0;
    return true;
  }
  const bool fresh_;
  char* map_ = nullptr;
};

// pwrite of the same record bytes (record_model.h), one call per
// transaction, and an fdatasync per transaction when durable.
//   pwrite-zero-filled: into a 64 MiB file written with zeroes (4 KiB at a
//     time, so that the page cache holds it in 4 KiB pages) and synced
//     before the clock starts: overwriting allocated, written blocks, an
//     fdatasync flushes data only. Reused round and round.
//   pwrite-fallocated: into a new posix_fallocate'd 64 MiB file (unwritten
//     extents: each fdatasync also commits their conversion in the file
//     system's journal); when full, the next file is allocated (the full
//     ones stay, so their data is written back and counted).
class Pwrite final : public RecordFileEngine {
 public:
  explicit Pwrite(bool fallocated) : fallocated_(fallocated) {}
  std::string name() const override { return fallocated_ ? "pwrite-fallocated" : "pwrite-zero-filled"; }
  bool OpenWritesAreSetup() const override { return true; }
  bool Open(const std::string& dir, const Shape& s) override {
    Reset(dir, s);
    return NewFile();
  }
  bool Commit(const std::string& p) override {
    buf_.resize(model::TxnBytes(p.size(), shape_.per_txn));
    if (pos_ + buf_.size() > kSize) {
      if (fallocated_) {
        if (!NewFile()) return false;
      } else {
        pos_ = 0;
      }
    }
    const std::size_t n = model::WriteTxn(buf_.data(), lsn_, 0x5eed, ++txn_, offset_, NowNs(), p, shape_.per_txn);
    if (::pwrite(fd_, buf_.data(), n, static_cast<off_t>(pos_)) != static_cast<ssize_t>(n)) return Fail("pwrite");
    return Written(n);
  }
  bool Close() override {
    const bool ok = fd_ < 0 || ::close(fd_) == 0;
    fd_ = -1;
    if (!ok) error = std::string("close: ") + std::strerror(errno);
    return ok;
  }

 private:
  static constexpr std::size_t kSize = 64u << 20;
  bool NewFile() {
    if (!Close()) return false;
    if (!OpenNextFile("pw")) return false;
    if (fallocated_) {
      if (int e = ::posix_fallocate(fd_, 0, static_cast<off_t>(kSize)); e != 0) {
        errno = e;
        return Fail("posix_fallocate");
      }
    } else {
      const std::string zero(4096, '\0');
      for (std::size_t off = 0; off < kSize; off += zero.size()) {
        if (::pwrite(fd_, zero.data(), zero.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(zero.size())) {
          return Fail("pwrite of zeroes");
        }
      }
    }
    if (::fdatasync(fd_) != 0) return Fail("fdatasync");
    pos_ = 0;
    return true;
  }
  const bool fallocated_;
  std::vector<char> buf_;
};

class Lmdb final : public Engine {
 public:
  std::string name() const override { return "lmdb"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    key_ = 0;
    if (mdb_env_create(&env_) != 0) return false;
    mdb_env_set_mapsize(env_, std::size_t{16} << 30);
    if (mdb_env_open(env_, dir.c_str(), s.durable ? 0 : MDB_NOSYNC, 0600) != 0) return false;
    MDB_txn* t;
    mdb_txn_begin(env_, nullptr, 0, &t);
    mdb_dbi_open(t, nullptr, MDB_INTEGERKEY, &dbi_);
    return mdb_txn_commit(t) == 0;
  }
  bool Commit(const std::string& p) override {
    MDB_txn* t;
    if (mdb_txn_begin(env_, nullptr, 0, &t) != 0) return false;
    for (std::size_t i = 0; i < shape_.per_txn; ++i) {
      ++key_;
      MDB_val k{sizeof key_, &key_}, v{p.size(), const_cast<char*>(p.data())};
      if (mdb_put(t, dbi_, &k, &v, MDB_APPEND) != 0) {
        mdb_txn_abort(t);
        return false;
      }
    }
    return mdb_txn_commit(t) == 0;
  }
  std::uint64_t Scan() override {
    MDB_txn* t;
    mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t);
    MDB_cursor* c;
    mdb_cursor_open(t, dbi_, &c);
    MDB_val k, v;
    std::uint64_t n = 0, sum = 0;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      ++n;
      sum += v.mv_size;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(t);
    return sum ? n : n;
  }
  bool Close() override {
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
    return true;
  }

 private:
  Shape shape_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  std::uint64_t key_ = 0;
};

class Sqlite final : public Engine {
 public:
  std::string name() const override { return "sqlite-wal"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    if (sqlite3_open((dir + "/db.sqlite").c_str(), &db_) != SQLITE_OK) return false;
    Exec("PRAGMA journal_mode=WAL");
    Exec(s.durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
    Exec("CREATE TABLE e(id INTEGER PRIMARY KEY, data BLOB)");
    return sqlite3_prepare_v2(db_, "INSERT INTO e(data) VALUES(?)", -1, &ins_, nullptr) == SQLITE_OK;
  }
  bool Commit(const std::string& p) override {
    Exec("BEGIN");
    for (std::size_t i = 0; i < shape_.per_txn; ++i) {
      sqlite3_bind_blob(ins_, 1, p.data(), static_cast<int>(p.size()), SQLITE_STATIC);
      if (sqlite3_step(ins_) != SQLITE_DONE) return false;
      sqlite3_reset(ins_);
    }
    return Exec("COMMIT");
  }
  bool Close() override {
    if (ins_) sqlite3_finalize(ins_);
    const int rc = db_ ? sqlite3_close(db_) : SQLITE_OK;
    ins_ = nullptr;
    db_ = nullptr;
    if (rc != SQLITE_OK) error = std::string("sqlite3_close: ") + sqlite3_errstr(rc);
    return rc == SQLITE_OK;
  }

 private:
  bool Exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }
  Shape shape_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* ins_ = nullptr;
};

class Rocks final : public Engine {
 public:
  std::string name() const override { return "rocksdb-wal"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    key_ = 0;
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    auto st = rocksdb::DB::Open(o, dir + "/rocks", &db);
    if (!st.ok()) {
      error = st.ToString();
      return false;
    }
    db_.reset(db);
    return true;
  }
  bool Commit(const std::string& p) override {
    rocksdb::WriteBatch b;
    for (std::size_t i = 0; i < shape_.per_txn; ++i) {
      ++key_;
      char k[8];
      for (int x = 0; x < 8; ++x) k[x] = static_cast<char>(key_ >> (56 - 8 * x));
      b.Put(rocksdb::Slice(k, 8), p);
    }
    rocksdb::WriteOptions wo;
    wo.sync = shape_.durable;
    return db_->Write(wo, &b).ok();
  }
  bool Close() override {
    rocksdb::Status st = db_ ? db_->Close() : rocksdb::Status::OK();
    db_.reset();
    if (!st.ok()) error = "close: " + st.ToString();
    return st.ok();
  }

 private:
  Shape shape_;
  std::unique_ptr<rocksdb::DB> db_;
  std::uint64_t key_ = 0;
};

// One top-level transaction of `n` events of `p` (what both txjournal
// engines append, flat).
txj::Result<txj::CommitInfo> CommitFlat(txj::Journal& j, std::size_t n, const std::string& p) {
  auto tx = j.begin();
  if (!tx.ok()) return tx.status();
  for (std::size_t i = 0; i < n; ++i) {
    if (txj::Status st = tx->append("bench", "event", p); !st.ok()) return st;
  }
  return tx->commit();
}

class Txj final : public Engine {
 public:
  std::string name() const override { return "txjournal"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    txj::Options o;
    o.durability = s.durable ? txj::Durability::kCommit : txj::Durability::kNone;
    fs_ = std::make_shared<CountingFileSystem>();
    o.file_system = fs_;
    auto j = txj::Journal::open(dir + "/txj", o);
    if (!j.ok()) {
      error = j.status().ToString();
      return false;
    }
    j_ = std::move(j).value();
    n_ = 0;
    return true;
  }
  bool Commit(const std::string& p) override {
    if (!shape_.nested) return CommitFlat(*j_, shape_.per_txn, p).ok();
    auto tx = j_->begin();
    if (!tx.ok()) return false;
    // Depth 3: each event in a sub-sub-transaction; a tenth rolled back.
    for (std::size_t i = 0; i < shape_.per_txn; ++i) {
      auto a = tx->begin();
      auto b = a->begin();
      if (!b->append("bench", "event", p).ok()) return false;
      if (++n_ % 10 == 0) {
        if (!b->rollback().ok()) return false;
      } else if (!b->commit().ok()) {
        return false;
      }
      if (!a->commit().ok()) return false;
    }
    return tx->commit().ok();
  }
  std::uint64_t Scan() override {
    auto c = j_->open_cursor(0);
    std::uint64_t n = 0;
    for (;;) {
      auto e = c->next();
      if (!e.ok() || !e->has_value()) return n;
      ++n;
    }
  }
  bool Close() override {
    const txj::Status st = j_ ? j_->close() : txj::Status::OK();
    j_.reset();
    if (!st.ok()) error = st.ToString();
    return st.ok();
  }
  std::int64_t DataSyncs() const override { return fs_ ? static_cast<std::int64_t>(fs_->data_syncs()) : 0; }

 private:
  Shape shape_;
  std::shared_ptr<CountingFileSystem> fs_;
  std::unique_ptr<txj::Journal> j_;
  std::uint64_t n_ = 0;
};

// txjournal-reused: txjournal appending to a journal that has run for a
// while with retention behind it, as most long-running journals do: its
// segments are retired files made segments again (Options::recycled_segments),
// their blocks written and their pages in the page cache. The pair of
// pwrite-zero-filled and limit-prefaulted, whose files are written or
// prefaulted before the clock starts. Open writes that history (without
// durability, 16 MiB segments, seven of them, retention keeping one behind
// the writer), closes the journal, writes back every dirty page and opens it
// again with the shape's durability: the first appends go on in a reused
// file. Retention runs once per segment's worth of events, on a thread of
// its own, as Journal::apply_retention advises (its manifest write and sync
// would otherwise stall the writer once per segment; the steady workload
// measures that case).
class TxjReused final : public Engine {
 public:
  std::string name() const override { return "txjournal-reused"; }
  bool OpenWritesAreSetup() const override { return true; }
  bool Open(const std::string& dir, const Shape& s) override {
    if (s.nested) return (error = "nested shapes run on txjournal only", false);
    shape_ = s;
    path_ = dir + "/txj-reused";
    txj::Options o;
    o.segment_size = kSegment;
    o.durability = txj::Durability::kNone;
    // History until the segment a reopened writer goes on in is a reused
    // file as well (a segment made while no retired file was free is a
    // new one, its blocks past what was written only reserved or holes:
    // a durable writer would write zeros ahead there as in a fresh journal).
    const std::string p(4000, 'h');
    const std::uint64_t per_segment = kSegment / 4096;
    for (int round = 0;; ++round) {
      auto j = txj::Journal::open(path_, o);
      if (!j.ok()) return (error = j.status().ToString(), false);
      if (round > 0 && (round > 16 || TailIsReused((*j)->recovery_report().end_lsn))) {
        if (round > 16) {
          std::fprintf(stderr,
                       "journal-bench: txjournal-reused: after 16 more segments of history its last one is "
                       "still a new file; measured as it is\n");
        }
        if (auto st = (*j)->close(); !st.ok()) return (error = st.ToString(), false);
        break;
      }
      std::uint64_t next = (*j)->next_offset(), retained_at = next;
      const std::uint64_t until = next + (round == 0 ? 7 : 1) * per_segment;
      while (next < until) {
        auto tx = (*j)->begin();
        if (!tx.ok()) return (error = tx.status().ToString(), false);
        for (int i = 0; i < 16; ++i) {
          if (auto st = tx->append("bench", "history", p); !st.ok()) return (error = st.ToString(), false);
        }
        auto info = tx->commit();
        if (!info.ok()) return (error = info.status().ToString(), false);
        next = info->first_offset + info->count;
        if (next >= retained_at + per_segment && next > per_segment) {
          // Without durability retention goes only as far as what is
          // synced: sync first, so that each call retires a segment.
          if (auto st = (*j)->sync(); !st.ok()) return (error = st.ToString(), false);
          if (auto st = (*j)->apply_retention(next - per_segment); !st.ok()) return (error = st.ToString(), false);
          retained_at = next;
        }
      }
      if (auto st = (*j)->close(); !st.ok()) return (error = st.ToString(), false);
    }
    const int dfd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::syncfs(dfd);
      ::close(dfd);
    }
    o.durability = s.durable ? txj::Durability::kCommit : txj::Durability::kNone;
    fs_ = std::make_shared<CountingFileSystem>();
    o.file_system = fs_;
    auto j = txj::Journal::open(path_, o);
    if (!j.ok()) return (error = j.status().ToString(), false);
    j_ = std::move(j).value();
    // Events a segment holds (their records with the markers of their
    // transactions; a durable commit starts a page of its own): retention
    // then retires about one segment per segment written, and the writer
    // finds a retired file when it rolls.
    const double per_txn_bytes = s.durable
                                     ? static_cast<double>((model::TxnBytes(s.payload, s.per_txn) + 4095) / 4096 * 4096)
                                     : model::BytesPerEvent(s.payload, s.per_txn) * static_cast<double>(s.per_txn);
    per_segment_ = static_cast<std::uint64_t>(static_cast<double>(kSegment) / per_txn_bytes) * s.per_txn;
    retained_at_ = next_ = j_->next_offset();
    stop_ = false;
    want_ = 0;
    retention_ = std::thread([this] { RetentionLoop(); });
    return true;
  }
  bool Commit(const std::string& p) override {
    auto info = CommitFlat(*j_, shape_.per_txn, p);
    if (!info.ok()) return (error = info.status().ToString(), false);
    next_ = info->first_offset + info->count;
    if (next_ >= retained_at_ + per_segment_) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!retention_error_.empty()) return (error = retention_error_, false);
        want_ = next_ - per_segment_;
      }
      cv_.notify_one();
      retained_at_ = next_;
    }
    return true;
  }
  bool Close() override {
    if (retention_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_one();
      retention_.join();
    }
    const txj::Status st = j_ ? j_->close() : txj::Status::OK();
    j_.reset();
    // The retention thread's error, found after the last commit (the
    // commits report one found before them).
    if (!retention_error_.empty()) error = retention_error_;
    if (!st.ok()) error = st.ToString();
    return st.ok() && retention_error_.empty();
  }
  std::int64_t DataSyncs() const override { return fs_ ? static_cast<std::int64_t>(fs_->data_syncs()) : 0; }

 private:
  static constexpr std::uint64_t kSegment = 16u << 20;
  // Whether the segment holding `end_lsn` (segments follow each other in
  // LSN order, kSegment bytes each, named by their first LSN) is a reused
  // file: its header flagged kSegmentRecycled (docs/format.md).
  bool TailIsReused(std::uint64_t end_lsn) const {
    char name[32];
    std::snprintf(name, sizeof name, "/%016llx.seg", static_cast<unsigned long long>(end_lsn / kSegment * kSegment));
    const int fd = ::open((path_ + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    std::uint64_t flags = 0;
    const bool ok = ::pread(fd, &flags, sizeof flags, txj::format::kSegmentFlagsOffset) == sizeof flags;
    ::close(fd);
    return ok && (flags & txj::format::kSegmentRecycled) != 0;
  }
  Shape shape_;
  std::string path_;
  std::shared_ptr<CountingFileSystem> fs_;
  std::unique_ptr<txj::Journal> j_;
  std::uint64_t per_segment_ = 0, next_ = 0, retained_at_ = 0;

  void RetentionLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    std::uint64_t done = 0;
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || want_ > done; });
      if (stop_) return;
      const std::uint64_t to = want_;
      lock.unlock();
      const txj::Status st = j_->apply_retention(to);
      lock.lock();
      if (!st.ok() && retention_error_.empty()) retention_error_ = "retention: " + st.ToString();
      done = to;
    }
  }
  std::thread retention_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t want_ = 0;       // with mu_
  std::string retention_error_;  // with mu_
};

}  // namespace

std::vector<std::unique_ptr<Engine>> MakeEngines() {
  std::vector<std::unique_ptr<Engine>> v;
  v.push_back(std::make_unique<Txj>());
  v.push_back(std::make_unique<TxjReused>());
  v.push_back(std::make_unique<Limit>(false));
  v.push_back(std::make_unique<Limit>(true));
  v.push_back(std::make_unique<Pwrite>(false));
  v.push_back(std::make_unique<Pwrite>(true));
  v.push_back(std::make_unique<Lmdb>());
  v.push_back(std::make_unique<Sqlite>());
  v.push_back(std::make_unique<Rocks>());
  return v;
}

std::vector<std::pair<std::string, std::string>> LibraryVersions() {
  std::vector<std::pair<std::string, std::string>> v;
  int ma = 0, mi = 0, pa = 0;
  mdb_version(&ma, &mi, &pa);
  v.emplace_back("lmdb", std::to_string(ma) + "." + std::to_string(mi) + "." + std::to_string(pa) +
                             " (compiled against " MDB_VERSION_STRING ")");
  v.emplace_back("sqlite", std::string(sqlite3_libversion()) + " (compiled against " SQLITE_VERSION ")");
  v.emplace_back("rocksdb", std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
                                std::to_string(ROCKSDB_PATCH) + " (headers)");
  const unsigned x = XXH_versionNumber();
  v.emplace_back("xxhash", std::to_string(x / 10000) + "." + std::to_string(x / 100 % 100) + "." + std::to_string(x % 100));
  return v;
}

}  // namespace bench
