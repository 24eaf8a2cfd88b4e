#include "txjournal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "cursor_impl.h"
#include "event_validation.h"
#include "journal_state.h"
#include "recovery.h"
#include "txn_tree.h"
#include "txjournal/version.h"

namespace txj {

using internal::JournalState;


namespace {

Status OpenCatalog(JournalState& s) {
  std::string path = internal::JoinPath(s.dir, format::kCatalogDir);
  for (const std::string& p : {path, internal::JoinPath(path, "data.mdb"), internal::JoinPath(path, "lock.mdb")}) {
    TXJ_RETURN_IF_ERROR(internal::RefuseSymlink(p));
  }
  const bool precious = (s.manifest.flags & format::kManifestCatalogHoldsSourceData) != 0;
  struct stat st;
  if (precious && !s.read_only && !s.options.rebuild_catalog && ::stat(path.c_str(), &st) != 0) {
    return Status::Corruption("catalog " + path + " is missing, and it held consumer offsets, session keys or eventbox "
                              "state that the journal cannot rebuild; restore it, or open with "
                              "Options::rebuild_catalog to start them over");
  }
  auto c = internal::Catalog::Open(*s.fs, path, !s.read_only, s.options.file_mode);
  if (c.ok()) {
    s.catalog = std::move(c).value();
    return Status::OK();
  }
  if (s.read_only) return Status::OK();  // positioning falls back to scanning
  if (precious && !s.options.rebuild_catalog) {
    return Status::Corruption("catalog " + path + " cannot be opened (" + c.status().ToString() +
                              "), and it holds consumer offsets, session keys or eventbox state that the journal "
                              "cannot rebuild; restore it, or open with Options::rebuild_catalog to start them over");
  }
  // A damaged catalog holds only derived data here: set it aside and rebuild.
  std::string aside = path + ".damaged-" + std::to_string(internal::NowNanos());
  if (int e = s.fs->Rename(path, aside); e != 0 && e != ENOENT) {
    return Status::FromErrno(e, "move damaged catalog " + path + " aside");
  }
  s.report.catalog_rebuilt = true;
  s.report.notes.push_back("catalog " + path + " could not be opened (" + c.status().ToString() + "); moved to " +
                           aside + " and rebuilt");
  auto fresh = internal::Catalog::Open(*s.fs, path, true, s.options.file_mode);
  if (!fresh.ok()) return fresh.status();
  s.catalog = std::move(fresh).value();
  return Status::OK();
}

Status CheckOptions(const Options& o) {
  if (o.segment_size < format::kMinSegmentSize || o.segment_size > format::kMaxSegmentSize ||
      o.segment_size % 4096 != 0) {
    return Status::InvalidArgument("segment_size " + std::to_string(o.segment_size) +
                                   " must be a multiple of 4096 between 64 KiB and 1 TiB");
  }
  return Status::OK();
}

// The manifest says where the journal starts (retention moves it forward).
// A first segment after that point means segments are missing; segments
// before it are left over from an interrupted removal.
Status CheckFirstSegment(JournalState& s) {
  const std::uint64_t expected = s.manifest.first_lsn ? s.manifest.first_lsn : format::kSegmentHeaderSize;
  s.first_offset = s.manifest.first_offset;
  s.retention_offset = s.manifest.retention_offset;
  for (;;) {
    auto first = s.segments->First();
    if (first->first_record_lsn() == expected) return Status::OK();
    if (first->first_record_lsn() > expected) {
      return Status::Corruption("missing segment " +
                                internal::JoinPath(s.dir, internal::SegmentFileName(expected - format::kSegmentHeaderSize)) +
                                ": the manifest says the journal starts at LSN " + std::to_string(expected) +
                                " but the first segment is " + first->path());
    }
    if (first->end() > expected) {
      return Status::Corruption("segment " + first->path() + " straddles the journal start LSN " +
                                std::to_string(expected) + " recorded in the manifest");
    }
    if (!s.read_only) {  // a reader just skips it: the writer may be removing it now
      if (int e = s.fs->Unlink(first->path())) return Status::FromErrno(e, "remove retired segment " + first->path());
      s.report.notes.push_back("removed retired segment " + first->path());
    }
    s.segments->DropBefore(first->end());
  }
}

Status OpenState(JournalState& s) {
  FileSystem& fs = *s.fs;
  struct stat st;
  bool exists = ::stat(s.dir.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode)) return Status::InvalidArgument(s.dir + " exists and is not a directory");
  if (!exists) {
    if (s.read_only || !s.options.create_if_missing) return Status::NotFound("no journal at " + s.dir);
    mode_t dmode = s.options.file_mode | ((s.options.file_mode & 0444) >> 2) | 0100;
    if (int e = fs.MakeDir(s.dir, dmode)) {
      if (e != EEXIST) return Status::FromErrno(e, "create journal directory " + s.dir);
    }
  }
  if (!s.read_only) TXJ_RETURN_IF_ERROR(s.lock.Acquire(s.fs, s.dir, s.options.file_mode));
  Status ms = internal::ReadManifest(fs, s.dir, &s.manifest);
  std::vector<std::string> names;
  if (int e = fs.ListDir(s.dir, &names)) return Status::FromErrno(e, "list " + s.dir);
  bool any_segment = false;
  for (const auto& n : names) {
    std::uint64_t b;
    if (internal::ParseSegmentFileName(n, &b)) any_segment = true;
  }
  if (ms.IsNotFound()) {
    if (any_segment) return Status::Corruption(s.dir + " holds segment files but no JOURNAL manifest");
    if (s.read_only || !s.options.create_if_missing) return Status::NotFound("no journal at " + s.dir);
    TXJ_RETURN_IF_ERROR(internal::RandomId(s.manifest.journal_id));
    s.manifest.segment_size = s.options.segment_size;
    s.manifest.epoch = 0;
    s.manifest.created_ns = internal::NowNanos();
    s.report.created = true;
  } else if (!ms.ok()) {
    return ms;
  } else if (s.options.error_if_exists) {
    return Status::InvalidArgument("journal " + s.dir + " already exists");
  }
  s.salt = s.manifest.salt();
  // A writer starts a new epoch, durable before any record of it. A new
  // journal's manifest is written before its first segment; an existing
  // one's only once recovery found nothing it must refuse (Recover), so an
  // open that fails leaves the files as they were.
  s.epoch = static_cast<std::uint32_t>(s.manifest.epoch + (s.read_only ? 0 : 1));
  if (!s.read_only) {
    if (s.report.created) {
      s.manifest.epoch = s.epoch;
      TXJ_RETURN_IF_ERROR(internal::WriteManifest(fs, s.dir, s.manifest, s.options.file_mode));
    }
    for (const auto& n : names) {
      if (n.size() > 4 && n.compare(n.size() - 4, 4, format::kTempSuffix) == 0) {
        fs.Unlink(internal::JoinPath(s.dir, n));
        s.report.notes.push_back("removed unfinished file " + internal::JoinPath(s.dir, n));
      }
    }
  }
  s.segments = std::make_unique<internal::SegmentSet>(s.fs, s.dir, s.manifest, !s.read_only);
  TXJ_RETURN_IF_ERROR(s.segments->Refresh());
  if (!s.segments->First()) {
    if (s.read_only) return Status::NotFound("journal " + s.dir + " has no segment yet");
    auto seg = internal::Segment::Create(s.fs, s.dir, s.manifest, 0, s.options.file_mode, !s.staging);
    if (!seg.ok()) return seg.status();
    s.segments->Add(seg.value());
  }
  TXJ_RETURN_IF_ERROR(CheckFirstSegment(s));
  s.snapshots = std::make_unique<internal::SnapshotStore>(s.fs.get(), s.dir, s.options.file_mode);
  {
    auto marks = s.snapshots->CompactedMarks();
    if (!marks.ok()) return marks.status();
    s.compacted = std::move(marks).value();
  }
  TXJ_RETURN_IF_ERROR(OpenCatalog(s));
  TXJ_RETURN_IF_ERROR(internal::Recover(s));
  if (s.catalog && !s.read_only) {
    (void)s.catalog->PutMeta("journal_id", s.manifest.id_hex());
    (void)s.catalog->PutMeta("format_version", std::to_string(kFormatVersion));
  }
  if (s.read_only) {
    if (!s.head.OpenReadOnly(s.fs, s.dir).ok()) { /* no writer ever published: scan limits apply */ }
    s.visible.store(s.pos);
    s.visible_next_offset.store(s.next_offset);
    return Status::OK();
  }
  s.synced_lsn = s.pos;
  s.commit_end = s.pos;
  s.visible.store(s.pos);
  s.visible_next_offset.store(s.next_offset);
  {
    std::lock_guard<std::mutex> lock(s.sync_mu);
    s.unsynced.push_back(s.active);
  }
  TXJ_RETURN_IF_ERROR(s.head.Create(s.fs, s.dir, s.options.file_mode, s.pos, s.next_offset));
  s.prepare_base = s.active->end();
  s.StartBackground();
  return Status::OK();
}

}  // namespace

