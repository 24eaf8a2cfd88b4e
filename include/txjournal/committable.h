// txjournal: atomic commits across several stores (after a
// Committable/MultiCommitter package), fixed: two-phase, crash-recovered,
// deterministic order and ids.
//
// A session spans several participants (Committables) under one
// idempotency key. MultiCommitter::commit() prepares every participant (each
// makes its changes durable without applying them), records the decision
// durably, then commits every participant, recording each step. After a
// crash, begin() with the same key finishes the job: a decided session is
// completed on the participants that had not committed yet; an undecided one
// is rolled back everywhere. No partial commit survives. Reusing the key of a
// completed session returns its original id instead of applying twice.
//
// The session's durable record names its participants. After a restart,
// finishing it (begin() with its key, or recover()) needs every one of them
// registered again under the same name: while one is missing it refuses with
// a distinct error naming it (IsMissingParticipant) and changes nothing, so a
// participant registered late still gets its prepared change applied (or
// cancelled), whatever the order of registration. A participant registered
// now that the session does not name takes no part in finishing it.
//
// The commit id is XXH3-128 over the participants' own ids in name order;
// each participant's id is derived from the changes it applied, so the same
// changes give the same id on every machine.
#ifndef TXJOURNAL_COMMITTABLE_H_
#define TXJOURNAL_COMMITTABLE_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txjournal/event.h"
#include "txjournal/export.h"
#include "txjournal/status.h"

namespace txj {

class Journal;

// A store that can take part in a session. Calls for one session come in
// this order: begin (or begin_recovery after a crash), prepare, commit; or
// cancel at any point. Implementations must make prepare() durable and
// commit() idempotent (a repeated commit of the same key returns the same id).
//
// Thread rules: a participant is driven by one thread at a time (its
// MultiCommitter's). The errors below are those of the two participants
// here; an implementation of its own returns what it must, and the
// MultiCommitter passes them on.
class TXJ_EXPORT Committable {
 public:
  virtual ~Committable() = default;
  // Starts session `key`. Errors: kBusy (already in a session).
  virtual Status begin(std::string_view key) = 0;
  // Reattaches to the session `key` after a crash (its prepared state, if any).
  // Errors: kCorruption (a malformed prepared copy), those of reading the
  // store (kNoSpace, kCorruption, kIOError).
  virtual Status begin_recovery(std::string_view key) = 0;
  // Keeps what is staged durably. Errors: kInvalidState (not in a session),
  // kInvalidArgument (key mismatch: in another session), those of writing
  // the store (kNoSpace, kCorruption, kIOError).
  virtual Status prepare(std::string_view key) = 0;
  // Applies the session. Returns an id derived from the applied changes.
  // Errors: as prepare(); the journal participant also those of writing its
  // transaction (Journal::begin(), commit()).
  virtual Result<std::string> commit(std::string_view key) = 0;
  // Drops the session's changes (prepared or not). OK outside a session.
  // Errors: those of dropping the prepared copy (kNoSpace, kCorruption, kIOError).
  virtual Status cancel() = 0;
};

// The journal as a participant: the session's events become one top-level
// transaction. Stage events with append() between begin and commit.
// Prepared events are kept durably in the catalog until commit writes the
// transaction (with a marker event on topic "$session" keyed by the
// idempotency key, which makes commit idempotent across crashes).
// begin() and begin_recovery() also return kInvalidState when the journal is
// not open for writing.
class TXJ_EXPORT JournalParticipant final : public Committable {
 public:
  explicit JournalParticipant(Journal& journal);
  ~JournalParticipant() override;
  // Stages one event. Errors: kInvalidState outside a session,
  // kInvalidArgument as Transaction::append.
  Status append(std::string_view topic, std::string_view type, std::string_view payload,
                const AppendOptions& options = {});
  Status begin(std::string_view key) override;
  Status begin_recovery(std::string_view key) override;
  Status prepare(std::string_view key) override;
  Result<std::string> commit(std::string_view key) override;
  Status cancel() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> p_;
};

// An LMDB key-value store as a participant (its own LMDB environment in
// `path`). Stage put()/del() between begin and commit; get() reads committed
// values.
class TXJ_EXPORT KvParticipant final : public Committable {
 public:
  // Creates `path` (mode 0700) if missing and opens the environment in it.
  // Errors: those of mkdir (kIOError, kNoSpace) and of opening LMDB
  // (kIOError, kCorruption).
  static Result<std::unique_ptr<KvParticipant>> open(const std::string& path);
  ~KvParticipant() override;
  // Stage a write or a removal. Errors: kInvalidState outside a session.
  Status put(std::string_view key, std::string_view value);
  Status del(std::string_view key);
  // The committed value (nullopt: none). Errors: kNoSpace, kCorruption, kIOError.
  Result<std::optional<std::string>> get(std::string_view key);
  Status begin(std::string_view key) override;
  Status begin_recovery(std::string_view key) override;
  Status prepare(std::string_view key) override;
  Result<std::string> commit(std::string_view key) override;
  Status cancel() override;

 private:
  KvParticipant();
  struct Impl;
  std::unique_ptr<Impl> p_;
};

// Errors of MultiCommitter, told apart by code:
//   already in a session -> kBusy; not in a session -> kInvalidState;
//   key mismatch -> kInvalidArgument (message starts "key mismatch").
TXJ_EXPORT bool IsKeyMismatch(const Status& s);
// An interrupted session cannot be finished yet: a participant it spans is
// not registered (kNotFound, message starts "missing participant" and names
// it). Register it and call begin() with the session's key, or recover().
TXJ_EXPORT bool IsMissingParticipant(const Status& s);

// Combines participants into sessions. Its own progress lives in the
// journal's catalog. One session at a time per MultiCommitter; use it from
// one thread at a time.
class TXJ_EXPORT MultiCommitter {
 public:
  // Errors: kInvalidState (read-only journal).
  static Result<std::unique_ptr<MultiCommitter>> open(Journal& journal);
  ~MultiCommitter();

  // Errors: kInvalidArgument for a duplicate or empty name; kBusy in a session.
  Status register_participant(const std::string& name, std::shared_ptr<Committable> participant);

  // Starts session `key` (after recovering an interrupted one with the same
  // key). Errors: kBusy (already in a session), kInvalidArgument "key
  // mismatch" (an interrupted session with another key waits: call
  // recover()), IsMissingParticipant (the interrupted session spans a
  // participant not registered), participant errors (then nothing stays
  // begun).
  Status begin(std::string_view key);
  // Prepares, decides, commits. Returns the commit id (32 hex digits); for a
  // key already completed, the original id. Errors: kInvalidState (not in a
  // session), key mismatch, participant errors before the decision (then
  // every participant is cancelled), I/O errors after it (the session is
  // decided: begin() or recover() completes it).
  Result<std::string> commit(std::string_view key);
  // Rolls the session back in every participant. Errors: kInvalidState (not
  // in a session), a participant's cancel() error, those of writing the
  // catalog.
  Status cancel();
  // Finishes an interrupted session, whatever its key: completes it if it
  // was decided, rolls it back if not. Returns its key, or nullopt if none.
  // Errors: IsMissingParticipant (nothing done; the session stays
  // interrupted until every participant it names is registered).
  Result<std::optional<std::string>> recover();
  // The id of a completed session, if `key` completed. Errors: those of
  // reading the catalog (kNoSpace, kCorruption, kIOError).
  Result<std::optional<std::string>> result_of(std::string_view key);

 private:
  MultiCommitter();
  struct Impl;
  std::unique_ptr<Impl> p_;
};

}  // namespace txj

#endif  // TXJOURNAL_COMMITTABLE_H_
