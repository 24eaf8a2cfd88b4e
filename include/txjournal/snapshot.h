// txjournal: the values that describe compaction snapshots: what a stored
// snapshot is (SnapshotInfo), when automatic compaction runs
// (CompactionPolicy), and the state hash. The compactors themselves are in
// compactor.h.
//
// Thread rules: plain values; StateHash is a pure function (any thread, no
// error).
#ifndef TXJOURNAL_SNAPSHOT_H_
#define TXJOURNAL_SNAPSHOT_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "txjournal/export.h"

namespace txj {

// A snapshot of one topic, as stored.
struct SnapshotInfo {
  std::string topic;
  std::string compactor;           // compactor name
  std::uint32_t compactor_version = 0;
  std::uint64_t covered_offset = 0;  // events of the topic at offsets below this are folded in
  std::uint64_t events_folded = 0;   // events of the topic folded in, in total
  std::string state_hash;            // XXH3-128 of the encoded state, 32 hex digits
  std::uint64_t size = 0;            // bytes of the encoded state
  std::string file;                  // where it is stored
};

// Automatic compaction: compact a topic after this many new events or bytes
// of it were committed (0 disables that trigger).
struct CompactionPolicy {
  std::uint64_t every_events = 0;
  std::uint64_t every_bytes = 0;
};

// XXH3-128 of `bytes` as 32 hex digits (the snapshot state hash).
TXJ_EXPORT std::string StateHash(std::string_view bytes);

}  // namespace txj

#endif  // TXJOURNAL_SNAPSHOT_H_
