// txjournal: a write transaction on the catalog's user tables, the handle
// that the offset store, the eventbox and the multi-store committer pass to
// callbacks that write beside them.
#ifndef TXJOURNAL_KV_TXN_H_
#define TXJOURNAL_KV_TXN_H_

#include "txjournal/cxx_standard.h"

#include <optional>
#include <string>
#include <string_view>

#include "txjournal/export.h"
#include "txjournal/status.h"

namespace txj {

// A write transaction on the catalog's user tables (LMDB underneath). Valid
// only inside the callback it is passed to.
//
// Thread rules: only the thread running that callback uses it (an LMDB
// write transaction belongs to one thread).
//
// Errors of every call: kInvalidArgument (a table name that is empty or
// over 200 bytes), kNoSpace (a full disk or LMDB map), kCorruption (a damaged catalog), kIOError (any other LMDB error, a key over LMDB's 511 bytes among them). A table is created on first use.
// An error makes the callback's transaction fail as a whole once the
// callback returns it.
class TXJ_EXPORT KvTxn {
 public:
  virtual ~KvTxn() = default;
  // Sets `key` of `table` to `value`, replacing what was there.
  virtual Status put(std::string_view table, std::string_view key, std::string_view value) = 0;
  // The value of `key` (this transaction's writes included); nullopt when
  // there is none.
  virtual Result<std::optional<std::string>> get(std::string_view table, std::string_view key) = 0;
  // Removes `key`; OK when there is none.
  virtual Status del(std::string_view table, std::string_view key) = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_KV_TXN_H_
