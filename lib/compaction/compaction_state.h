// What compaction keeps of an open journal, behind the journal's
// CompactionHook: the registered compactors and their policies, the
// automatic compactor thread, and the topics follower that counts what each
// topic gains (for the catalog's topics table and the policies). It reaches
// the journal through compaction_door.h only.
#ifndef TXJOURNAL_LIB_COMPACTION_STATE_H_
#define TXJOURNAL_LIB_COMPACTION_STATE_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "compaction_door.h"
#include "txjournal/compactor.h"

namespace txj::internal {

class CompactionState final : public CompactionHook {
 public:
  explicit CompactionState(JournalState& j) : j_(j) {}
  ~CompactionState() override { Stop(); }

  bool AtCheckpoint(std::uint64_t upto, const CheckpointWrite& write) override;
  void Stop() override;
  void Release() override;

  // Registers (or replaces) the compactor of `topic`; a policy with a
  // threshold makes the writer's checkpoints follow the topics.
  void Register(const std::string& topic, std::shared_ptr<const Compactor> c, CompactionPolicy policy);
  // The compactor registered for `topic`, or null.
  std::shared_ptr<const Compactor> Find(const std::string& topic);
  // The catalog's topics table caught up to what is committed now (the
  // follower's counts written with it); for Journal::topics().
  Status CatchUpTopics();
  // How the last automatic compaction ended (OK if none ran).
  Status AutoStatus();

 private:
  struct Registered {
    std::shared_ptr<const Compactor> compactor;
    CompactionPolicy policy;
  };
  struct PendingEvent {
    std::string topic;
    std::uint64_t offset, bytes;
  };
  // Advances the follower to offset `upto`, adding per-topic counts of the
  // events it passed to `delta`, and queues automatic compactions.
  // REQUIRES: track_mu_ held.
  void Track(std::uint64_t upto, std::map<std::string, TopicStats>* delta);
  // Counts what the registered topics in `delta` gained; queues those past
  // their policy's threshold.
  void QueueAutomatic(const std::map<std::string, TopicStats>& delta);
  void AutoLoop();

  JournalState& j_;
  std::mutex mu_;  // guards the members up to auto_error_
  std::map<std::string, Registered> compactors_;
  std::map<std::string, TopicStats> since_compaction_;
  std::set<std::string> auto_queue_;
  std::condition_variable auto_cv_;
  bool auto_stop_ = false;
  std::thread auto_compactor_;
  Status auto_error_;

  std::mutex track_mu_;  // guards the follower below
  std::optional<CommittedEvents> topic_cursor_;
  std::optional<PendingEvent> topic_pending_;
  // Counts the follower went past whose catalog write failed: merged into
  // the next write (the follower does not read those events again).
  std::map<std::string, TopicStats> topics_unsaved_;
};

// The journal's compaction state, made on first use.
CompactionState& CompactionOf(JournalState& j);

// Compaction of one topic: folds what is committed into a snapshot, then
// lets the journal publish the mark and reclaim the space. Errors: kNotFound
// without a compactor for `topic`; those of TakeCompactionTurn,
// SyncCommitted, loading the base, folding, writing the snapshot and
// MarkCompacted.
Result<SnapshotInfo> CompactTopic(JournalState& j, const std::string& topic);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_COMPACTION_STATE_H_
