// Journal's topic compaction: snapshots, rebuild, and space reclamation.
#include <algorithm>

#include "compaction_state.h"
#include "record.h"
#include "segment_rewriter.h"
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
                           " was removed by retention (apply_retention) in journal " + j.dir +
                           ", and " + why + ": folding it (compact, rebuild) needs a snapshot covering offset " +
                           std::to_string(retained_from) +
                           " or the full history; compact a topic before retention removes its start");
}

Result<Base> LoadBase(JournalState& j, const std::string& topic, const Compactor& c) {
  std::uint64_t mark = 0;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    if (auto it = j.compacted.find(topic); it != j.compacted.end()) mark = it->second;
  }
  auto list = j.snapshots->List(topic);
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
    auto stored = j.snapshots->Read(l.info.file);
    if (!stored.ok()) {
      problems += "; " + stored.status().ToString();
      continue;
    }
    auto state = c.decode(stored->state);
    if (!state.ok()) {
      problems += "; " + state.status().WithContext("decoding " + l.info.file).ToString();
      continue;
    }
    if (const std::uint64_t r = j.retention_offset.load(); l.info.covered_offset < r) {
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
  if (const std::uint64_t r = j.retention_offset.load(); r > 0) {
    return RemovedByRetention(j, topic, r, "it has no snapshot" + problems);
  }
  return Base{c.initial(), 0, 0};
}

// Folds the events of `topic` from base.covered up to (not including)
// `limit` (all committed events when limit is max). Returns the offset after
// the last event looked at.
Result<std::uint64_t> Fold(JournalState& j, const std::string& topic, const Compactor& c, Base& base,
                           std::uint64_t limit, std::uint64_t* applied) {
  auto cur = internal::CursorImpl::Open(&j, base.covered, Filter::for_topics({topic}));
  if (!cur.ok()) return cur.status();
  std::uint64_t end = base.covered;
  for (;;) {
    auto e = (*cur)->Next();
    if (!e.ok()) return e.status();
    if (!e->has_value() || (**e).offset >= limit) break;
    Status s = c.apply(*base.state, **e);
    if (!s.ok()) return s.WithContext("compactor " + c.name() + " at offset " + std::to_string((**e).offset));
    ++*applied;
    end = (**e).offset + 1;
  }
  return std::max(end, (*cur)->position());
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
  {
    std::lock_guard<std::mutex> lock(s_->compaction_init_mu);
    if (!s_->compaction) return Status::OK();
  }
  return internal::CompactionOf(*s_).AutoStatus();
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

Status Journal::apply_retention(std::uint64_t min_offset) {
  JournalState& j = *s_;
  if (j.read_only) return Status::InvalidState("journal " + j.dir + " is open read-only");
  std::lock_guard<std::mutex> guard(j.compact_mu);
  if (j.closed) return Status::Closed("journal " + j.dir + " is closed");
  auto durable = internal::SyncCommitted(j, "applying retention below offset " + std::to_string(min_offset));
  if (!durable.ok()) return durable.status();
  const std::uint64_t committed = *durable;
  if (min_offset > committed) {
    return Status::InvalidArgument("retention offset " + std::to_string(min_offset) + " is past the committed end " +
                                   std::to_string(committed));
  }
  if (min_offset <= j.retention_offset) return Status::OK();
  // Durable before anything is removed; from now on cursors below it get kTruncated.
  internal::ManifestData m = j.manifest;
  m.retention_offset = min_offset;
  TXJ_RETURN_IF_ERROR(internal::WriteManifest(*j.fs, j.dir, m, j.options.file_mode));
  j.manifest.retention_offset = m.retention_offset;  // field by field: the background thread reads the rest
  j.retention_offset = min_offset;
  j.compaction_generation.fetch_add(1);
  std::map<std::string, std::uint64_t> marks;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    marks = j.compacted;
  }
  return internal::Reclaim(j, marks).WithContext("applying retention below offset " + std::to_string(min_offset));
}

