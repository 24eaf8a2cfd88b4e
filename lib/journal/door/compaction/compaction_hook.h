// The journal's one door to compaction, the layer above it.
//
// Compaction keeps its state of an open journal (registered compactors, the
// automatic compactor thread, the topics follower) in an object of its own,
// which the journal holds through this interface and never looks inside.
// The journal calls it at three moments: at each checkpoint while some
// compactor has an automatic policy, when a failed creation closes files,
// and when the journal is destroyed.
#ifndef TXJOURNAL_LIB_COMPACTION_HOOK_H_
#define TXJOURNAL_LIB_COMPACTION_HOOK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "topic_stats.h"

namespace txj::internal {

class CompactionHook {
 public:
  // Writes a checkpoint with the per-topic counts to store with it and the
  // offset they reach (0: the topics table does not follow); true once it
  // is in the catalog.
  using CheckpointWrite =
      std::function<bool(const std::map<std::string, TopicStats>& topics, std::uint64_t topics_offset)>;

  virtual ~CompactionHook() = default;
  // At a checkpoint up to offset `upto`: advances the topics follower there,
  // queues automatic compactions, and writes the checkpoint through `write`
  // with the counts gathered (kept for the next one if the write fails).
  // Returns what `write` returned. Called by the writer's checkpoint only
  // (JournalState::checkpoint_mu held), and only after
  // JournalState::compaction_follows was seen true.
  virtual bool AtCheckpoint(std::uint64_t upto, const CheckpointWrite& write) = 0;
  // Stops the automatic compactor and waits for it; the journal is being
  // destroyed. Called once, before the journal's files close.
  virtual void Stop() = 0;
  // Drops what reads the journal's files (the topics follower): a failed
  // creation is about to remove them.
  virtual void Release() = 0;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_COMPACTION_HOOK_H_
