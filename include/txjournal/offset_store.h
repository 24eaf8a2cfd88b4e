// txjournal: durable consumer offsets and handler state in the catalog.
#ifndef TXJOURNAL_OFFSET_STORE_H_
#define TXJOURNAL_OFFSET_STORE_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "txjournal/export.h"
#include "txjournal/kv_txn.h"
#include "txjournal/status.h"

namespace txj {

class Journal;

// Named consumers' next offsets, kept in the journal's LMDB catalog. Unlike
// the rest of the catalog these are not derived from the journal: a journal
// whose catalog is damaged is not silently rebuilt (see Options).
//
// Thread-safe. Lifetime: once its Journal is closed (close() or
// destruction) every call returns kClosed and touches nothing; destroying
// the Journal while another thread is inside a call of its store is not
// allowed.
class TXJ_EXPORT OffsetStore {
 public:
  // Errors: kInvalidState (read-only journal or no catalog).
  static Result<std::unique_ptr<OffsetStore>> open(Journal& journal);
  virtual ~OffsetStore() = default;

  // The consumer's next offset; 0 when it has none yet. Errors: kClosed
  // (its journal closed), kCorruption (a stored offset that is not 8 bytes,
  // or a damaged catalog), kIOError.
  virtual Result<std::uint64_t> load(const std::string& consumer) = 0;
  // commit_with() with nothing to write beside the offset; its errors.
  virtual Status save(const std::string& consumer, std::uint64_t next_offset) = 0;
  // Runs `fn` and saves `next_offset` in one LMDB transaction: both happen
  // or neither (an error from `fn` aborts it). This is how a handler whose
  // state lives in the catalog handles each event exactly once. Errors:
  // kClosed, kInvalidArgument (empty consumer name), those `fn` returns (as
  // they are), and the catalog's: kNoSpace (a full disk or LMDB map), kCorruption (a damaged catalog), kIOError (any other LMDB error, a key over LMDB's 511 bytes among them); the offset then
  // stays at the last one saved.
  virtual Status commit_with(const std::string& consumer, std::uint64_t next_offset,
                             const std::function<Status(KvTxn&)>& fn) = 0;
  // Reads a value of a user table (nullopt: no such key). Errors: kClosed,
  // those of KvTxn::get.
  virtual Result<std::optional<std::string>> get(std::string_view table, std::string_view key) = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_OFFSET_STORE_H_
