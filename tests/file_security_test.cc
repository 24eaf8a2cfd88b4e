// Security basics: files are owner-only unless configured otherwise, and a
// symbolic link planted in the journal directory never leads a write out
// of it.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "forwarding_fs.h"
#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/journal.h"

using namespace txj;
using txj::test::TempDir;
namespace fs = std::filesystem;

namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Writes, rolls a few 64 KiB segments, compacts one topic, closes.
Status Workload(const std::string& dir, const Options& o) {
  auto j = Journal::open(dir, o);
  if (!j.ok()) return j.status();
  TXJ_RETURN_IF_ERROR((*j)->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
  for (int t = 0; t < 40; ++t) {
    auto tx = (*j)->begin();
    if (!tx.ok()) return tx.status();
    AppendOptions ao;
    const std::string key = "k" + std::to_string(t % 4);
    ao.key = key;
    TXJ_RETURN_IF_ERROR(tx->append("kv", "set", std::string(5000, 'v'), ao));
    auto info = tx->commit();
    if (!info.ok()) return info.status();
  }
  auto snap = (*j)->compact("kv");
  if (!snap.ok()) return snap.status();
  return (*j)->close();
}

// Every regular file under `dir`, recursively.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  return out;
}

}  // namespace

TEST_CASE("journal files and directories are owner-only by default, and follow Options::file_mode when set") {
  TempDir d;
  const std::string dir = d.sub("j");
  TXJ_REQUIRE_OK(Workload(dir, test::SmallOptions()));
  const auto files = FilesUnder(dir);
  REQUIRE(files.size() >= 6);  // manifest, segments, HEAD, LOCK, catalog, snapshot
  for (const auto& f : files) {
    INFO(f);
    CHECK((ModeOf(f) & 077) == 0);
  }
  CHECK((ModeOf(dir) & 077) == 0);

  const std::string shared = d.sub("shared");
  Options o = test::SmallOptions();
  o.file_mode = 0640;
  const mode_t old_mask = ::umask(0);
  TXJ_REQUIRE_OK(Workload(shared, o));
  ::umask(old_mask);
  for (const auto& f : FilesUnder(shared)) {
    INFO(f);
    if (f.find("/catalog/") != std::string::npos) continue;  // LMDB's own files: the mode is passed, LMDB may narrow it
    CHECK(ModeOf(f) == 0640);
  }
}

TEST_CASE("a symbolic link planted in the journal directory never leads a write out of it") {
  struct Plant {
    const char* name;  // in the journal directory
    bool dir;          // the target outside is a directory
  };
  // Names a writer creates or rewrites: the manifest and its temporary, the
  // next segments and their temporaries, the HEAD and LOCK files, the
  // catalog directory and LMDB's files in it, the snapshot directory.
  const Plant plants[] = {
      {"JOURNAL.tmp", false},
      {"0000000000010000.seg.tmp", false},
      {"0000000000010000.seg", false},
      {"0000000000020000.seg.tmp", false},
      {"HEAD", false},
      {"LOCK", false},
      {"catalog", true},
      {"catalog/data.mdb", false},
      {"catalog/lock.mdb", false},
      {"snapshots", true},
  };
  for (const Plant& p : plants) {
    INFO("planted: ", p.name);
    TempDir d;
    const std::string dir = d.sub("j");
    const std::string outside = d.sub("outside");
    fs::create_directories(outside);
    const std::string target = outside + (p.dir ? "/dir" : "/file");
    if (p.dir) {
      fs::create_directories(target);
    } else {
      std::ofstream(target) << "not the journal's";
    }
    // The journal exists (a first session), then the link is planted.
    {
      auto j = test::OpenOrDie(dir, test::SmallOptions());
      TXJ_REQUIRE_OK(j->close());
    }
    const std::string link = dir + "/" + p.name;
    std::error_code ec;
    fs::remove_all(link, ec);
    fs::create_directories(fs::path(link).parent_path());
    fs::create_symlink(target, link);

    Status s = Workload(dir, test::SmallOptions());
    INFO("workload: ", s.ToString());
    MESSAGE(std::string(p.name), " planted as a link: ", s.ok() ? std::string("the workload went on without following it") : s.ToString());
    // Refusing is fine (with an error naming the link); following is not.
    if (!s.ok()) {
      CHECK(s.message().find(p.name) != std::string::npos);
    }
    if (p.dir) {
      CHECK(fs::is_empty(target));
    } else {
      CHECK(test::ReadFile(target) == "not the journal's");
    }
    CHECK(FilesUnder(outside).size() == 1 - (p.dir ? 1u : 0u));
  }
}

