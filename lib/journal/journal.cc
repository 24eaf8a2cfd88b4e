#include "txjournal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <limits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>

#include "cursor_impl.h"
#include "event_validation.h"
#include "journal_state.h"
#include "reclaim.h"
#include "recovery.h"
#include "txn_tree.h"
#include "txjournal/version.h"

namespace txj {

using internal::JournalState;


namespace {

// Meta keys of the catalog that tie it to its journal: the journal's id, and
// the marker written (before the manifest's flag) when the catalog starts
// holding data the journal cannot rebuild.
constexpr const char* kCatalogJournalIdKey = "journal_id";
constexpr const char* kCatalogPreciousKey = "holds_source_data";

const char* kPreciousWhat = "consumer offsets, session keys or eventbox state that the journal cannot rebuild";

Status PreciousCatalogError(const std::string& path, const std::string& why) {
  return Status::Corruption("catalog " + path + " " + why + ", but the manifest says it holds " + kPreciousWhat +
                            "; restore the catalog, or open with Options::rebuild_catalog to start them over");
}

// What a catalog says about whose it is.
struct CatalogIdentity {
  std::optional<std::string> journal_id;
  bool precious = false;
  // Holds user tables (offsets, sessions, eventbox state): a catalog made
  // precious by a build from before the marker existed has them but no
  // marker.
  bool has_user_tables = false;
};

// Reads the identity of the catalog in `path` without writing anything and
// without LMDB's lock file (nothing of it changes, nor does the lock state
// of other handles on it in this process). Only while no other process
// writes the catalog: the caller holds the journal's writer lock.
Status ReadCatalogIdentityUnlocked(const std::string& path, CatalogIdentity* out) {
  struct Env {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    ~Env() {
      if (txn) mdb_txn_abort(txn);
      if (env) mdb_env_close(env);
    }
  } e;
  auto fail = [&](int rc, const char* what) {
    return PreciousCatalogError(path, std::string("cannot be read (LMDB ") + what + ": " + mdb_strerror(rc) + ")");
  };
  if (int rc = mdb_env_create(&e.env)) return fail(rc, "env_create");
  mdb_env_set_maxdbs(e.env, 256);
  mdb_env_set_mapsize(e.env, std::size_t{1} << 32);
  if (int rc = mdb_env_open(e.env, path.c_str(), MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0600)) {
    return fail(rc, "env_open");
  }
  if (int rc = mdb_txn_begin(e.env, nullptr, MDB_RDONLY, &e.txn)) return fail(rc, "txn_begin");
  MDB_dbi meta;
  int rc = mdb_dbi_open(e.txn, "meta", 0, &meta);
  if (rc == MDB_NOTFOUND) return Status::OK();  // an empty environment
  if (rc) return fail(rc, "open table meta");
  for (const char* key : {kCatalogJournalIdKey, kCatalogPreciousKey}) {
    MDB_val k{std::strlen(key), const_cast<char*>(key)}, v;
    rc = mdb_get(e.txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) continue;
    if (rc) return fail(rc, "get meta");
    std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    if (std::strcmp(key, kCatalogJournalIdKey) == 0) out->journal_id = value;
    else out->precious = value == "1";
  }
  // The main table lists the named ones: user tables are "user:NAME".
  MDB_dbi main;
  if (mdb_dbi_open(e.txn, nullptr, 0, &main) == 0) {
    MDB_cursor* cur = nullptr;
    if (mdb_cursor_open(e.txn, main, &cur) == 0) {
      static const char kPrefix[] = "user:";
      MDB_val k{sizeof kPrefix - 1, const_cast<char*>(kPrefix)}, v;
      if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= sizeof kPrefix - 1 &&
          std::memcmp(k.mv_data, kPrefix, sizeof kPrefix - 1) == 0) {
        out->has_user_tables = true;
      }
      mdb_cursor_close(cur);
    }
  }
  return Status::OK();
}

Status ReadCatalogIdentity(internal::Catalog& c, CatalogIdentity* out) {
  auto id = c.GetMeta(kCatalogJournalIdKey);
  if (!id.ok()) return id.status();
  out->journal_id = *id;
  auto marker = c.GetMeta(kCatalogPreciousKey);
  if (!marker.ok()) return marker.status();
  out->precious = marker->has_value() && **marker == "1";
  return Status::OK();
}

// A catalog that the manifest says holds data the journal cannot rebuild
// must be that catalog: this journal's id and the marker, not an empty or
// new environment (data.mdb deleted or truncated: LMDB would silently make
// a new one) nor another journal's catalog.
Status CheckPreciousIdentity(const JournalState& s, const std::string& path, const CatalogIdentity& id) {
  if (!id.journal_id) {
    return PreciousCatalogError(path, "is empty (holds no journal identity: its data.mdb was deleted, truncated "
                                      "or replaced by a new one)");
  }
  if (*id.journal_id != s.manifest.id_hex()) {
    return PreciousCatalogError(path, "belongs to another journal (id " + *id.journal_id + ", this journal is " +
                                          s.manifest.id_hex() + ")");
  }
  if (!id.precious && !id.has_user_tables) {
    return PreciousCatalogError(path, "does not hold the data it should (no marker \"" +
                                          std::string(kCatalogPreciousKey) +
                                          "\": it is an older copy, from before it held that data)");
  }
  return Status::OK();
}

// Checks, before anything opens it for writing, that a precious catalog is
// the one the manifest speaks of.
Status VerifyPreciousCatalog(const JournalState& s, const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return PreciousCatalogError(path, "is missing");
  const std::string data = internal::JoinPath(path, "data.mdb");
  if (::stat(data.c_str(), &st) != 0) return PreciousCatalogError(path, "has no data.mdb (deleted)");
  if (st.st_size == 0) return PreciousCatalogError(path, "has an empty data.mdb (truncated to 0 bytes)");
  CatalogIdentity id;
  TXJ_RETURN_IF_ERROR(ReadCatalogIdentityUnlocked(path, &id));
  return CheckPreciousIdentity(s, path, id);
}

// Moves the catalog at `path` aside (if there is one) and notes it.
Status MoveCatalogAside(JournalState& s, const std::string& path, const std::string& why) {
  std::string aside = path + ".damaged-" + std::to_string(internal::NowNanos());
  if (int e = s.fs->Rename(path, aside); e != 0 && e != ENOENT) {
    return Status::FromErrno(e, "move damaged catalog " + path + " aside");
  }
  s.report.catalog_rebuilt = true;
  s.report.notes.push_back("catalog " + path + " " + why + "; moved to " + aside + " and rebuilt");
  return Status::OK();
}

// A reader's catalog: opened read-only when it can be; one the manifest
// says holds source data must be that journal's, whole.
Status OpenCatalogReadOnly(JournalState& s, const std::string& path, bool precious) {
  Status bad;
  if (precious) {
    struct stat st;
    const std::string data = internal::JoinPath(path, "data.mdb");
    if (::stat(path.c_str(), &st) != 0) bad = PreciousCatalogError(path, "is missing");
    else if (::stat(data.c_str(), &st) != 0) bad = PreciousCatalogError(path, "has no data.mdb (deleted)");
    else if (st.st_size == 0) bad = PreciousCatalogError(path, "has an empty data.mdb (truncated to 0 bytes)");
  }
  std::unique_ptr<internal::Catalog> cat;
  if (bad.ok()) {
    auto c = internal::Catalog::Open(*s.fs, path, false, s.options.file_mode);
    if (c.ok()) {
      cat = std::move(c).value();
    } else if (precious && (c.status().IsNotFound() || c.status().code() == Code::kCorruption)) {
      // An environment without the journal's tables is a new one.
      bad = PreciousCatalogError(path, "cannot be opened (" + c.status().ToString() + ")");
    } else if (precious) {
      // Not readable by this reader (permissions): nothing to check against.
      s.report.notes.push_back("catalog " + path + " could not be opened read-only (" + c.status().ToString() +
                               "); its " + kPreciousWhat + " were not checked");
    }
  }
  if (bad.ok() && cat && precious) {
    CatalogIdentity id;
    Status r = ReadCatalogIdentity(*cat, &id);
    if (r.ok() && !id.precious && id.journal_id) {
      // Written before the marker existed? Its user tables say (read
      // without LMDB's lock: the read-only catalog is opened only while
      // no writer holds the journal).
      CatalogIdentity direct;
      if (ReadCatalogIdentityUnlocked(path, &direct).ok()) id.has_user_tables = direct.has_user_tables;
    }
    bad = r.ok() ? CheckPreciousIdentity(s, path, id) : PreciousCatalogError(path, "cannot be read (" + r.ToString() + ")");
  }
  if (bad.ok()) {
    s.catalog = std::move(cat);  // without one, positioning falls back to scanning
    return Status::OK();
  }
  if (!s.options.rebuild_catalog) return bad;
  s.report.notes.push_back(bad.message() + " (read-only with Options::rebuild_catalog: opened without it)");
  return Status::OK();
}

Status OpenCatalog(JournalState& s) {
  std::string path = internal::JoinPath(s.dir, format::kCatalogDir);
  for (const std::string& p : {path, internal::JoinPath(path, "data.mdb"), internal::JoinPath(path, "lock.mdb")}) {
    TXJ_RETURN_IF_ERROR(internal::RefuseSymlink(*s.fs, p));
  }
  const bool precious = (s.manifest.flags & format::kManifestCatalogHoldsSourceData) != 0;
  if (s.read_only) return OpenCatalogReadOnly(s, path, precious);
  bool rebuilt = false;
  if (precious) {
    Status v = VerifyPreciousCatalog(s, path);
    if (!v.ok()) {
      if (!s.options.rebuild_catalog) return v;
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0) {
        TXJ_RETURN_IF_ERROR(MoveCatalogAside(s, path, "is not the one the manifest speaks of (" + v.message() + ")"));
      } else {
        s.report.catalog_rebuilt = true;
        s.report.notes.push_back("catalog " + path + " was missing; rebuilt (Options::rebuild_catalog)");
      }
      rebuilt = true;
    }
  }
  auto c = internal::Catalog::Open(*s.fs, path, true, s.options.file_mode);
  if (!c.ok()) {
    if (precious && !s.options.rebuild_catalog) {
      return PreciousCatalogError(path, "cannot be opened (" + c.status().ToString() + ")");
    }
    // A damaged catalog holds only derived data here (or is started over on
    // request): set it aside and rebuild.
    TXJ_RETURN_IF_ERROR(MoveCatalogAside(s, path, "could not be opened (" + c.status().ToString() + ")"));
    rebuilt = true;
    c = internal::Catalog::Open(*s.fs, path, true, s.options.file_mode);
    if (!c.ok()) return c.status();
  }
  s.catalog = std::move(c).value();
  if (rebuilt && precious) {
    // Started over deliberately: the new catalog is the manifest's catalog
    // from now on (it will hold the offsets, keys and state anew).
    TXJ_RETURN_IF_ERROR(s.catalog->PutMeta(kCatalogJournalIdKey, s.manifest.id_hex()));
    TXJ_RETURN_IF_ERROR(s.catalog->PutMeta(kCatalogPreciousKey, "1"));
  }
  return Status::OK();
}

