// txjournal: replication of committed transactions through NATS JetStream.
//
// A Replicator follows a journal from a durable position (kept in its
// catalog) and publishes each committed event of each top-level transaction
// to a JetStream stream, in commit order, one message per event:
//
//   subject  <prefix>.<topic, mapped>   bytes outside [A-Za-z0-9_-] become
//                                       "_XX" (hex), so "orders.eu" -> "orders_2eeu"
//   headers  Nats-Msg-Id  <journal id>:<offset>   (JetStream drops duplicates)
//            Nats-Expected-Last-Sequence          (no gap, see below)
//   data     txjournal's 92-byte prefix ("TXJ", format version 2; journal,
//            transaction, first offset, count, index, timestamp, lengths),
//            then topic, type, key and the payload: docs/format.md,
//            "Replication messages". Streams in format 1 (ten Txj-* headers)
//            are refused with kInvalidArgument naming stream and sequence.
//
// The replicator publishes asynchronously, up to `publish_window` messages
// unacknowledged; each message is stored only right after the one before it
// (Nats-Expected-Last-Sequence), so a failure never leaves a gap: after one,
// it waits for what is in flight and goes on from the stream's tail, which is
// the source of truth for where replication stands. A writable journal also
// keeps the acknowledged position in its catalog (saved every 500 ms by a
// thread of its own, never by the publishing one); a read-only journal (a replicator in its own
// process, tools/journal-replicate) needs no state of its own.
//
// A Mirror rebuilds a journal from the stream on another machine, applying
// each transaction all or nothing, so that its committed view has the same
// offsets and events as the source's. Both resume after a crash or a lost
// server without loss or duplication.
//
// Built only when libnats is found (meson feature 'nats'); otherwise open()
// returns kNotSupported.
//
// Thread rules: run() (and the Mirror's apply_available()) is called by one
// thread at a time per object; stop it from any thread through its
// stop_token. Replicator::stats() may be called from any thread while run()
// works. A Replicator or Mirror must be destroyed before its Journal.
#ifndef TXJOURNAL_REPLICATION_H_
#define TXJOURNAL_REPLICATION_H_

#include "txjournal/cxx_standard.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include "txjournal/export.h"
#include "txjournal/status.h"

namespace txj {

class Journal;

struct ReplicationOptions {
  std::vector<std::string> servers{"nats://127.0.0.1:4222"};
  std::string stream = "TXJ";
  std::string subject_prefix = "txj";
  int replicas = 1;                                 // stream replicas (a cluster needs >= 3 nodes for 3)
  std::chrono::seconds duplicate_window{120};       // JetStream's de-duplication window
  std::chrono::milliseconds request_timeout{2000};  // per JetStream request
  std::chrono::milliseconds retry_wait{200};        // between attempts while the stream is unavailable
  // Replicator: messages published and not yet acknowledged, at most.
  std::size_t publish_window = 4096;
  // Mirror: messages applied between two saves of its position (and, unless
  // its journal syncs every commit, one sync of the journal).
  std::size_t mirror_batch = 256;
};

struct ReplicatorStats {
  std::uint64_t next_offset = 0;  // every event below it is in the stream
  std::uint64_t lag_events = 0;   // committed locally, not yet in the stream
  std::uint64_t lag_bytes = 0;    // journal bytes behind
  std::uint64_t published = 0;    // messages acknowledged
  std::uint64_t duplicates = 0;   // of those, already in the stream
  std::uint64_t retries = 0;
};

// Maps a topic to its subject token (see above).
TXJ_EXPORT std::string SubjectToken(std::string_view topic);

class TXJ_EXPORT Replicator {
 public:
  // `journal` may be open read-only: the replicator then follows another
  // process's commits. Errors: kNotSupported (built without NATS).
  static Result<std::unique_ptr<Replicator>> open(Journal& journal, ReplicationOptions options);
  virtual ~Replicator() = default;
  // Publishes until `stop` fires (kCancelled). While the stream is
  // unavailable it keeps retrying; the journal goes on committing locally.
  virtual Status run(std::stop_token stop) = 0;
  virtual ReplicatorStats stats() const = 0;
};

class TXJ_EXPORT Mirror {
 public:
  // `journal` is the local copy, opened for writing. Errors: kNotSupported,
  // kInvalidState (read-only journal). The mirror reads the stream through an
  // ordered consumer in batches of `mirror_batch` messages; at the end of each
  // batch it syncs the journal (unless Durability::kCommit synced every
  // commit) and then saves its position: a batch is one group commit.
  static Result<std::unique_ptr<Mirror>> open(Journal& journal, ReplicationOptions options);
  virtual ~Mirror() = default;
  // Applies transactions from the stream until `stop` fires (kCancelled).
  // Errors: kInvalidArgument when the stream holds another journal than the
  // one this mirror follows; kCorruption on a gap in offsets.
  virtual Status run(std::stop_token stop) = 0;
  // Applies what the stream holds now; returns how many transactions.
  // Errors: as run() (without kCancelled), and those of connecting to the
  // server (kIOError, kTimedOut) and of the offset store.
  virtual Result<std::uint64_t> apply_available() = 0;
};

}  // namespace txj

#endif  // TXJOURNAL_REPLICATION_H_
