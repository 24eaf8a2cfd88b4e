#include "txjournal/inspect.h"

#include <mutex>

#include "cursor_impl.h"
#include "journal_state.h"
#include "snapshot_store.h"

namespace txj {

namespace internal {
struct CursorAccess {
  static Cursor Make(std::unique_ptr<CursorImpl> impl) { return Cursor(std::move(impl)); }
};
}  // namespace internal

std::map<std::string, std::uint64_t> CompactionMarks(Journal& j) {
  internal::JournalState& s = internal::JournalAccess::state(j);
  std::lock_guard<std::mutex> lock(s.topics_mu);
  return {s.compacted.begin(), s.compacted.end()};
}

Result<Cursor> OpenCursorThroughCompaction(Journal& j, std::uint64_t offset) {
  auto impl = internal::CursorImpl::OpenInternal(&internal::JournalAccess::state(j), offset);
  if (!impl.ok()) return impl.status();
  return internal::CursorAccess::Make(std::move(impl).value());
}

SnapshotDirectory ReadSnapshotDirectory(const std::string& journal_dir) {
  SnapshotDirectory d;
  auto fs = DefaultFileSystem();
  internal::SnapshotStore store(fs.get(), journal_dir, 0600);
  d.dir = store.dir();
  auto list = store.List("");
  if (!list.ok()) {
    d.errors.push_back(list.status().ToString());
  } else {
    for (const auto& l : *list) {
      SnapshotFile f;
      f.info = l.info;
      if (l.damaged) {
        f.problem = l.problem;
      } else if (auto s = store.Read(l.info.file); !s.ok()) {  // listed a moment ago: gone now is damage too
        f.problem = s.status().ToString();
      } else {
        f.info = s->info;
        f.state = std::move(s->state);
      }
      d.files.push_back(std::move(f));
    }
  }
  auto marks = store.CompactedMarks();
  if (!marks.ok()) {
    d.errors.push_back(marks.status().ToString());
    return d;
  }
  d.marks = std::move(marks).value();
  for (const auto& [topic, mark] : d.marks) {
    d.mark_files[topic] = store.dir() + "/" + internal::SnapshotStore::TopicId(topic) + ".compacted";
  }
  return d;
}

}  // namespace txj
