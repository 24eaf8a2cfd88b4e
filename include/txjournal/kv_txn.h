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
class TXJ_EXPORT KvTxn {
 public:
  virtual ~KvTxn() = default;
  virtual Status put(std::string_view table, std::string_view key, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> get(std::string_view table, std::string_view key) = 0;
  virtual Status del(std::string_view table, std::string_view key) = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_KV_TXN_H_