Journal::Journal(std::unique_ptr<JournalState> state) : s_(std::move(state)) {}

Journal::~Journal() {
  // Destruction cannot report errors: an open transaction is rolled back.
  std::shared_ptr<internal::TxnTree> cur;
  {
    std::lock_guard<std::mutex> lock(s_->txn_mu);
    cur = s_->current.lock();
  }
  if (cur && !cur->ended) cur->Abandon();
  (void)close();
  // Cursors, consumers and publishers that outlive this object answer
  // kClosed from their next call (JournalState::alive).
  s_->alive->store(false, std::memory_order_release);
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& dir, const Options& options) {
  if (!options.read_only) TXJ_RETURN_IF_ERROR(CheckOptions(options));
  auto s = std::make_unique<JournalState>();
  s->dir = dir;
  s->options = options;
  s->fs = options.file_system ? options.file_system : DefaultFileSystem();
  s->read_only = options.read_only;
  s->staging = !options.read_only && options.durability == Durability::kCommit;
  Status st = OpenState(*s);
  if (!st.ok()) {
    s->StopBackground();
    return st;
  }
  return std::unique_ptr<Journal>(new Journal(std::move(s)));
}

Result<Transaction> Journal::begin() { return begin_for(std::chrono::nanoseconds::max()); }

