// The baselines: the memory-copy limit, pwrite + fdatasync, LMDB, SQLite,
// RocksDB; and txjournal itself.
#include <fcntl.h>
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>

#include "engine.h"
#include "txjournal/journal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace bench {

namespace {

// What appending can cost at best: header (16 B) + payload + XXH3 into a
// prefaulted shared mapping; with `durable`, an fdatasync per transaction.
class MemcpyLimit final : public Engine {
 public:
  std::string name() const override { return "memcpy-limit"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    path_ = dir + "/mem.dat";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd_ < 0 || ::posix_fallocate(fd_, 0, kSize) != 0) return Fail("allocate");
    map_ = static_cast<char*>(::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0));
    if (map_ == MAP_FAILED) return Fail("mmap");
    ::madvise(map_, kSize, MADV_POPULATE_WRITE);
    pos_ = 0;
    return true;
  }
  bool Commit(const std::string& p) override {
    for (std::size_t i = 0; i < shape_.per_txn; ++i) {
      const std::size_t rec = 16 + p.size();
      if (pos_ + rec + 8 > kSize) pos_ = 0;  // wrap: the limit, not capacity, is measured
      std::uint64_t len = p.size();
      std::memcpy(map_ + pos_ + 8, &len, 8);
      std::memcpy(map_ + pos_ + 16, p.data(), p.size());
      std::uint64_t h = XXH3_64bits(map_ + pos_ + 8, rec - 8);
      std::memcpy(map_ + pos_, &h, 8);
      pos_ += (rec + 7) & ~std::size_t{7};
    }
    if (shape_.durable && ::fdatasync(fd_) != 0) return Fail("fdatasync");
    return true;
  }
  void Close() override {
    if (map_ && map_ != MAP_FAILED) ::munmap(map_, kSize);
    if (fd_ >= 0) ::close(fd_);
    map_ = nullptr;
    fd_ = -1;
  }

 private:
  bool Fail(const char* what) {
    error = std::string(what) + ": " + std::strerror(errno);
    return false;
  }
  static constexpr std::size_t kSize = 256u << 20;
  Shape shape_;
  std::string path_;
  int fd_ = -1;
  char* map_ = nullptr;
  std::size_t pos_ = 0;
};

// pwrite of the same bytes into a pre-zeroed file; fdatasync per transaction.
class PwriteSync final : public Engine {
 public:
  std::string name() const override { return "pwrite+fdatasync"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    fd_ = ::open((dir + "/pw.dat").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd_ < 0) return false;
    std::string zero(1 << 20, '\0');
    for (std::size_t off = 0; off < kSize; off += zero.size()) {
      if (::pwrite(fd_, zero.data(), zero.size(), static_cast<off_t>(off)) < 0) return false;
    }
    ::fdatasync(fd_);
    pos_ = 0;
    return true;
  }
  bool Commit(const std::string& p) override {
    buf_.clear();
    for (std::size_t i = 0; i < shape_.per_txn; ++i) {
      std::uint64_t len = p.size(), h = XXH3_64bits(p.data(), p.size());
      buf_.append(reinterpret_cast<const char*>(&h), 8);
      buf_.append(reinterpret_cast<const char*>(&len), 8);
      buf_ += p;
    }
    if (pos_ + buf_.size() > kSize) pos_ = 0;
    if (::pwrite(fd_, buf_.data(), buf_.size(), static_cast<off_t>(pos_)) < 0) return false;
    pos_ += buf_.size();
    return !shape_.durable || ::fdatasync(fd_) == 0;
  }
  void Close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  static constexpr std::size_t kSize = 256u << 20;
  Shape shape_;
  int fd_ = -1;
  std::size_t pos_ = 0;
  std::string buf_;
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
  void Close() override {
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
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
  void Close() override {
    if (ins_) sqlite3_finalize(ins_);
    if (db_) sqlite3_close(db_);
    ins_ = nullptr;
    db_ = nullptr;
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
  void Close() override { db_.reset(); }

 private:
  Shape shape_;
  std::unique_ptr<rocksdb::DB> db_;
  std::uint64_t key_ = 0;
};

class Txj final : public Engine {
 public:
  std::string name() const override { return "txjournal"; }
  bool Open(const std::string& dir, const Shape& s) override {
    shape_ = s;
    txj::Options o;
    o.durability = s.durable ? txj::Durability::kCommit : txj::Durability::kNone;
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
    auto tx = j_->begin();
    if (!tx.ok()) return false;
    if (!shape_.nested) {
      for (std::size_t i = 0; i < shape_.per_txn; ++i) {
        if (!tx->append("bench", "event", p).ok()) return false;
      }
    } else {
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
  void Close() override {
    if (j_) (void)j_->close();
    j_.reset();
  }
  txj::Journal* journal() { return j_.get(); }

 private:
  Shape shape_;
  std::unique_ptr<txj::Journal> j_;
  std::uint64_t n_ = 0;
};

}  // namespace

std::vector<std::unique_ptr<Engine>> MakeEngines() {
  std::vector<std::unique_ptr<Engine>> v;
  v.push_back(std::make_unique<Txj>());
  v.push_back(std::make_unique<MemcpyLimit>());
  v.push_back(std::make_unique<PwriteSync>());
  v.push_back(std::make_unique<Lmdb>());
  v.push_back(std::make_unique<Sqlite>());
  v.push_back(std::make_unique<Rocks>());
  return v;
}

}  // namespace bench
