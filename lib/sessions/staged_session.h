// The session bookkeeping every staged participant shares (the journal's,
// the key-value store's): which session it is in, what it staged for it,
// and the prepared copy it keeps in a user table from prepare until the
// commit or cancel.
#ifndef TXJOURNAL_LIB_STAGED_SESSION_H_
#define TXJOURNAL_LIB_STAGED_SESSION_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txjournal/kv_txn.h"
#include "txjournal/status.h"
#include "user_tables.h"

namespace txj::internal {

class StagedSession {
 public:
  // `who` names the participant in messages ("kv participant"); `table` is
  // the user table of prepared copies.
  StagedSession(std::string who, std::string_view table) : who_(std::move(who)), table_(table) {}

  const std::optional<std::string>& key() const { return key_; }
  std::vector<std::optional<std::string>>& staged() { return staged_; }

  // kInvalidState outside a session.
  Status InSession() const {
    if (!key_) return Status::InvalidState(who_ + " is not in a session");
    return Status::OK();
  }
  // In session `k`: kInvalidState outside a session, kInvalidArgument in
  // another one.
  Status Need(std::string_view k) const {
    TXJ_RETURN_IF_ERROR(InSession());
    if (*key_ != k) return Status::InvalidArgument("key mismatch: " + who_ + " is in session " + *key_);
    return Status::OK();
  }
  // A new session: kBusy while in one.
  Status Begin(std::string_view k) {
    if (key_) return Status::Busy(who_ + " is already in session " + *key_);
    Enter(k);
    return Status::OK();
  }
  // In session `k` with nothing staged (a recovery takes up any session).
  void Enter(std::string_view k) {
    key_ = std::string(k);
    staged_.clear();
  }
  // The prepared copy of session `k`, if kept.
  Result<std::optional<std::string>> Prepared(UserTables& tables, std::string_view k) const {
    return tables.Get(table_, k);
  }
  // Keeps the prepared copy of session `k`.
  Status Prepare(UserTables& tables, std::string_view k, const std::string& blob) const {
    return tables.Write([&](KvTxn& t) { return t.put(table_, k, blob); });
  }
  // Drops the prepared copy of session `k`.
  Status DropPrepared(UserTables& tables, std::string_view k) const {
    return tables.Write([&](KvTxn& t) { return t.del(table_, k); });
  }
  // Out of the session, after its commit.
  void Leave() {
    key_.reset();
    staged_.clear();
  }
  // Out of the session, its prepared copy dropped. OK outside a session.
  Status Cancel(UserTables& tables) {
    if (!key_) return Status::OK();
    const std::string k = *key_;
    Leave();
    return DropPrepared(tables, k);
  }

 private:
  const std::string who_;
  const std::string_view table_;
  std::optional<std::string> key_;
  std::vector<std::optional<std::string>> staged_;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_STAGED_SESSION_H_