Result<Transaction> Journal::try_begin() { return begin_for(std::chrono::nanoseconds(0)); }

Result<Transaction> Journal::begin_for(std::chrono::nanoseconds timeout) {
  JournalState& s = *s_;
  if (s.read_only) return Status::InvalidState("journal " + s.dir + " is open read-only");
  {
    std::unique_lock<std::mutex> lock(s.txn_mu);
    if (s.closed) return Status::Closed("journal " + s.dir + " is closed");
    if (s.txn_active) {
      if (timeout.count() == 0) return Status::Busy("a write transaction is already open on " + s.dir);
      bool got;
      // Beyond a year is "wait forever" (and keeps wait_for from overflowing).
      if (timeout >= std::chrono::hours(24 * 365)) {
        s.txn_cv.wait(lock, [&] { return !s.txn_active || s.closed; });
        got = true;
      } else {
        got = s.txn_cv.wait_for(lock, timeout, [&] { return !s.txn_active || s.closed; });
      }
      if (!got) return Status::TimedOut("waited for the write transaction on " + s.dir);
      if (s.closed) return Status::Closed("journal " + s.dir + " is closed");
    }
    s.txn_active = true;
  }
  auto tree = internal::TxnTree::Start(&s);
  if (!tree.ok()) {
    std::lock_guard<std::mutex> lock(s.txn_mu);
    s.txn_active = false;
    s.txn_cv.notify_one();
    return tree.status();
  }
  {
    std::lock_guard<std::mutex> lock(s.txn_mu);
    s.current = tree.value();
  }
  return Transaction(std::move(tree).value(), 0, 0);
}

Result<Cursor> Journal::open_cursor(std::uint64_t offset, const Filter& filter) {
  if (filter.is_empty()) {
    return Status::InvalidArgument("empty cursor filter: name topics or types, or ask for Filter::all()");
  }
  {
    std::lock_guard<std::mutex> lock(s_->txn_mu);
    if (s_->closed) return Status::Closed("journal " + s_->dir + " is closed");
  }
  TXJ_RETURN_IF_ERROR(internal::CheckFilterAgainstSchema(s_->options.schema, filter));
  auto impl = internal::CursorImpl::Open(s_.get(), offset, filter);
  if (!impl.ok()) return impl.status();
  return Cursor(std::move(impl).value());
}

