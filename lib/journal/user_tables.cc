#include "user_tables.h"

#include "catalog.h"

namespace txj::internal {

namespace {
MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
}  // namespace

// Disk full (ENOSPC from mdb_txn_commit, MDB_MAP_FULL) is kNoSpace: catalog.h.
Status LmdbStatus(int rc, const std::string& what) { return LmdbError(rc, "LMDB " + what); }

class UserKvTxn final : public KvTxn {
 public:
  UserKvTxn(UserTables* t, MDB_txn* txn) : t_(t), txn_(txn) {}
  Status put(std::string_view table, std::string_view key, std::string_view value) override {
    auto dbi = t_->Table(table, txn_, &opened_);
    if (!dbi.ok()) return dbi.status();
    MDB_val k = Val(key), v = Val(value);
    return LmdbStatus(mdb_put(txn_, *dbi, &k, &v, 0), "put into " + std::string(table) + " in " + t_->where());
  }
  Result<std::optional<std::string>> get(std::string_view table, std::string_view key) override {
    auto dbi = t_->Table(table, txn_, &opened_);
    if (!dbi.ok()) return dbi.status();
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn_, *dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    TXJ_RETURN_IF_ERROR(LmdbStatus(rc, "get from " + std::string(table) + " in " + t_->where()));
    return std::optional<std::string>(std::string(static_cast<const char*>(v.mv_data), v.mv_size));
  }
  Status del(std::string_view table, std::string_view key) override {
    auto dbi = t_->Table(table, txn_, &opened_);
    if (!dbi.ok()) return dbi.status();
    MDB_val k = Val(key);
    int rc = mdb_del(txn_, *dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return Status::OK();
    return LmdbStatus(rc, "delete from " + std::string(table) + " in " + t_->where());
  }
  std::map<std::string, MDB_dbi> opened_;  // tables first opened in this transaction

 private:
  UserTables* t_;
  MDB_txn* txn_;
};

// Inside a write transaction a new table is opened there and cached only
// once that transaction commits (an abort closes it); otherwise in a
// transaction of its own. The cache lock is never held while waiting for
// LMDB's writer lock.
Result<MDB_dbi> UserTables::Table(std::string_view name, MDB_txn* txn, std::map<std::string, MDB_dbi>* pending) {
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
    TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_dbi_open(txn, full.c_str(), MDB_CREATE, &dbi), "open table " + full + " in " + where_));
    (*pending)[full] = dbi;
    return dbi;
  }
  MDB_txn* t = nullptr;
  TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_txn_begin(env_, nullptr, 0, &t), "begin in " + where_));
  int rc = mdb_dbi_open(t, full.c_str(), MDB_CREATE, &dbi);
  if (rc != 0) {
    mdb_txn_abort(t);
    return LmdbStatus(rc, "open table " + full + " in " + where_);
  }
  TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_txn_commit(t), "commit in " + where_));
  std::lock_guard<std::mutex> lock(mu_);
  dbis_[full] = dbi;
  return dbi;
}

Status UserTables::Write(const std::function<Status(KvTxn&)>& fn) {
  MDB_txn* t = nullptr;
  TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_txn_begin(env_, nullptr, 0, &t), "begin in " + where_));
  UserKvTxn kv(this, t);
  Status s = fn(kv);
  if (!s.ok()) {
    mdb_txn_abort(t);
    return s;
  }
  TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_txn_commit(t), "commit in " + where_));
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [n, d] : kv.opened_) dbis_[n] = d;
  return Status::OK();
}

Result<std::optional<std::string>> UserTables::Get(std::string_view table, std::string_view key) {
  auto dbi = Table(table, nullptr, nullptr);
  if (!dbi.ok()) return dbi.status();
  MDB_txn* t = nullptr;
  TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "begin in " + where_));
  MDB_val k = Val(key), v;
  int rc = mdb_get(t, *dbi, &k, &v);
  std::optional<std::string> out;
  if (rc == 0) out.emplace(static_cast<const char*>(v.mv_data), v.mv_size);
  mdb_txn_abort(t);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbStatus(rc, "get from " + where_);
  return out;
}

Result<std::map<std::string, std::string>> UserTables::Scan(std::string_view table) {
  auto dbi = Table(table, nullptr, nullptr);
  if (!dbi.ok()) return dbi.status();
  MDB_txn* t = nullptr;
  TXJ_RETURN_IF_ERROR(LmdbStatus(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &t), "begin in " + where_));
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(t, *dbi, &c);
  std::map<std::string, std::string> out;
  if (rc == 0) {
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      out.emplace(std::string(static_cast<const char*>(k.mv_data), k.mv_size),
                  std::string(static_cast<const char*>(v.mv_data), v.mv_size));
    }
    mdb_cursor_close(c);
  }
  mdb_txn_abort(t);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbStatus(rc, "scan " + std::string(table) + " in " + where_);
  return out;
}

}  // namespace txj::internal
