// txjournal: batched event processing with optimistic concurrency (after
// LUCI's eventbox), fixed: state compared by value, garbage dropped safely,
// clean side-effect failures keep earlier transitions.
//
// Each recipient has an inbox (journal topic "inbox/<recipient>") and a
// state with a version (in the catalog). emit() appends an event with a
// unique id. process_batch() hands unprocessed events to a Processor and
// applies the transitions it returns in one atomic step.
//
// Thread rules: an Eventbox may be shared by threads. Concurrent
// process_batch() calls for one recipient never both apply: the one that
// loses gets a contention error (IsContention) with nothing applied. The
// Processor, the side effects and emit(tx, ...) run on the calling thread;
// emit(recipient, value) opens the journal's top-level write transaction,
// so it waits while another thread holds it and must not be called by the
// thread that holds it (kInvalidState; use emit(tx, ...)).
// Lifetime: an Eventbox must be destroyed before its Journal.
#ifndef TXJOURNAL_EVENTBOX_H_
#define TXJOURNAL_EVENTBOX_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "txjournal/export.h"
#include "txjournal/kv_txn.h"
#include "txjournal/status.h"
#include "txjournal/transaction.h"

namespace txj {

class Journal;

struct InboxEvent {
  std::string id;      // unique, assigned by emit()
  std::string value;
  std::uint64_t offset = 0;
};

using PostProcessFn = std::function<Status()>;

struct Transition {
  std::vector<std::string> events;  // ids consumed by this transition
  std::string transition_to;        // the encoded state to move to (may equal the current one)
  // Runs inside the atomic step (same LMDB transaction as the state). Null: none.
  std::function<Status(KvTxn&)> side_effect;
  // If the side effect fails, this transition and the ones after it are
  // dropped (their events stay pending) while the ones before it commit.
  // Otherwise a failure rolls everything back.
  bool fails_cleanly = false;
  PostProcessFn post_process;  // returned to the caller, run outside the step
};

struct Mutation {
  std::vector<Transition> transitions;
  std::vector<std::string> garbage;  // ids to drop without a transition
};

class TXJ_EXPORT Processor {
 public:
  virtual ~Processor() = default;
  // `events` are some of the unprocessed events, in inbox order; `state` the
  // current encoded state. Fill `out`. The garbage in `out` is dropped even
  // if this returns an error.
  // Called with an empty `events` too (the inbox is empty), so that a
  // transition that consumes no events (a state-only transition: a timer, a
  // deadline) can happen. With nothing to do, leave `out` empty (or return
  // transitions to the same state, no side effect): process_batch() then
  // writes nothing and bumps no version, so a polling loop costs no writes.
  virtual Status prepare_mutation(const std::vector<InboxEvent>& events, const std::string& state, Mutation* out) = 0;
};

// Distinct result of a concurrent change: nothing was applied; retry.
TXJ_EXPORT bool IsContention(const Status& s);

class TXJ_EXPORT Eventbox {
 public:
  // Errors: kInvalidState (read-only journal).
  static Result<std::unique_ptr<Eventbox>> open(Journal& journal);
  ~Eventbox();

  // Appends an event for `recipient` in its own transaction; returns its id.
  // Errors: kInvalidArgument (a recipient that is empty or over 200 bytes),
  // those of Journal::begin(), Transaction::append() and commit(), and of
  // getrandom (the id).
  Result<std::string> emit(const std::string& recipient, std::string_view value);
  // The same inside the caller's transaction (an outbox: the event exists
  // only if that transaction commits). Errors: as above, without begin()
  // and commit().
  Result<std::string> emit(Transaction& tx, const std::string& recipient, std::string_view value);
  // Unprocessed events of `recipient`, in inbox order. Errors: those of
  // reading the catalog (KvTxn's) and of a cursor over the inbox
  // (kTruncated when retention removed part of it).
  Result<std::vector<InboxEvent>> list(const std::string& recipient);
  // The recipient's state and version (empty state, version 0 at first).
  // Errors: kCorruption (a malformed stored state), those of reading the
  // catalog.
  Result<std::pair<std::string, std::uint64_t>> state(const std::string& recipient);

  // Processes up to `max_events` unprocessed events (none, if the inbox is
  // empty: the processor is asked all the same): loads state and version,
  // asks `processor`, drops garbage (itself checked against the version, so
  // two processors choosing differently cannot both drop), then atomically:
  // checks the version is unchanged (else a contention error and nothing
  // applied), runs the side effects, saves the final state with version + 1
  // if it differs by value, and marks consumed events processed. Returns the
  // post-process functions of the applied transitions, in order. A failing
  // side effect or save rolls everything back; the events stay pending.
  // Whatever is applied bumps the version, so two concurrent processors of
  // one recipient never both commit. Transitions that consume nothing and
  // change nothing open no transaction and bump no version.
  // Errors: contention (kBusy, IsContention: retry), kInvalidArgument (the
  // processor named an event not in its batch), the processor's or a side
  // effect's error, those of state() and list() and of writing the catalog.
  Result<std::vector<PostProcessFn>> process_batch(const std::string& recipient, Processor& processor,
                                                   std::size_t max_events);

 private:
  Eventbox();
  struct Impl;
  std::unique_ptr<Impl> p_;
};

}  // namespace txj

#endif  // TXJOURNAL_EVENTBOX_H_
