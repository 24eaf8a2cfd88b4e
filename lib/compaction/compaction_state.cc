// Compaction's state of an open journal: registered compactors, automatic
// compaction, and the topics follower (see compaction_state.h).
#include "compaction_state.h"

namespace txj::internal {

CompactionState& CompactionOf(JournalState& j) {
  return static_cast<CompactionState&>(CompactionHookOf(j, [&j] { return std::make_unique<CompactionState>(j); }));
}

void CompactionState::Register(const std::string& topic, std::shared_ptr<const Compactor> c,
                               CompactionPolicy policy) {
  std::lock_guard<std::mutex> lock(mu_);
  compactors_[topic] = {std::move(c), policy};
  if (policy.every_events || policy.every_bytes) FollowCheckpoints(j_);
}

std::shared_ptr<const Compactor> CompactionState::Find(const std::string& topic) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = compactors_.find(topic);
  return it == compactors_.end() ? nullptr : it->second.compactor;
}

bool CompactionState::AtCheckpoint(std::uint64_t upto, const CheckpointWrite& write) {
  // The follower's lock is held until the counts are in the catalog; counts
  // whose write failed are kept for the next write.
  std::lock_guard<std::mutex> lock(track_mu_);
  std::map<std::string, TopicStats> delta;
  Track(upto, &delta);
  MergeTopicCounts(&topics_unsaved_, delta);
  const bool written = write(topics_unsaved_, topic_cursor_ ? upto : 0);
  if (written) topics_unsaved_.clear();
  return written;
}

Status CompactionState::CatchUpTopics() {
  std::lock_guard<std::mutex> lock(track_mu_);
  const std::uint64_t upto = CommittedEnd(j_);
  std::map<std::string, TopicStats> delta;
  Track(upto, &delta);
  MergeTopicCounts(&topics_unsaved_, delta);
  if (!topic_cursor_) return Status::OK();
  // Kept on failure: the follower has gone past those events.
  TXJ_RETURN_IF_ERROR(PutCatalogTopics(j_, topics_unsaved_, upto)
                          .WithContext("writing the counts of topics up to offset " + std::to_string(upto)));
  topics_unsaved_.clear();
  return Status::OK();
}

Status CompactionState::AutoStatus() {
  std::lock_guard<std::mutex> lock(mu_);
  return auto_error_;
}

void CompactionState::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto_stop_ = true;
    auto_cv_.notify_all();
  }
  if (auto_compactor_.joinable()) auto_compactor_.join();
}

void CompactionState::Release() {
  std::lock_guard<std::mutex> lock(track_mu_);
  topic_cursor_.reset();
}

void CompactionState::Track(std::uint64_t upto, std::map<std::string, TopicStats>* delta) {
  if (!topic_cursor_) {
    topics_unsaved_.clear();  // the follower counts again from what the catalog holds
    std::uint64_t from = 0;
    if (HasCatalog(j_)) {
      auto off = CatalogTopicsOffset(j_);
      if (off.ok()) from = *off;
    }
    auto c = ReadAllTopics(j_, from);
    if (!c.ok()) return;
    topic_cursor_.emplace(std::move(c).value());
    topic_pending_.reset();
  }
  auto count = [&](const std::string& topic, std::uint64_t offset, std::uint64_t bytes) {
    TopicStats& t = (*delta)[topic];
    if (t.events == 0) t.first_offset = offset;
    t.events++;
    t.bytes += bytes;
    t.last_offset = offset;
  };
  if (topic_pending_ && topic_pending_->offset < upto) {
    count(topic_pending_->topic, topic_pending_->offset, topic_pending_->bytes);
    topic_pending_.reset();
  }
  while (!topic_pending_) {
    auto e = topic_cursor_->Next();
    if (!e.ok()) {
      topic_cursor_.reset();
      return;
    }
    if (!e->has_value()) break;
    const Event& ev = **e;
    if (ev.offset >= upto) {
      topic_pending_ = PendingEvent{std::string(ev.topic), ev.offset, ev.payload.size()};
      break;
    }
    count(std::string(ev.topic), ev.offset, ev.payload.size());
  }
  QueueAutomatic(*delta);
}

void CompactionState::QueueAutomatic(const std::map<std::string, TopicStats>& delta) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto_stop_) return;  // the journal is going: no new thread to join
  for (const auto& [topic, t] : delta) {
    auto it = compactors_.find(topic);
    if (it == compactors_.end()) continue;
    const CompactionPolicy& p = it->second.policy;
    if (p.every_events == 0 && p.every_bytes == 0) continue;
    auto& since = since_compaction_[topic];
    since.events += t.events;
    since.bytes += t.bytes;
    if ((p.every_events && since.events >= p.every_events) || (p.every_bytes && since.bytes >= p.every_bytes)) {
      since = {};
      auto_queue_.insert(topic);
      if (!auto_compactor_.joinable()) auto_compactor_ = std::thread([this] { AutoLoop(); });
      auto_cv_.notify_all();
    }
  }
}

void CompactionState::AutoLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto_cv_.wait(lock, [&] { return auto_stop_ || !auto_queue_.empty(); });
    if (auto_stop_) return;
    std::string topic = *auto_queue_.begin();
    auto_queue_.erase(auto_queue_.begin());
    lock.unlock();
    auto r = CompactTopic(j_, topic);
    lock.lock();
    auto_error_ = r.ok() ? Status::OK() : r.status().WithContext("automatic compaction of topic " + topic);
  }
}

}  // namespace txj::internal
