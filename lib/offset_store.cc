#include "txjournal/offset_store.h"

#include <lmdb.h>

#include <cstring>
#include <map>
#include <mutex>

#include "journal_state.h"
#include "txjournal/journal.h"

namespace txj {

namespace {

using internal::Catalog;

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

Status Lmdb(int rc, const std::string& what) {
  if (rc == 0) return Status::OK();
  std::string msg = "LMDB " + what + ": " + mdb_strerror(rc);
  if (rc == MDB_MAP_FULL) return Status::NoSpace(msg);
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) return Status::Corruption(msg);
  return Status::IOError(msg);
}

class LmdbOffsetStore;

class LmdbKvTxn final : public KvTxn {
 public:
  LmdbKvTxn(LmdbOffsetStore* store, MDB_txn* txn) : store_(store), txn_(txn) {}
  Status put(std::string_view table, std::string_view key, std::string_view value) override;
  Result<std::optional<std::string>> get(std::string_view table, std::string_view key) override;
  Status del(std::string_view table, std::string_view key) override;
  const std::map<std::string, MDB_dbi>& opened() const { return opened_; }

 private:
  LmdbOffsetStore* store_;
  MDB_txn* txn_;
  std::map<std::string, MDB_dbi> opened_;  // tables first opened in this transaction
};

class LmdbOffsetStore final : public OffsetStore {
 public:
  LmdbOffsetStore(MDB_env* env, std::string where) : env_(env), where_(std::move(where)) {}

  // The handle of a table. Inside a write transaction (`txn`) it is opened
  // there, and cached only once that transaction commits (an abort closes
  // it); otherwise in a transaction of its own. The cache lock is never held
  // while waiting for LMDB's writer lock.
  Result<MDB_dbi> Table(std::string_view name, MDB_txn* txn = nullptr,
                        std::map<std::string, MDB_dbi>* pending = nullptr) {
    if (name.empty() || name.size() > 200) return Status::InvalidArgument("table name must be 1 to 200 bytes");
    std::string full = "user:" + std::string(name);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = dbis_.find(full); it != dbis_.end()) return it->second;
    }
    if (pending) {
      if (auto it = pending->find(full); it != pending->end()) return it->second;
    }
    MDB_dbi dbi;
    if (txn) {
      TXJ_RETURN_IF_ERROR(Lmdb(mdb_dbi_open(txn, full.c_str(), MDB_CREATE, &dbi), "open table " + full + " in " + where_));
      (*pending)[full] = dbi;
      return dbi;
    }
    MDB_txn* t = nullptr;
    TXJ_RETURN_IF_ERROR(Lmdb(mdb_txn_begin(env_, nullptr, 0, &t), "begin in " + where_));
    int rc = mdb_dbi_open(t, full.c_str(), MDB_CREATE, &dbi);
    if (rc != 0) {
      mdb_txn_abort(t);
      return Lmdb(rc, "open table " + full + " in " + where_);
    }
    TXJ_RETURN_IF_ERROR(Lmdb(mdb_txn_commit(t), "commit in " + where_));
    std::lock_guard<std::mutex> lock(mu_);
    dbis_[full] = dbi;
    return dbi;
  }

  void Adopt(const std::map<std::string, MDB_dbi>& opened) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, d] : opened) dbis_[n] = d;
  }

  Result<std::uint64_t> load(const std::string& consumer) override {
    auto v = get("consumer_offsets", consumer);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return std::uint64_t{0};
    if ((*v)->size() != 8) return Status::Corruption("offset of consumer " + consumer + " in " + where_ + " is malformed");
    std::uint64_t off;
    std::memcpy(&off, (*v)->data(), 8);
    return off;
  }

  Status save(const std::string& consumer, std::uint64_t next_offset) override {
    return commit_with(consumer, next_offset, [](KvTxn&) { return Status::OK(); });
  }

  Status commit_with(const std::string& consumer, std::uint64_t next_offset,
                     const std::function<Status(KvTxn&)>& fn) override {
    if (consumer.empty()) return Status::InvalidArgument("empty consumer name");
    auto dbi = Table("consumer_offsets");
    if (!dbi.ok()) return dbi.status();
    MDB_txn* t = nullptr;
    TXJ_RETURN_IF_ERROR(Lmdb(mdb_txn_begin(env_, nullptr, 0, &t), "begin in " + where_));
    LmdbKvTxn kv(this, t);
    Status s = fn(kv);
    if (s.ok()) {
      MDB_val k = Val(consumer), v{8, &next_offset};
      s = Lmdb(mdb_put(t, *dbi, &k, &v, 0), "save offset of consumer " + consumer + " in " + where_);
    }
    if (!s.ok()) {
      mdb_txn_abort(t);
      return s;
    }
    TXJ_RETURN_IF_ERROR(Lmdb(mdb_txn_commit(t), "commit offset of consumer " + consumer + " in " + where_));
    Adopt(kv.opened());
    return Status::OK();
  }

  Result<std::optional<std::string>> get(std::string_view table, std::string_view key) override {
    auto dbi = Table(table);
    if (!dbi.ok()) return dbi.status();
    MDB_txn* t = nullptr;
    TXJ_RETURN_IF_ERROR(Lmdb(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "begin in " + where_));
    MDB_val k = Val(key), v;
    int rc = mdb_get(t, *dbi, &k, &v);
    std::optional<std::string> out;
    if (rc == 0) out.emplace(static_cast<const char*>(v.mv_data), v.mv_size);
    mdb_txn_abort(t);
    if (rc != 0 && rc != MDB_NOTFOUND) return Lmdb(rc, "get from " + where_);
    return out;
  }

  const std::string& where() const { return where_; }

 private:
  MDB_env* env_;
  std::string where_;
  std::mutex mu_;
  std::map<std::string, MDB_dbi> dbis_;
};

Status LmdbKvTxn::put(std::string_view table, std::string_view key, std::string_view value) {
  auto dbi = store_->Table(table, txn_, &opened_);
  if (!dbi.ok()) return dbi.status();
  MDB_val k = Val(key), v = Val(value);
  return Lmdb(mdb_put(txn_, *dbi, &k, &v, 0), "put into " + std::string(table) + " in " + store_->where());
}

Result<std::optional<std::string>> LmdbKvTxn::get(std::string_view table, std::string_view key) {
  auto dbi = store_->Table(table, txn_, &opened_);
  if (!dbi.ok()) return dbi.status();
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn_, *dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  TXJ_RETURN_IF_ERROR(Lmdb(rc, "get from " + std::string(table) + " in " + store_->where()));
  return std::optional<std::string>(std::string(static_cast<const char*>(v.mv_data), v.mv_size));
}

Status LmdbKvTxn::del(std::string_view table, std::string_view key) {
  auto dbi = store_->Table(table, txn_, &opened_);
  if (!dbi.ok()) return dbi.status();
  MDB_val k = Val(key);
  int rc = mdb_del(txn_, *dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status::OK();
  return Lmdb(rc, "delete from " + std::string(table) + " in " + store_->where());
}

}  // namespace

Result<std::unique_ptr<OffsetStore>> OffsetStore::open(Journal& journal) {
  internal::JournalState& s = internal::JournalAccess::state(journal);
  if (s.read_only || !s.catalog) {
    return Status::InvalidState("journal " + s.dir + " has no writable catalog (open it for writing)");
  }
  return std::unique_ptr<OffsetStore>(
      std::make_unique<LmdbOffsetStore>(s.catalog->env(), internal::JoinPath(s.dir, "catalog")));
}

}  // namespace txj