TEST_CASE("a symbolic link at a segment, JOURNAL, HEAD or LOCK is refused by name, not with a raw ELOOP") {
  for (const char* name : {"0000000000000000.seg", "JOURNAL", "HEAD", "LOCK"}) {
    INFO("link at: ", std::string(name));
    TempDir d;
    const std::string dir = d.sub("j");
    {
      auto j = test::OpenOrDie(dir, test::SmallOptions());
      test::CommitOne(*j, "t", "e", "x");
      TXJ_REQUIRE_OK(j->close());
    }
    // The real file moves outside; a link to it takes its place.
    const std::string file = dir + "/" + name, moved = d.sub(std::string("moved-") + name);
    fs::rename(file, moved);
    fs::create_symlink(moved, file);
    const std::string before = test::ReadFile(moved);
    Options ro = test::ReadOnlyOptions();
    for (const Options& o : {test::SmallOptions(), ro}) {
      INFO("read_only: ", o.read_only);
      auto j = Journal::open(dir, o);
      REQUIRE_FALSE(j.ok());
      const std::string what = std::string(name) + (o.read_only ? " (read-only)" : "") + ": " + j.status().ToString();
      MESSAGE(what);
      CHECK(j.status().message().find(file) != std::string::npos);
      CHECK(j.status().message().find("is a symbolic link") != std::string::npos);
      CHECK(j.status().message().find("Too many levels") == std::string::npos);
    }
    CHECK(test::ReadFile(moved) == before);
  }
}

// Answers IsSymlink for `link` itself, as a file system that holds a link
// there would; every other call goes to the default one.
class LinkAtFileSystem final : public test::ForwardingFileSystem {
 public:
  explicit LinkAtFileSystem(std::string link) : link_(std::move(link)) {}
  int IsSymlink(const std::string& path, bool* link) override {
    ++asked_;
    if (path == link_) {
      *link = true;
      return 0;
    }
    return base_->IsSymlink(path, link);
  }
  int asked() const { return asked_; }

 private:
  std::string link_;
  int asked_ = 0;
};

TEST_CASE("the symlink refusal asks the journal's FileSystem, so a file system of its own answers it") {
  TempDir d;
  const std::string dir = d.sub("j");
  {
    auto j = test::OpenOrDie(dir, test::SmallOptions());
    test::CommitOne(*j, "t", "e", "x");
    TXJ_REQUIRE_OK(j->close());
  }
  const std::string manifest = dir + "/JOURNAL";
  for (bool read_only : {false, true}) {
    INFO("read_only: ", read_only);
    Options o = read_only ? test::ReadOnlyOptions() : test::SmallOptions();
    auto lfs = std::make_shared<LinkAtFileSystem>(manifest);
    o.file_system = lfs;
    auto j = Journal::open(dir, o);
    REQUIRE_FALSE(j.ok());
    CHECK(j.status().code() == Code::kInvalidArgument);
    CHECK(j.status().message().find(manifest + " is a symbolic link") != std::string::npos);
    // The same journal opens through a file system that says no link is there.
    auto plain = std::make_shared<LinkAtFileSystem>(dir + "/elsewhere");
    o.file_system = plain;
    auto k = Journal::open(dir, o);
    TXJ_REQUIRE_OK(k.status());
    CHECK(plain->asked() > 0);
    TXJ_REQUIRE_OK((*k)->close());
  }
}

TEST_CASE("a writer running as root keeps the owner and mode of the JOURNAL file it replaces") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to give files to another user");
    return;
  }
  TempDir d;
  const std::string dir = d.sub("j");
  TXJ_REQUIRE_OK(Workload(dir, test::SmallOptions()));
  // The journal belongs to another user (nobody), JOURNAL group-readable.
  constexpr uid_t kUid = 65534;
  constexpr gid_t kGid = 65534;
  REQUIRE(::chown(dir.c_str(), kUid, kGid) == 0);
  for (const auto& f : FilesUnder(dir)) REQUIRE(::chown(f.c_str(), kUid, kGid) == 0);
  const std::string manifest = dir + "/JOURNAL";
  REQUIRE(::chmod(manifest.c_str(), 0640) == 0);
  struct stat before;
  REQUIRE(::stat(manifest.c_str(), &before) == 0);
  std::map<std::string, ino_t> segments;  // sealed segments compaction may rewrite
  for (const auto& f : FilesUnder(dir)) {
    struct stat st;
    if (f.size() > 4 && f.compare(f.size() - 4, 4, ".seg") == 0 && ::stat(f.c_str(), &st) == 0) segments[f] = st.st_ino;
  }
  // Root opens it for writing (a new epoch: JOURNAL is rewritten), writes
  // and compacts (segments are rewritten).
  TXJ_REQUIRE_OK(Workload(dir, test::SmallOptions()));
  struct stat after;
  REQUIRE(::stat(manifest.c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);  // it was replaced
  CHECK(after.st_uid == kUid);
  CHECK(after.st_gid == kGid);
  CHECK((after.st_mode & 07777) == 0640);
  int rewritten = 0;
  for (const auto& [f, ino] : segments) {
    struct stat st;
    if (::stat(f.c_str(), &st) != 0 || st.st_ino == ino) continue;
    ++rewritten;
    INFO(f);
    CHECK(st.st_uid == kUid);
    CHECK((st.st_mode & 07777) == 0600);
  }
  MESSAGE(rewritten, " segments rewritten by compaction kept their owner");
}
