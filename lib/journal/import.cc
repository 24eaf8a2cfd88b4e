#include "import.h"

#include <algorithm>

#include "journal_state.h"
#include "txn_tree.h"

namespace txj {

using namespace internal;  // NOLINT: the implementation reaches the journal's state

namespace {

// Holds the write slot, as a top-level transaction does.
class Slot {
 public:
  explicit Slot(JournalState& s) : s_(s) {}
  Status Acquire() {
    if (s_.read_only) return Status::InvalidState("journal " + s_.dir + " is open read-only");
    std::lock_guard<std::mutex> lock(s_.txn_mu);
    if (s_.closed) return Status::Closed("journal " + s_.dir + " is closed");
    if (s_.txn_active) return Status::InvalidState("a write transaction is open on " + s_.dir);
    s_.txn_active = true;
    held_ = true;
    return Status::OK();
  }
  ~Slot() { Release(); }
  void Release() {
    if (!held_) return;
    std::lock_guard<std::mutex> lock(s_.txn_mu);
    s_.txn_active = false;
    s_.txn_cv.notify_one();
    held_ = false;
  }

 private:
  JournalState& s_;
  bool held_ = false;
};

std::shared_ptr<TxnTree> OpenTree(JournalState& s) {
  std::lock_guard<std::mutex> lock(s.txn_mu);
  auto t = s.current.lock();
  return t && !t->ended ? t : nullptr;
}

// Ids and offsets a copy may ask for: far from wrapping around.
constexpr std::uint64_t kMaxImported = std::uint64_t{1} << 62;

}  // namespace

Result<ImportPosition> ImportPositionOf(Journal& j) {
  JournalState& s = JournalAccess::state(j);
  Slot slot(s);
  TXJ_RETURN_IF_ERROR(slot.Acquire());
  ImportPosition p;
  p.next_offset = s.next_offset;
  p.next_txn_id = s.next_txn_id;
  auto snaps = s.snapshots->List("");
  if (!snaps.ok()) return snaps.status();
  std::lock_guard<std::mutex> lock(s.topics_mu);
  p.empty = s.next_offset == 0 && s.next_txn_id == 1 && s.manifest.last_txn_id_before == 0 && snaps->empty() &&
            s.compacted.empty() && s.retention_offset.load() == 0;
  return p;
}

Status ImportGap(Journal& j, std::uint64_t events, std::uint64_t last_txn_id) {
  JournalState& s = JournalAccess::state(j);
  if (events > kMaxImported || last_txn_id > kMaxImported) {
    return Status::InvalidArgument("gap of " + std::to_string(events) + " events and transaction ids up to " +
                                   std::to_string(last_txn_id) + " is out of range (at most 2^62 each)");
  }
  if (events == 0 && last_txn_id < s.next_txn_id) return Status::OK();  // nothing to keep taken
  Slot slot(s);
  TXJ_RETURN_IF_ERROR(slot.Acquire());
  if (s.next_offset + events > kMaxImported) {
    return Status::InvalidArgument("gap of " + std::to_string(events) + " events at offset " +
                                   std::to_string(s.next_offset) + " goes past offset 2^62");
  }
  format::PaddingBody body{events, last_txn_id};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn = 0, sum = 0;
  TXJ_RETURN_IF_ERROR(s.Append(RecordType::kPadding, 0, 0, 0, 0, &part, 1, false, &lsn, &sum));
  TXJ_RETURN_IF_ERROR(s.Flush());  // staged under kCommit: in the file before it is published
  s.next_offset += events;
  s.next_txn_id = std::max(s.next_txn_id, last_txn_id + 1);
  const std::uint64_t end = s.pos;
  // A boundary like a commit's, without an index entry (no event starts here).
  s.NoteBoundary(Boundary{end, s.next_offset, s.next_txn_id - 1, s.epoch, lsn, sum}, lsn, s.next_offset);
  slot.Release();
  if (s.options.durability == Durability::kCommit) TXJ_RETURN_IF_ERROR(s.SyncTo(end));
  return Status::OK();
}

Status ImportNextTxnId(Journal& j, std::uint64_t txn_id) {
  JournalState& s = JournalAccess::state(j);
  Slot slot(s);
  TXJ_RETURN_IF_ERROR(slot.Acquire());
  if (txn_id > kMaxImported) {
    return Status::InvalidArgument("transaction id " + std::to_string(txn_id) + " is out of range (at most 2^62)");
  }
  if (txn_id < s.next_txn_id) {
    return Status::InvalidArgument("transaction id " + std::to_string(txn_id) + " was already handed out in " +
                                   s.dir + " (next id " + std::to_string(s.next_txn_id) + ")");
  }
  s.next_txn_id = txn_id;
  return Status::OK();
}

Status ImportInnerGap(Journal& j, std::uint64_t events) {
  JournalState& s = JournalAccess::state(j);
  auto tree = OpenTree(s);
  if (!tree) return Status::InvalidState("no transaction is open on " + s.dir);
  if (!tree->poisoned.ok()) return tree->poisoned;
  if (events > kMaxImported || s.next_offset + tree->stack.front().events + events > kMaxImported) {
    return Status::InvalidArgument("gap of " + std::to_string(events) + " events goes past offset 2^62");
  }
  format::PaddingBody body{events, 0};
  JournalState::Part part{&body, sizeof body};
  std::uint64_t lsn = 0;
  const auto depth = static_cast<std::uint16_t>(tree->stack.size() - 1);
  TXJ_RETURN_IF_ERROR(tree->Write(RecordType::kPadding, 0, depth, tree->stack.back().sub_id, &part, 1, false, &lsn));
  tree->stack.back().events += events;
  return Status::OK();
}

Result<ImportOpenTxn> ImportOpenTransaction(Journal& j) {
  JournalState& s = JournalAccess::state(j);
  auto tree = OpenTree(s);
  if (!tree) return Status::InvalidState("no transaction is open on " + s.dir);
  return ImportOpenTxn{tree->txn_id, s.next_offset, tree->stack.front().events};
}

Status ImportSnapshot(Journal& j, const std::string& topic, const std::string& compactor, std::uint32_t version,
                      std::uint64_t covered_offset, std::uint64_t events_folded, const std::string& state,
                      const std::string& state_hash) {
  JournalState& s = JournalAccess::state(j);
  if (StateHash(state) != state_hash) {
    return Status::Corruption("snapshot of topic " + topic + " covering offsets below " +
                              std::to_string(covered_offset) + ": its state hashes to " + StateHash(state) +
                              ", not " + state_hash);
  }
  std::lock_guard<std::mutex> guard(s.compact_mu);
  auto info = s.snapshots->Write(topic, compactor, version, covered_offset, events_folded, state);
  return info.status();
}

Status ImportCompactedMark(Journal& j, const std::string& topic, std::uint64_t offset) {
  JournalState& s = JournalAccess::state(j);
  std::lock_guard<std::mutex> guard(s.compact_mu);
  TXJ_RETURN_IF_ERROR(s.snapshots->SetCompactedMark(topic, offset));
  {
    std::lock_guard<std::mutex> lock(s.topics_mu);
    s.compacted[topic] = offset;
  }
  s.compaction_generation.fetch_add(1);
  return Status::OK();
}

}  // namespace txj