Result<std::vector<TopicInfo>> Journal::topics() {
  JournalState& j = *s_;
  std::map<std::string, TopicStats> stats;
  if (j.catalog && !j.read_only) {
    // Catch the table up to what is committed now.
    TXJ_RETURN_IF_ERROR(internal::CompactionOf(j).CatchUpTopics());
  }
  if (j.catalog) {
    auto t = j.catalog->GetTopics();
    if (!t.ok()) return t.status();
    stats = std::move(t).value();
  } else {
    auto cur = internal::CursorImpl::OpenInternal(&j, 0);
    if (!cur.ok()) return cur.status();
    for (;;) {
      auto e = (*cur)->Next();
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
  auto list = s_->snapshots->List(topic);
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

Result<std::uint64_t> SyncCommitted(JournalState& j, const std::string& what) {
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

Status Reclaim(JournalState& j, const std::map<std::string, std::uint64_t>& marks) {
  const std::uint64_t retention = j.retention_offset;
  auto covered = [&marks, retention](std::string_view t, std::uint64_t off) {
    if (off < retention) return true;
    auto it = marks.find(std::string(t));
    return it != marks.end() && off < it->second;
  };
  const std::uint64_t salt = j.salt;
  for (const auto& seg : j.segments->All()) {
    if (!seg->known_sealed()) continue;  // the active segment, or one not yet sealed
    // No checkpoint is written while this segment is rewritten, and none
    // names a record in it: the catalog's checkpoint stays valid.
    std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
    const std::uint64_t cp_prev = j.last_checkpoint_prev_lsn.load();
    if (cp_prev >= seg->base() && cp_prev < seg->end()) continue;
    auto r = RewriteSegment(j.fs, j.dir, j.manifest, seg, covered, j.options.file_mode);
    if (!r.ok()) return r.status();
    if (!r->segment) continue;
    // Index entries into the old version may now point inside a padding:
    // drop them (cursors start from an earlier entry), before readers can
    // find the new version.
    {
      std::lock_guard<std::mutex> lock(j.index_mu);
      std::erase_if(j.index, [&](const auto& e) { return e.second >= seg->base() && e.second < seg->end(); });
      std::erase_if(j.index_pending, [&](const auto& e) { return e.second >= seg->base() && e.second < seg->end(); });
    }
    if (j.catalog) TXJ_RETURN_IF_ERROR(j.catalog->DropIndexRange(seg->base(), seg->end()));
    j.segments->Replace(r->segment);
  }
  // Front segments left with nothing but padding go: the manifest records
  // the new start first, so a crash leaves at worst a file the next open
  // removes.
  for (;;) {
    auto segs = j.segments->All();
    if (segs.size() < 2) break;
    const auto& first = segs.front();
    std::lock_guard<std::mutex> cp_lock(j.checkpoint_mu);
    const std::uint64_t cp_prev = j.last_checkpoint_prev_lsn.load();
    if (!first->known_sealed() || (cp_prev >= first->base() && cp_prev < first->end())) break;
    std::uint64_t skipped = 0, last_txn = 0;
    bool only_padding = true;
    for (std::uint64_t lsn = first->first_record_lsn(); lsn < first->end();) {
      RecordView v;
      if (DecodeRecord(first->at(lsn), first->end() - lsn, lsn, salt, &v) != DecodeError::kNone) {
        only_padding = false;
        break;
      }
      if (v.type == RecordType::kSegmentEnd) break;
      if (v.type != RecordType::kPadding || v.txn_id != 0) {
        only_padding = false;
        break;
      }
      const auto body = ReadBody<format::PaddingBody>(v);
      skipped += body.skipped_events;
      last_txn = std::max(last_txn, body.last_txn_id);
      lsn = v.next_lsn();
    }
    if (!only_padding) break;
    ManifestData m = j.manifest;
    m.first_lsn = first->end() + format::kSegmentHeaderSize;
    m.first_offset = j.first_offset + skipped;
    m.last_txn_id_before = std::max(m.last_txn_id_before, last_txn);
    TXJ_RETURN_IF_ERROR(WriteManifest(*j.fs, j.dir, m, j.options.file_mode));
    j.manifest.first_lsn = m.first_lsn;  // field by field: the background thread reads the rest
    j.manifest.first_offset = m.first_offset;
    j.manifest.last_txn_id_before = m.last_txn_id_before;
    j.first_offset = m.first_offset;
    if (int e = j.fs->Unlink(first->path()); e && e != ENOENT) return Status::FromErrno(e, "remove " + first->path());
    if (int e = j.fs->SyncDir(j.dir)) return Status::FromErrno(e, "sync directory " + j.dir);
    j.segments->DropBefore(first->end());
  }
  return Status::OK();
}

Result<SnapshotInfo> CompactTopic(JournalState& j, const std::string& topic) {
  if (j.read_only) return Status::InvalidState("journal " + j.dir + " is open read-only");
  std::lock_guard<std::mutex> guard(j.compact_mu);
  if (j.closed) return Status::Closed("journal " + j.dir + " is closed");
  std::shared_ptr<const Compactor> c = CompactionOf(j).Find(topic);
  if (!c) return Status::NotFound("no compactor registered for topic " + topic);
  // 1. Fold everything committed and durable now into a snapshot, durable
  //    before anything is removed.
  auto durable = SyncCommitted(j, "compacting topic " + topic);
  if (!durable.ok()) return durable.status();
  const std::uint64_t limit = *durable;
  auto base = LoadBase(j, topic, *c);
  if (!base.ok()) return base.status();
  std::uint64_t applied = 0;
  auto end = Fold(j, topic, *c, *base, limit, &applied);
  if (!end.ok()) return end.status();
  auto info = j.snapshots->Write(topic, c->name(), c->version(), limit, base->folded + applied,
                                 c->encode(*base->state));
  if (!info.ok()) return info.status();
  // 2. Record that the topic's history below `limit` may now go, then
  //    publish it so cursors asking for it get kTruncated.
  TXJ_RETURN_IF_ERROR(j.snapshots->SetCompactedMark(topic, limit));
  std::map<std::string, std::uint64_t> marks;
  {
    std::lock_guard<std::mutex> lock(j.topics_mu);
    j.compacted[topic] = limit;
    marks = j.compacted;
  }
  j.compaction_generation.fetch_add(1);
  // 3. Reclaim: rewrite sealed segments without covered events.
  TXJ_RETURN_IF_ERROR(Reclaim(j, marks).WithContext("compacting topic " + topic));
  // 4. Older snapshots of the topic are superseded.
  auto list = j.snapshots->List(topic);
  if (list.ok()) {
    for (const auto& l : *list) {
      if (l.info.covered_offset < limit) (void)j.snapshots->Remove(l.info.file);
    }
  }
  return info;
}

}  // namespace internal
}  // namespace txj
