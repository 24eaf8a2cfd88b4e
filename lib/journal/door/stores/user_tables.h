// Named tables in an LMDB environment, written through KvTxn: what the
// offset store, the multi-store committer and the eventbox keep.
#ifndef TXJOURNAL_LIB_USER_TABLES_H_
#define TXJOURNAL_LIB_USER_TABLES_H_

#include <lmdb.h>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "txjournal/kv_txn.h"

namespace txj::internal {

Status LmdbStatus(int rc, const std::string& what);

class UserTables {
 public:
  // `env` must outlive this object; `where` names it in messages.
  UserTables(MDB_env* env, std::string where) : env_(env), where_(std::move(where)) {}

  // Runs `fn` in one write transaction; commits if it returns OK (durably,
  // as the environment syncs), aborts otherwise.
  Status Write(const std::function<Status(KvTxn&)>& fn);
  Result<std::optional<std::string>> Get(std::string_view table, std::string_view key);
  // Every key/value of `table` in key order.
  Result<std::map<std::string, std::string>> Scan(std::string_view table);
  const std::string& where() const { return where_; }

 private:
  friend class UserKvTxn;
  Result<MDB_dbi> Table(std::string_view name, MDB_txn* txn, std::map<std::string, MDB_dbi>* pending);
  MDB_env* env_;
  std::string where_;
  std::mutex mu_;
  std::map<std::string, MDB_dbi> dbis_;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_USER_TABLES_H_