// Refuses option values that cannot mean anything: every open checks what
// readers use too; a writer, what it creates files with.
Status CheckOptions(const Options& o) {
  switch (o.durability) {
    case Durability::kNone:
    case Durability::kCommit:
    case Durability::kPeriodic:
      break;
    default:
      return Status::InvalidArgument("Options::durability " + std::to_string(static_cast<int>(o.durability)) +
                                     " is not a Durability (kNone, kCommit or kPeriodic)");
  }
  if (o.sync_interval.count() <= 0) {
    return Status::InvalidArgument("Options::sync_interval " + std::to_string(o.sync_interval.count()) +
                                   " ms must be positive (the interval of the background sync)");
  }
  if (o.poll_interval.count() <= 0) {
    return Status::InvalidArgument("Options::poll_interval " + std::to_string(o.poll_interval.count()) +
                                   " ms must be positive (how often a cursor polls another process's commits)");
  }
  // A schema entry no event can match would leave its stream silently empty.
  for (const auto& [topic, types] : o.schema) {
    for (std::size_t i = 0; i == 0 || i < types.size(); ++i) {
      Status v = internal::ValidateEvent(topic, types.empty() ? std::string_view() : types[i], std::nullopt, {});
      if (!v.ok()) return Status::InvalidArgument("Options::schema: " + v.message());
    }
  }
  if (o.read_only) return Status::OK();
  if (o.file_mode == 0 || (o.file_mode & ~mode_t{0777}) != 0 || (o.file_mode & 0600) != 0600) {
    char octal[16];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(o.file_mode));
    return Status::InvalidArgument(std::string("Options::file_mode ") + octal +
                                   " must be permission bits (at most 0777) that let the owner read and write "
                                   "(0600): the journal reopens its own files");
  }
  if (o.segment_size < format::kMinSegmentSize || o.segment_size > format::kMaxSegmentSize ||
      o.segment_size % 4096 != 0) {
    return Status::InvalidArgument("Options::segment_size " + std::to_string(o.segment_size) +
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
  // Before anything is removed: some segment must reach past the start.
  if (auto last = s.segments->Last(); !last || last->end() <= expected) {
    return Status::Corruption(
        "the manifest " + internal::JoinPath(s.dir, "JOURNAL") + " says the journal starts at LSN " +
        std::to_string(expected) + ", but " +
        (last ? "every segment ends before it (the last, " + last->path() + ", ends at LSN " +
                    std::to_string(last->end()) + ")"
              : std::string("there is no segment")) +
        "; nothing was removed");
  }
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

// What an open that creates the journal made, so that a failed create can
// remove it (creation is all or nothing).
struct CreateLog {
  bool made_dir = false;       // the journal directory did not exist
  bool lock_existed = false;   // LOCK was there before this open
  bool creating = false;       // the manifest is (re)written as a new journal's
  bool locked = false;         // this open holds the writer lock
  std::vector<std::string> existed;  // names in the directory before this open created anything
};

bool IsSegmentOrTemp(const std::string& n) {
  std::uint64_t b;
  if (internal::ParseSegmentFileName(n, &b)) return true;
  const std::size_t t = std::strlen(format::kTempSuffix);
  return n.size() > t && n.compare(n.size() - t, t, format::kTempSuffix) == 0 &&
         internal::ParseSegmentFileName(n.substr(0, n.size() - t), &b);
}

// A failed create removes what it made, the manifest after the segments:
// whatever a failing removal leaves is either nothing, a manifest without
// segments (an unfinished creation, which the next writable open finishes
// with its own options), or a whole journal; never segments without a
// manifest. Best effort: a failure here is not reported over the cause.
void RemoveFailedCreate(JournalState& s, const CreateLog& log) {
  FileSystem& fs = *s.fs;
  if (!log.locked) {
    // Another writer may be creating it: touch nothing of theirs (rmdir
    // removes only an empty directory).
    if (log.made_dir) fs.RemoveDir(s.dir);
    return;
  }
  // Close everything but the lock first (the background thread is stopped).
  if (s.compaction) s.compaction->Release();
  s.catalog.reset();
  s.snapshots.reset();
  s.prepared.reset();
  s.active.reset();
  s.unsynced.clear();
  s.segments.reset();
  auto made = [&](const std::string& n) {
    return log.made_dir || std::find(log.existed.begin(), log.existed.end(), n) == log.existed.end();
  };
  auto remove = [&](const std::string& n) { return fs.Unlink(internal::JoinPath(s.dir, n)) == 0; };
  std::vector<std::string> names;
  if (fs.ListDir(s.dir, &names) != 0) return;
  bool segments_gone = true;
  for (const auto& n : names) {
    if (IsSegmentOrTemp(n) && made(n) && !remove(n)) segments_gone = false;
  }
  const std::string manifest = format::kManifestName, manifest_tmp = manifest + format::kTempSuffix;
  if (segments_gone && log.creating) remove(manifest);
  if (made(manifest_tmp)) remove(manifest_tmp);
  if (made(format::kHeadName)) remove(format::kHeadName);
  for (const char* sub : {format::kCatalogDir, "snapshots"}) {
    if (!made(sub)) continue;
    const std::string path = internal::JoinPath(s.dir, sub);
    std::vector<std::string> inner;
    if (fs.ListDir(path, &inner) == 0) {
      for (const auto& n : inner) fs.Unlink(internal::JoinPath(path, n));
    }
    fs.RemoveDir(path);
  }
  if (!log.lock_existed) remove(format::kLockName);  // while still holding it
  s.lock.Release();
  if (log.made_dir) fs.RemoveDir(s.dir);
}

// The directory: made when missing (and allowed), locked by a writer, and
// listed; a link planted at one of the journal's names is refused by name
// (its files are opened with O_NOFOLLOW, which would say only ELOOP).
Status OpenDirectory(JournalState& s, CreateLog& log, std::vector<std::string>* names, bool* any_segment) {
  FileSystem& fs = *s.fs;
  struct stat st;
  bool exists = ::stat(s.dir.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode)) return Status::InvalidArgument(s.dir + " exists and is not a directory");
  if (!exists) {
    if (s.read_only || !s.options.create_if_missing) return Status::NotFound("no journal at " + s.dir);
    mode_t dmode = s.options.file_mode | ((s.options.file_mode & 0444) >> 2) | 0100;
    if (int e = fs.MakeDir(s.dir, dmode)) {
      if (e != EEXIST) return Status::FromErrno(e, "create journal directory " + s.dir);
    } else {
      log.made_dir = true;
    }
  }
  if (!s.read_only) {
    log.lock_existed = ::lstat(internal::JoinPath(s.dir, format::kLockName).c_str(), &st) == 0;
    TXJ_RETURN_IF_ERROR(s.lock.Acquire(s.fs, s.dir, s.options.file_mode));
    log.locked = true;
  }
  if (int e = fs.ListDir(s.dir, names)) return Status::FromErrno(e, "list " + s.dir);
  log.existed = *names;
  if (!log.lock_existed) {
    log.existed.erase(std::remove(log.existed.begin(), log.existed.end(), format::kLockName), log.existed.end());
  }
  *any_segment = false;
  std::string path = internal::JoinPath(s.dir, "");  // each name is appended to it in turn
  const std::size_t dir_len = path.size();
  for (const auto& n : *names) {
    std::uint64_t b;
    const bool segment = internal::ParseSegmentFileName(n, &b);
    *any_segment |= segment;
    if (segment || n == format::kManifestName || n == format::kHeadName || n == format::kLockName) {
      path.resize(dir_len);
      path += n;
      TXJ_RETURN_IF_ERROR(internal::RefuseSymlink(fs, path));
    }
  }
  return Status::OK();
}

// A new journal's manifest, in memory (written once the epoch is known).
void NewManifest(JournalState& s) {
  s.manifest.segment_size = s.options.segment_size;
  s.manifest.epoch = 0;
  s.manifest.created_ns = internal::NowNanos();
  s.report.created = true;
}

// Reads the manifest, or starts a new journal's when there is none (or
// when an earlier creation did not finish).
Status LoadManifest(JournalState& s, bool any_segment) {
  Status ms = internal::ReadManifest(*s.fs, s.dir, &s.manifest);
  if (ms.IsNotFound()) {
    if (any_segment) return Status::Corruption(s.dir + " holds segment files but no JOURNAL manifest");
    if (s.read_only || !s.options.create_if_missing) return Status::NotFound("no journal at " + s.dir);
    TXJ_RETURN_IF_ERROR(internal::RandomId(s.manifest.journal_id));
    NewManifest(s);
    return Status::OK();
  }
  if (!ms.ok()) return ms;
  if (!any_segment && s.manifest.epoch <= 1 && s.manifest.first_lsn == 0 && s.manifest.first_offset == 0 &&
      s.manifest.retention_offset == 0 && s.manifest.flags == 0) {
    // A manifest without any segment, written by nothing but the open that
    // created it: that creation did not finish (a crash, or a failed create
    // whose cleanup failed too). Nothing was ever committed to it.
    if (s.read_only) {
      return Status::NotFound("journal " + s.dir + " was never completely created (it has a manifest but no "
                              "segment); a writable open finishes creating it");
    }
    if (!s.options.create_if_missing) return Status::NotFound("no journal at " + s.dir + " (its creation did not finish)");
    s.report.notes.push_back("finished the creation of " + s.dir + " that an earlier open began (segment size " +
                             std::to_string(s.options.segment_size) + ", was " +
                             std::to_string(s.manifest.segment_size) + ")");
    NewManifest(s);
    return Status::OK();
  }
  if (s.options.error_if_exists) return Status::InvalidArgument("journal " + s.dir + " already exists");
  return Status::OK();
}

// A writer starts a new epoch, durable before any record of it. A new
// journal's manifest is written before its first segment; an existing
// one's only once recovery found nothing it must refuse (Recover), so an
// open that fails leaves the files as they were. A writer also removes the
// unfinished files (temporary names) an earlier one left.
Status StartEpoch(JournalState& s, const std::vector<std::string>& names) {
  if (!s.read_only && s.manifest.epoch >= std::numeric_limits<std::uint32_t>::max()) {
    return Status::Corruption("the manifest " + internal::JoinPath(s.dir, "JOURNAL") + " has epoch " +
                              std::to_string(s.manifest.epoch) + ": no writer epoch follows it (records hold 32 bits)");
  }
  s.epoch = static_cast<std::uint32_t>(s.manifest.epoch + (s.read_only ? 0 : 1));
  if (s.read_only) return Status::OK();
  if (s.report.created) {
    s.manifest.epoch = s.epoch;
    TXJ_RETURN_IF_ERROR(internal::WriteManifest(*s.fs, s.dir, s.manifest, s.options.file_mode));
  }
  for (const auto& n : names) {
    if (n.size() > 4 && n.compare(n.size() - 4, 4, format::kTempSuffix) == 0) {
      s.fs->Unlink(internal::JoinPath(s.dir, n));
      s.report.notes.push_back("removed unfinished file " + internal::JoinPath(s.dir, n));
    }
  }
  // Retired segment files an earlier writer kept for reuse (names sort by
  // their old base: oldest first); those beyond what this writer keeps go.
  std::vector<std::string> retired;
  for (const auto& n : names) {
    if (internal::IsRetiredFileName(n)) retired.push_back(n);
  }
  std::sort(retired.begin(), retired.end());
  for (const auto& n : retired) {
    const std::string path = internal::JoinPath(s.dir, n);
    if (s.free_files.size() < s.options.recycled_segments) {
      s.free_files.push_back(path);
    } else {
      s.fs->Unlink(path);
    }
  }
  return Status::OK();
}

// The segments (a new journal's first one made), the snapshot store and
// the compaction marks.
Status OpenSegments(JournalState& s) {
  s.segments = std::make_unique<internal::SegmentSet>(s.fs, s.dir, s.manifest, !s.read_only);
  TXJ_RETURN_IF_ERROR(s.segments->Refresh());
  if (!s.segments->First()) {
    if (s.read_only) return Status::NotFound("journal " + s.dir + " has no segment yet");
    auto seg = internal::Segment::Create(s.fs, s.dir, s.manifest, 0, s.options.file_mode, s.segment_writes());
    if (!seg.ok()) return seg.status();
    s.segments->Add(seg.value());
  }
  TXJ_RETURN_IF_ERROR(CheckFirstSegment(s));
  s.snapshots = std::make_unique<internal::SnapshotStore>(s.fs.get(), s.dir, s.options.file_mode);
  auto marks = s.snapshots->CompactedMarks();
  if (!marks.ok()) return marks.status();
  s.compacted = std::move(marks).value();
  return Status::OK();
}

// After recovery: what readers may see, and for a writer its head page and
// background threads.
Status StartServing(JournalState& s) {
  if (s.catalog && !s.read_only) {
    (void)s.catalog->PutMeta(kCatalogJournalIdKey, s.manifest.id_hex());
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
  if (!s.without_threads) s.StartBackground();
  return Status::OK();
}

Status OpenState(JournalState& s, CreateLog& log) {
  std::vector<std::string> names;
  bool any_segment = false;
  TXJ_RETURN_IF_ERROR(OpenDirectory(s, log, &names, &any_segment));
  TXJ_RETURN_IF_ERROR(LoadManifest(s, any_segment));
  log.creating = s.report.created;
  s.salt = s.manifest.salt();
  TXJ_RETURN_IF_ERROR(StartEpoch(s, names));
  TXJ_RETURN_IF_ERROR(OpenSegments(s));
  if (!s.without_catalog) TXJ_RETURN_IF_ERROR(OpenCatalog(s));
  TXJ_RETURN_IF_ERROR(internal::Recover(s));
  return StartServing(s);
}

Result<std::unique_ptr<Journal>> OpenJournal(const std::string& dir, const Options& options, bool without_catalog,
                                             bool without_threads = false);

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
  return OpenJournal(dir, options, false);
}

Result<std::unique_ptr<Journal>> internal::OpenWithoutCatalog(const std::string& dir, const Options& options,
                                                              bool without_threads) {
  return OpenJournal(dir, options, true, without_threads);
}

std::unique_ptr<Journal> internal::JournalAccess::Make(std::unique_ptr<JournalState> s) {
  return std::unique_ptr<Journal>(new Journal(std::move(s)));
}

namespace {

Result<std::unique_ptr<Journal>> OpenJournal(const std::string& dir, const Options& options, bool without_catalog,
                                             bool without_threads) {
  TXJ_RETURN_IF_ERROR(CheckOptions(options));
  // A program started with stdin, stdout or stderr closed (a daemon) would
  // hand those numbers to the journal's files (LMDB opens its own), and its
  // next print would land in one: fill them with /dev/null first.
  if (!internal::ReserveStandardDescriptors()) {
    return Status::InvalidState("descriptor 0, 1 or 2 (stdin, stdout, stderr) is closed and /dev/null cannot be "
                                "opened to fill it: a journal file could take it and receive what the program "
                                "prints; open /dev/null on it before opening " + dir);
  }
  auto s = std::make_unique<JournalState>();
  s->dir = dir;
  s->options = options;
  s->fs = options.file_system ? options.file_system : DefaultFileSystem();
  s->read_only = options.read_only;
  s->without_catalog = without_catalog;
  s->without_threads = without_threads;
  s->stage_always = !options.read_only && options.durability == Durability::kCommit;
  s->staging = s->stage_always;
  s->gaps = s->stage_always && options.pad_commits_to_page;
  if (s->staging) s->stage.resize(JournalState::kStageSize);
  CreateLog log;
  Status st = OpenState(*s, log);
  if (!st.ok()) {
    s->StopBackground();
    if (log.creating || log.made_dir) RemoveFailedCreate(*s, log);
    return st;
  }
  return internal::JournalAccess::Make(std::move(s));
}

}  // namespace

Result<Transaction> Journal::begin() { return begin_for(std::chrono::nanoseconds::max()); }

Result<Transaction> Journal::try_begin() { return begin_for(std::chrono::nanoseconds(0)); }

Result<Transaction> Journal::begin_for(std::chrono::nanoseconds timeout) {
  JournalState& s = *s_;
  if (s.read_only) return Status::InvalidState("journal " + s.dir + " is open read-only");
  {
    std::unique_lock<std::mutex> lock(s.txn_mu);
    if (s.closed) return Status::Closed("journal " + s.dir + " is closed");
    if (s.txn_active && s.txn_owner == std::this_thread::get_id()) {
      // Waiting would wait for this thread itself, forever.
      auto cur = s.current.lock();
      return Status::InvalidState(
          "this thread already holds the open write transaction" +
          (cur ? " " + std::to_string(cur->txn_id) : std::string()) + " on " + s.dir +
          "; commit or roll it back before beginning another (one top-level write transaction at a time; "
          "Transaction::begin() opens a sub-transaction)");
    }
    if (s.txn_active && timeout.count() == 0) return Status::Busy("a write transaction is already open on " + s.dir);
    // Held or waited for from here on: a committing thread's GatherCommits
    // waits for this one's commit (TxnTree::Release gives it back).
    ++s.slot_demand;
    if (s.txn_active) {
      bool got;
      // Beyond a year is "wait forever" (and keeps wait_for from overflowing).
      if (timeout >= std::chrono::hours(24 * 365)) {
        s.txn_cv.wait(lock, [&] { return !s.txn_active || s.closed; });
        got = true;
      } else {
        got = s.txn_cv.wait_for(lock, timeout, [&] { return !s.txn_active || s.closed; });
      }
      if (!got || s.closed) {
        --s.slot_demand;
        return got ? Status::Closed("journal " + s.dir + " is closed")
                   : Status::TimedOut("waited for the write transaction on " + s.dir);
      }
    }
    s.txn_active = true;
    s.txn_owner = std::this_thread::get_id();
  }
  auto tree = internal::TxnTree::Start(&s);
  if (!tree.ok()) {
    std::lock_guard<std::mutex> lock(s.txn_mu);
    s.txn_active = false;
    --s.slot_demand;
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
    s.accepting->store(false, std::memory_order_release);
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
  // A retention offset that readers got but that was not written down yet
  // (kNone, kPeriodic: apply_retention writes it only as far as its commits
  // were synced): everything is on stable storage now.
  if (st.ok() && s.retention_offset.load() > s.manifest.retention_offset) {
    internal::ManifestData m = s.manifest;
    m.retention_offset = s.retention_offset.load();
    st = internal::WriteManifest(*s.fs, s.dir, m, s.options.file_mode)
             .WithContext("close: writing the retention offset " + std::to_string(m.retention_offset));
    if (st.ok()) s.manifest.retention_offset = m.retention_offset;
  }
  // Every segment is sealed now: those wholly below the retention offset
  // that were not sealed yet when it was applied go (a segment's summary is
  // read then at most, as apply_retention would).
  if (st.ok() && s.retention_applied.load(std::memory_order_relaxed) && s.manifest.retention_offset > s.first_offset) {
    st = internal::DropFront(s, s.manifest.retention_offset)
             .WithContext("close: removing the segments below the retention offset " +
                          std::to_string(s.manifest.retention_offset) +
                          " (everything committed is durable; the next apply_retention removes them)");
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
  if (!s.catalog) return Status::InvalidState("journal " + s.dir + " has no writable catalog");
  // The catalog says so first: a crash before the manifest's flag leaves a
  // marked catalog that nothing checks yet, never a flag without a marker.
  TXJ_RETURN_IF_ERROR(s.catalog->PutMeta(kCatalogJournalIdKey, s.manifest.id_hex()));
  TXJ_RETURN_IF_ERROR(s.catalog->PutMeta(kCatalogPreciousKey, "1"));
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
