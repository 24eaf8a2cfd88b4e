// Journal's topic compaction: the policy and the folding (load the base
// snapshot, fold a topic's events through its compactor, write the
// snapshot). The journal publishes the marks and reclaims the space
// (compaction_door.h).
#include <algorithm>

#include "compaction_state.h"
#include "txjournal/journal.h"

namespace txj {

using internal::JournalState;
using internal::TopicStats;

namespace {

struct Base {
  std::unique_ptr<Compactor::State> state;
  std::uint64_t covered = 0;
  std::uint64_t folded = 0;
};

// The newest usable snapshot of `topic` for `c`, or the initial state when
// the topic's history is complete. Damaged snapshots are skipped while the
// history they would replace is still retained.
// Folding a topic needs its whole history or a snapshot: retention may have
// removed the start of it.
Status RemovedByRetention(const JournalState& j, const std::string& topic, std::uint64_t retained_from,
                          const std::string& why) {
  return Status::Truncated("the history of topic " + topic + " before offset " + std::to_string(retained_from) +
                           " was removed by retention (apply_retention) in journal " + internal::JournalDir(j) +
                           ", and " + why + ": folding it (compact, rebuild) needs a snapshot covering offset " +
                           std::to_string(retained_from) +
                           " or the full history; compact a topic before retention removes its start");
}

Result<Base> LoadBase(JournalState& j, const std::string& topic, const Compactor& c) {
  const std::uint64_t mark = internal::CompactedMark(j, topic);
  auto list = internal::Snapshots(j).List(topic);
  if (!list.ok()) return list.status();
  std::string problems;
  for (const auto& l : *list) {
    if (l.damaged) {
      problems += "; " + l.problem;
      continue;
    }
    if (l.info.compactor != c.name() || l.info.compactor_version != c.version()) {
      problems += "; snapshot " + l.info.file + " was written by compactor " + l.info.compactor + " version " +
                  std::to_string(l.info.compactor_version) + ", not " + c.name() + " version " +
                  std::to_string(c.version());
      continue;
    }
    if (l.info.covered_offset < mark) {
      problems += "; snapshot " + l.info.file + " covers offsets below " + std::to_string(l.info.covered_offset) +
                  " but history below " + std::to_string(mark) + " was compacted away";
      continue;
    }
    auto stored = internal::Snapshots(j).Read(l.info.file);
    if (!stored.ok()) {
      problems += "; " + stored.status().ToString();
      continue;
    }
    auto state = c.decode(stored->state);
    if (!state.ok()) {
      problems += "; " + state.status().WithContext("decoding " + l.info.file).ToString();
      continue;
    }
    if (const std::uint64_t r = internal::RetentionOffset(j); l.info.covered_offset < r) {
      return RemovedByRetention(j, topic, r,
                                "its newest usable snapshot (" + l.info.file + ") covers offsets below " +
                                    std::to_string(l.info.covered_offset) + " only");
    }
    return Base{std::move(state).value(), l.info.covered_offset, l.info.events_folded};
  }
  if (mark > 0) {
    return Status::Corruption("no usable snapshot of topic " + topic + " and its history below offset " +
                              std::to_string(mark) + " has been compacted away" + problems);
  }
  if (const std::uint64_t r = internal::RetentionOffset(j); r > 0) {
    return RemovedByRetention(j, topic, r, "it has no snapshot" + problems);
  }
  return Base{c.initial(), 0, 0};
}

// Folds the events of `topic` from base.covered up to (not including)
// `limit` (all committed events when limit is max). Returns the offset after
// the last event looked at.
Result<std::uint64_t> Fold(JournalState& j, const std::string& topic, const Compactor& c, Base& base,
                           std::uint64_t limit, std::uint64_t* applied) {
  auto cur = internal::ReadTopic(j, base.covered, topic);
  if (!cur.ok()) return cur.status();
  std::uint64_t end = base.covered;
  for (;;) {
    auto e = cur->Next();
    if (!e.ok()) return e.status();
    if (!e->has_value() || (**e).offset >= limit) break;
    Status s = c.apply(*base.state, **e);
    if (!s.ok()) return s.WithContext("compactor " + c.name() + " at offset " + std::to_string((**e).offset));
    ++*applied;
    end = (**e).offset + 1;
  }
  return std::max(end, cur->position());
}

}  // namespace

Status Journal::register_compactor(const std::string& topic, std::shared_ptr<const Compactor> compactor,
                                   CompactionPolicy policy) {
  if (!compactor) return Status::InvalidArgument("null compactor for topic " + topic);
  if (topic.empty() || topic.size() > kMaxTopicLength) return Status::InvalidArgument("invalid topic name");
  internal::CompactionOf(*s_).Register(topic, std::move(compactor), policy);
  return Status::OK();
}

Status Journal::automatic_compaction_status() const {
  internal::CompactionHook* hook = internal::InstalledCompactionHook(*s_);
  if (!hook) return Status::OK();
  return static_cast<internal::CompactionState*>(hook)->AutoStatus();
}

Result<RebuiltState> Journal::rebuild(const std::string& topic) {
  std::shared_ptr<const Compactor> c = internal::CompactionOf(*s_).Find(topic);
  if (!c) return Status::NotFound("no compactor registered for topic " + topic);
  return rebuild(topic, *c);
}

Result<RebuiltState> Journal::rebuild(const std::string& topic, const Compactor& compactor) {
  auto base = LoadBase(*s_, topic, compactor);
  if (!base.ok()) return base.status();
  RebuiltState r;
  r.from_snapshot = base->covered;
  auto end = Fold(*s_, topic, compactor, *base, ~std::uint64_t{0}, &r.events_applied);
  if (!end.ok()) return end.status();
  r.next_offset = std::max(*end, next_offset());
  r.encoded = compactor.encode(*base->state);
  r.state_hash = StateHash(r.encoded);
  r.state = std::move(base->state);
  return r;
}

Result<std::vector<TopicInfo>> Journal::topics() {
  JournalState& j = *s_;
  std::map<std::string, TopicStats> stats;
  if (internal::HasCatalog(j) && !internal::IsReadOnly(j)) {
    // Catch the table up to what is committed now.
    TXJ_RETURN_IF_ERROR(internal::CompactionOf(j).CatchUpTopics());
  }
  if (internal::HasCatalog(j)) {
    auto t = internal::CatalogTopics(j);
    if (!t.ok()) return t.status();
    stats = std::move(t).value();
  } else {
    auto cur = internal::ReadAllTopics(j, 0);
    if (!cur.ok()) return cur.status();
    for (;;) {
      auto e = cur->Next();
      if (!e.ok()) return e.status();
      if (!e->has_value()) break;
      TopicStats& t = stats[std::string((**e).topic)];
      if (t.events++ == 0) t.first_offset = (**e).offset;
      t.bytes += (**e).payload.size();
      t.last_offset = (**e).offset;
    }
  }
  std::vector<TopicInfo> out;
  for (const auto& [name, t] : stats) out.push_back({name, t.events, t.bytes, t.first_offset, t.last_offset});
  return out;
}

Result<std::vector<SnapshotInfo>> Journal::snapshots(const std::string& topic) {
  auto list = internal::Snapshots(*s_).List(topic);
  if (!list.ok()) return list.status();
  std::vector<SnapshotInfo> out;
  for (auto& l : *list) {
    if (l.damaged) l.info.state_hash = "damaged: " + l.problem;
    out.push_back(std::move(l.info));
  }
  return out;
}

Result<SnapshotInfo> Journal::compact(const std::string& topic) { return internal::CompactTopic(*s_, topic); }

namespace internal {

Result<SnapshotInfo> CompactTopic(JournalState& j, const std::string& topic) {
  auto turn = TakeCompactionTurn(j);
  if (!turn.ok()) return turn.status();
  std::shared_ptr<const Compactor> c = CompactionOf(j).Find(topic);
  if (!c) return Status::NotFound("no compactor registered for topic " + topic);
  // 1. Fold everything committed and durable now into a snapshot, durable
  //    before anything is removed.
  auto durable = SyncCommitted(j, *turn, "compacting topic " + topic);
  if (!durable.ok()) return durable.status();
  const std::uint64_t limit = *durable;
  auto base = LoadBase(j, topic, *c);
  if (!base.ok()) return base.status();
  std::uint64_t applied = 0;
  auto end = Fold(j, topic, *c, *base, limit, &applied);
  if (!end.ok()) return end.status();
  SnapshotStore& snapshots = Snapshots(j);
  auto info = snapshots.Write(topic, c->name(), c->version(), limit, base->folded + applied, c->encode(*base->state));
  if (!info.ok()) return info.status();
  // 2. The journal records that the topic's history below `limit` may now
  //    go, publishes it (cursors asking for it get kTruncated) and rewrites
  //    the sealed segments without the covered events.
  TXJ_RETURN_IF_ERROR(MarkCompacted(j, *turn, topic, limit));
  // 3. Older snapshots of the topic are superseded.
  auto list = snapshots.List(topic);
  if (list.ok()) {
    for (const auto& l : *list) {
      if (l.info.covered_offset < limit) (void)snapshots.Remove(l.info.file);
    }
  }
  return info;
}

}  // namespace internal
}  // namespace txj
