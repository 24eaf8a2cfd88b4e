// The journal's side of compaction's door (door/compaction/compaction_door.h).
#include "compaction_door.h"

#include "cursor_impl.h"
#include "journal_state.h"
#include "reclaim.h"

namespace txj::internal {

const std::string& JournalDir(const JournalState& j) { return j.dir; }
bool IsReadOnly(const JournalState& j) { return j.read_only; }
bool HasCatalog(const JournalState& j) { return j.catalog != nullptr; }

CompactionHook& CompactionHookOf(JournalState& j, const std::function<std::unique_ptr<CompactionHook>()>& make) {
  std::lock_guard<std::mutex> lock(j.compaction_init_mu);
  if (!j.compaction) j.compaction = make();
  return *j.compaction;
}

CompactionHook* InstalledCompactionHook(JournalState& j) {
  std::lock_guard<std::mutex> lock(j.compaction_init_mu);
  return j.compaction.get();
}

void FollowCheckpoints(JournalState& j) { j.compaction_follows.store(true, std::memory_order_release); }

CommittedEvents::CommittedEvents(std::unique_ptr<CursorImpl> impl) : impl_(std::move(impl)) {}
CommittedEvents::CommittedEvents(CommittedEvents&&) noexcept = default;
CommittedEvents& CommittedEvents::operator=(CommittedEvents&&) noexcept = default;
CommittedEvents::~CommittedEvents() = default;

Result<std::optional<Event>> CommittedEvents::Next() { return impl_->Next(); }
std::uint64_t CommittedEvents::position() const { return impl_->position(); }

Result<CommittedEvents> ReadTopic(JournalState& j, std::uint64_t offset, const std::string& topic) {
  auto cur = CursorImpl::Open(&j, offset, Filter::for_topics({topic}));
  if (!cur.ok()) return cur.status();
  return CommittedEvents(std::move(cur).value());
}

Result<CommittedEvents> ReadAllTopics(JournalState& j, std::uint64_t offset) {
  auto cur = CursorImpl::OpenInternal(&j, offset);
  if (!cur.ok()) return cur.status();
  return CommittedEvents(std::move(cur).value());
}

std::uint64_t CommittedEnd(const JournalState& j) { return j.visible_next_offset.load(std::memory_order_acquire); }

std::uint64_t CompactedMark(JournalState& j, const std::string& topic) {
  std::lock_guard<std::mutex> lock(j.topics_mu);
  auto it = j.compacted.find(topic);
  return it == j.compacted.end() ? 0 : it->second;
}

std::uint64_t RetentionOffset(const JournalState& j) { return j.retention_offset.load(); }

SnapshotStore& Snapshots(JournalState& j) { return *j.snapshots; }

Result<std::map<std::string, TopicStats>> CatalogTopics(JournalState& j) { return j.catalog->GetTopics(); }

Result<std::uint64_t> CatalogTopicsOffset(JournalState& j) { return j.catalog->TopicsOffset(); }

Status PutCatalogTopics(JournalState& j, const std::map<std::string, TopicStats>& topics, std::uint64_t upto) {
  return j.catalog->PutTopics(topics, upto);
}

Result<CompactionTurn> TakeCompactionTurn(JournalState& j) {
  if (j.read_only) return Status::InvalidState("journal " + j.dir + " is open read-only");
  std::unique_lock<std::mutex> lock(j.compact_mu);
  if (j.closed) return Status::Closed("journal " + j.dir + " is closed");
  return CompactionTurn(std::move(lock));
}

Result<std::uint64_t> SyncCommitted(JournalState& j, const CompactionTurn& /*turn*/, const std::string& what) {
  Boundary b;
  std::uint64_t end;
  {
    std::lock_guard<std::mutex> lock(j.sync_mu);
    b = j.last_boundary;
    end = j.commit_end;
  }
  // Nothing committed since the open (whose recovered end is durable; the
  // last boundary found may lie before paddings that end the log).
  if (b.lsn != end) return j.visible_next_offset.load(std::memory_order_acquire);
  TXJ_RETURN_IF_ERROR(j.SyncTo(b.lsn).WithContext(what + ": making the commits up to offset " +
                                                  std::to_string(b.next_offset) + " durable first"));
  return b.next_offset;
}

Status MarkCompacted(JournalState& j, const CompactionTurn& /*turn*/, const std::string& topic,
                     std::uint64_t offset) {
  TXJ_RETURN_IF_ERROR(j.snapshots->SetCompactedMark(topic, offset));
  std::map<std::string, std::uint64_t> marks;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    j.compacted[topic] = offset;
    marks = j.compacted;
  }
  j.compaction_generation.fetch_add(1);
  return Reclaim(j, marks).WithContext("compacting topic " + topic);
}

}  // namespace txj::internal