std::uint64_t Journal::next_offset() const {
  const std::uint64_t own = s_->visible_next_offset.load(std::memory_order_acquire);
  // A reader follows the writer through the head page, as its cursors do.
  if (s_->read_only && s_->head.valid()) return std::max(own, s_->head.next_offset());
  return own;
}
std::uint64_t Journal::first_offset() const { return s_->retention_offset; }
std::uint64_t Journal::visible_lsn() const { return internal::CursorImpl::VisibleLimit(s_.get()); }

Status Journal::sync() {
  JournalState& s = *s_;
  if (s.read_only) return Status::OK();
  std::uint64_t target;
  {
    std::lock_guard<std::mutex> lock(s.sync_mu);
    target = s.commit_end;
  }
  return s.SyncTo(target);
}

Status Journal::close() {
  JournalState& s = *s_;
  std::lock_guard<std::mutex> compaction(s.compact_mu);
  {
    std::unique_lock<std::mutex> lock(s.txn_mu);
    if (s.closed) return Status::OK();
    if (auto cur = s.current.lock(); cur && !cur->ended) {
      return Status::InvalidState("transaction " + std::to_string(cur->txn_id) + " is still open on " + s.dir +
                                  "; commit or roll it back before close()");
    }
    s.txn_cv.wait(lock, [&] { return !s.txn_active; });
    s.closed = true;
    s.txn_active = true;  // nobody writes any more
    s.txn_cv.notify_all();
  }
  if (s.read_only) return Status::OK();
  Status st = s.SyncTo(s.pos);
  s.StopBackground();
  if (st.ok() && s.active) {
    s.active->raise_watermark(s.pos, s.epoch, s.salt);
    st = s.active->Sync();
    if (st.ok()) {
      internal::Boundary b;
      {
        std::lock_guard<std::mutex> lock(s.sync_mu);
        b = s.last_boundary;
      }
      s.WriteCheckpoint(b);
    }
  }
  {
    std::lock_guard<std::mutex> lock(s.sync_mu);
    s.Publish(s.commit_end, s.next_offset);
  }
  s.head.SetWriterOpen(false);
  s.prepared.reset();
  s.lock.Release();
  return st;
}

const RecoveryReport& Journal::recovery_report() const { return s_->report; }

internal::JournalState& internal::JournalAccess::state(Journal& j) { return *j.s_; }

Status internal::MarkCatalogPrecious(JournalState& s) {
  std::lock_guard<std::mutex> lock(s.compact_mu);  // the other writer of the manifest
  if (s.manifest.flags & format::kManifestCatalogHoldsSourceData) return Status::OK();
  ManifestData m = s.manifest;
  m.flags |= format::kManifestCatalogHoldsSourceData;
  TXJ_RETURN_IF_ERROR(WriteManifest(*s.fs, s.dir, m, s.options.file_mode));
  s.manifest.flags = m.flags;  // only the flags: the background thread reads the rest
  return Status::OK();
}
const std::string& Journal::dir() const { return s_->dir; }
const Options& Journal::options() const { return s_->options; }
std::string Journal::identity() const { return s_->manifest.id_hex(); }

std::string RecoveryReport::ToString() const {
  std::string s;
  if (created) s += "created a new journal\n";
  s += "scanned " + std::to_string(scanned_bytes) + " bytes from LSN " + std::to_string(start_lsn) + " to " +
       std::to_string(end_lsn) + "; next offset " + std::to_string(next_offset) + ", next transaction " +
       std::to_string(next_txn_id) + "\n";
  if (catalog_rebuilt) s += "catalog rebuilt from the journal\n";
  for (const auto& r : repairs) {
    s += "repaired " + r.file + " at byte " + std::to_string(r.file_offset) + " (LSN " + std::to_string(r.lsn) +
         "): " + r.reason + ", " + std::to_string(r.bytes_dropped) + " bytes dropped\n";
  }
  for (const auto& n : notes) s += n + "\n";
  return s;
}

}  // namespace txj
