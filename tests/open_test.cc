// Opening and creating a journal: descriptors 0-2, the catalog that holds
// data the journal cannot rebuild, option checks, a second writer in the
// same process, and creation that is all or nothing.
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fault_fs.h"
#include "manifest.h"
#include "test_util.h"
#include "txjournal/eventbox.h"
#include "txjournal/journal.h"
#include "txjournal/offset_store.h"

using namespace txj;
using txj::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under `dir` with its content, LMDB's lock file left out (LMDB
// rewrites its reader table whenever an environment is opened).
std::map<std::string, std::string> Contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename() == "lock.mdb") continue;
    out[e.path().string()] = ReadAll(e.path().string());
  }
  return out;
}

std::uint64_t CountEvents(Journal& j) {
  auto c = j.open_cursor(0);
  REQUIRE(c.ok());
  std::uint64_t n = 0;
  for (;;) {
    auto e = c->next();
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    ++n;
  }
  return n;
}

void Commit(Journal& j, const std::string& payload) {
  test::CommitOne(j, "t", "e", payload);
}

// A journal whose catalog holds consumer "c" at offset 3.
void MakePreciousJournal(const std::string& dir) {
  auto j = test::OpenOrDie(dir, test::SmallOptions());
  for (int i = 0; i < 5; ++i) Commit(*j, "e" + std::to_string(i));
  auto store = test::RequireOk(OffsetStore::open(*j));
  TXJ_REQUIRE_OK((*store)->save("c", 3));
  TXJ_REQUIRE_OK(j->close());
}

// Makes `path` a new, empty LMDB environment (as LMDB makes one when its
// data.mdb is gone).
void MakeEmptyLmdbEnv(const std::string& path) {
  fs::create_directories(path);
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_open(env, path.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

// Runs `body` in a child process started as a daemon may be, with
// descriptors 0, 1 and 2 closed; the child exits with what `body` returns
// (or calls _exit itself). Returns the child's exit status.
int InDaemonChild(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(0);
    ::close(1);
    ::close(2);
    ::_exit(body());
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("a journal opened with stdin, stdout and stderr closed keeps every commit when the program prints") {
  TempDir d;
  const std::string dir = d.sub("j");
  constexpr int kCommits = 20;
  // The child: a daemon started with 0, 1 and 2 closed.
  const int exit_code = InDaemonChild([&] {
    int code = 0;
    {
      auto j = Journal::open(dir, test::SmallOptions(Durability::kCommit));
      if (!j.ok()) ::_exit(10);
      for (int i = 0; i < kCommits; ++i) {
        auto tx = (*j)->begin();
        if (!tx.ok() || !tx->append("t", "e", "event " + std::to_string(i)).ok() || !tx->commit().ok()) ::_exit(11);
      }
      // No descriptor below 3 may be one of the journal's files.
      for (int fd = 0; fd <= 2; ++fd) {
        char buf[4096];
        const std::string link = "/proc/self/fd/" + std::to_string(fd);
        ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
        if (n > 0 && std::string(buf, static_cast<std::size_t>(n)).find(dir) != std::string::npos) code = 12;
      }
      // What a program prints, while the journal is open.
      for (int i = 0; i < 3; ++i) {
        static const char msg[] = "a line the program prints to stdout or stderr\n";
        (void)!::write(1, msg, sizeof msg - 1);
        (void)!::write(2, msg, sizeof msg - 1);
        std::fprintf(stderr, "stderr line %d\n", i);
        std::printf("stdout line %d\n", i);
        std::fflush(nullptr);
      }
      if (!(*j)->close().ok()) ::_exit(13);
    }
    return code;
  });
  CHECK(exit_code == 0);
  auto j = test::RequireOk(Journal::open(dir, test::SmallOptions()));
  CHECK(CountEvents(**j) == kCommits);
  auto c = (*j)->open_cursor(0);
  REQUIRE(c.ok());
  for (int i = 0; i < kCommits; ++i) {
    auto e = c->next();
    REQUIRE(e.ok());
    REQUIRE(e->has_value());
    CHECK((**e).payload == "event " + std::to_string(i));
  }
}

TEST_CASE("the default file system never returns a descriptor below 3, also when 0-2 are closed") {
  TempDir d;
  const int exit_code = InDaemonChild([&] {
    int code = 0;
    std::vector<int> fds;
    for (int i = 0; i < 4; ++i) {
      int fd = -1;
      if (DefaultFileSystem()->Open(d.sub("f" + std::to_string(i)), O_RDWR | O_CREAT, 0600, &fd) != 0) ::_exit(20);
      if (fd < 3) code = 21;
      fds.push_back(fd);
    }
    // Nothing was left open below 3 by the move either.
    for (int fd = 0; fd <= 2; ++fd) {
      if (::fcntl(fd, F_GETFD) != -1) code = 22;
    }
    return code;
  });
  CHECK(exit_code == 0);
}

TEST_CASE("a catalog emptied, truncated, replaced or swapped while it held consumer offsets is refused, files unchanged") {
  struct Damage {
    const char* name;
    void (*apply)(const std::string& dir, const std::string& other);
  };
  const Damage damages[] = {
      {"data.mdb deleted", [](const std::string& dir, const std::string&) { fs::remove(dir + "/catalog/data.mdb"); }},
      {"data.mdb truncated to 0",
       [](const std::string& dir, const std::string&) { fs::resize_file(dir + "/catalog/data.mdb", 0); }},
      {"catalog replaced by a new empty LMDB environment",
       [](const std::string& dir, const std::string&) {
         fs::remove_all(dir + "/catalog");
         MakeEmptyLmdbEnv(dir + "/catalog");
       }},
      {"catalog replaced by another journal's",
       [](const std::string& dir, const std::string& other) {
         fs::remove_all(dir + "/catalog");
         fs::create_directories(dir + "/catalog");
         fs::copy_file(other + "/catalog/data.mdb", dir + "/catalog/data.mdb");
       }},
  };
  for (const Damage& dm : damages) {
    INFO("damage: ", std::string(dm.name));
    TempDir d;
    const std::string dir = d.sub("j"), other = d.sub("other");
    MakePreciousJournal(dir);
    MakePreciousJournal(other);
    {
      // Before the damage: reopened, the offset is there.
      auto j = test::OpenOrDie(dir, test::SmallOptions());
      auto store = test::RequireOk(OffsetStore::open(*j));
      CHECK(*(*store)->load("c") == 3);
    }
    dm.apply(dir, other);
    const auto before = Contents(dir);

    auto w = Journal::open(dir, test::SmallOptions());
    REQUIRE_FALSE(w.ok());
    MESSAGE(std::string(dm.name), ": ", w.status().ToString());
    CHECK(w.status().code() == Code::kCorruption);
    CHECK(w.status().message().find(dir + "/catalog") != std::string::npos);
    CHECK(w.status().message().find("rebuild_catalog") != std::string::npos);
    CHECK(Contents(dir) == before);

    Options ro = test::ReadOnlyOptions();
    auto r = Journal::open(dir, ro);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(r.status().message().find(dir + "/catalog") != std::string::npos);
    CHECK(Contents(dir) == before);

    // Starting over is deliberate, and then it sticks.
    Options o = test::SmallOptions();
    o.rebuild_catalog = true;
    {
      auto j = test::OpenOrDie(dir, o);
      CHECK(j->recovery_report().catalog_rebuilt);
      CHECK(j->next_offset() == 5);
      auto store = test::RequireOk(OffsetStore::open(*j));
      CHECK(*(*store)->load("c") == 0);
      TXJ_REQUIRE_OK((*store)->save("c", 4));
    }
    {
      auto j = test::OpenOrDie(dir, test::SmallOptions());
      auto store = test::RequireOk(OffsetStore::open(*j));
      CHECK(*(*store)->load("c") == 4);
    }
    TXJ_CHECK_OK(Journal::open(dir, ro));
  }
}

TEST_CASE("a deleted catalog that held eventbox state is refused like one that held consumer offsets") {
  TempDir d;
  const std::string dir = d.sub("j");
  {
    auto j = test::OpenOrDie(dir, test::SmallOptions());
    auto box = test::RequireOk(Eventbox::open(*j));
    TXJ_REQUIRE_OK(j->close());
  }
  fs::remove(dir + "/catalog/data.mdb");
  auto w = Journal::open(dir, test::SmallOptions());
  CHECK(w.status().code() == Code::kCorruption);
  CHECK(w.status().message().find(dir + "/catalog") != std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/catalog/data.mdb"));
}

TEST_CASE("option values that mean nothing are refused, naming the option, before anything is created") {
  struct Bad {
    const char* option;
    void (*set)(Options&);
  };
  const Bad bads[] = {
      {"sync_interval", [](Options& o) { o.sync_interval = std::chrono::milliseconds(0); }},
      {"sync_interval",
       [](Options& o) {
         o.durability = Durability::kPeriodic;
         o.sync_interval = std::chrono::milliseconds(-5);
       }},
      {"durability", [](Options& o) { o.durability = static_cast<Durability>(7); }},
      {"file_mode", [](Options& o) { o.file_mode = 0; }},
      {"file_mode", [](Options& o) { o.file_mode = 0400; }},
      {"file_mode", [](Options& o) { o.file_mode = 04600; }},
      {"poll_interval", [](Options& o) { o.poll_interval = std::chrono::milliseconds(0); }},
      {"segment_size", [](Options& o) { o.segment_size = 1000; }},
      {"schema", [](Options& o) { o.schema[""] = {}; }},
      {"schema", [](Options& o) { o.schema["t"] = {"bad\ntype"}; }},
  };
  for (const Bad& b : bads) {
    INFO("option: ", std::string(b.option));
    TempDir d;
    Options o = test::SmallOptions();
    b.set(o);
    auto j = Journal::open(d.sub("j"), o);
    REQUIRE_FALSE(j.ok());
    CHECK(j.status().code() == Code::kInvalidArgument);
    CHECK(j.status().message().find(std::string("Options::") + b.option) != std::string::npos);
    CHECK_FALSE(fs::exists(d.sub("j")));
  }
  // Read-only opens check what readers use.
  TempDir d;
  test::OpenOrDie(d.sub("j"), test::SmallOptions());
  Options ro = test::ReadOnlyOptions();
  ro.poll_interval = std::chrono::milliseconds(-1);
  CHECK(Journal::open(d.sub("j"), ro).status().code() == Code::kInvalidArgument);
}

TEST_CASE("a second writable open in the same process says that this process already has the journal open") {
  TempDir d;
  auto first = test::OpenOrDie(d.path(), test::SmallOptions());
  auto second = Journal::open(d.path(), test::SmallOptions());
  REQUIRE_FALSE(second.ok());
  MESSAGE(second.status().ToString());
  CHECK(second.status().code() == Code::kBusy);
  CHECK(second.status().message().find("this process") != std::string::npos);
  CHECK(second.status().message().find("another process") == std::string::npos);
  TXJ_REQUIRE_OK(first->close());
  // Once closed, it opens again.
  TXJ_CHECK_OK(Journal::open(d.path(), test::SmallOptions()));
}

TEST_CASE("a create that fails at any file-system call leaves nothing, so a retry creates it with its own options") {
  // The calls a clean create makes, by kind.
  std::array<std::uint64_t, test::kFsOpCount> counts{};
  {
    TempDir d;
    auto ffs = std::make_shared<test::FaultFileSystem>();
    Options o = test::SmallOptions();
    o.file_system = ffs;
    auto j = test::RequireOk(Journal::open(d.sub("j"), o));
    counts = ffs->Counts();
  }
  int failed_creates = 0;
  for (test::FsOp op : test::AllFsOps()) {
    for (std::uint64_t n = 1; n <= counts[static_cast<std::size_t>(op)]; ++n) {
      INFO("failing call ", n, " of ", test::FsOpName(op));
      TempDir d;
      const std::string dir = d.sub("j");
      auto ffs = std::make_shared<test::FaultFileSystem>();
      ffs->Arm(op, n, EIO);
      Options o = test::SmallOptions();
      o.file_system = ffs;
      bool created_first;
      {
        auto j = Journal::open(dir, o);
        created_first = j.ok();
      }
      if (!created_first) ++failed_creates;
      // The retry, with another segment size and no fault.
      Options retry = test::SmallOptions();
      retry.segment_size = 128 * 1024;
      {
        auto j = test::RequireOk(Journal::open(dir, retry));
        Commit(**j, "after the retry");
        TXJ_REQUIRE_OK((*j)->close());
      }
      internal::ManifestData m;
      TXJ_REQUIRE_OK(internal::ReadManifest(*DefaultFileSystem(), dir, &m));
      CHECK(m.segment_size == (created_first ? 64u * 1024 : 128u * 1024));
      CHECK(fs::file_size(dir + "/0000000000000000.seg") == m.segment_size);
      Options ro = test::ReadOnlyOptions();
      auto r = test::RequireOk(Journal::open(dir, ro));
      CHECK(CountEvents(**r) == 1);
    }
  }
  MESSAGE(failed_creates, " creates failed at an injected fault; each retry got its own segment size");
  CHECK(failed_creates > 5);
}

TEST_CASE("a create that fails in a directory the journal made removes the directory too") {
  TempDir d;
  const std::string dir = d.sub("j");
  auto ffs = std::make_shared<test::FaultFileSystem>();
  ffs->Arm(test::FsOp::kAllocate, 1, ENOSPC);  // the first segment's space
  Options o = test::SmallOptions();
  o.file_system = ffs;
  auto j = Journal::open(dir, o);
  REQUIRE_FALSE(j.ok());
  CHECK(j.status().code() == Code::kNoSpace);
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("a manifest without any segment (an interrupted create) is finished by the next writable open") {
  TempDir d;
  const std::string dir = d.sub("j");
  {
    auto j = test::OpenOrDie(dir, test::SmallOptions());
    TXJ_REQUIRE_OK(j->close());
  }
  // What a crash between the manifest and the first segment leaves (the
  // background thread may have prepared the next segment too: remove every
  // segment).
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") fs::remove(e.path());
  }
  fs::remove(dir + "/HEAD");
  fs::remove_all(dir + "/catalog");
  Options ro = test::ReadOnlyOptions();
  auto r = Journal::open(dir, ro);
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(r.status().message().find("never completely created") != std::string::npos);
  Options o = test::SmallOptions();
  o.segment_size = 256 * 1024;
  {
    auto j = test::OpenOrDie(dir, o);
    CHECK(j->recovery_report().created);
    Commit(*j, "x");
  }
  CHECK(fs::file_size(dir + "/0000000000000000.seg") == 256 * 1024);
}

TEST_CASE("a catalog made precious by a build from before the marker still opens with its offsets") {
  // Builds before the content check wrote the journal id but no marker; a
  // catalog that holds user tables (offsets, sessions, eventbox state) and
  // this journal's id is that catalog, not an empty or foreign one.
  TempDir d;
  const std::string dir = d.sub("j");
  MakePreciousJournal(dir);
  {
    // Remove the marker as an older build would have left it.
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 256);
    mdb_env_set_mapsize(env, std::size_t{1} << 32);
    REQUIRE(mdb_env_open(env, (dir + "/catalog").c_str(), 0, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi meta;
    REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    const char* key = "holds_source_data";
    MDB_val k{std::strlen(key), const_cast<char*>(key)};
    REQUIRE(mdb_del(txn, meta, &k, nullptr) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  for (const bool read_only : {false, true}) {
    INFO((read_only ? "read-only" : "writable"));
    Options o = test::SmallOptions();
    o.read_only = read_only;
    auto j = test::OpenOrDie(dir, o);
    CHECK_FALSE(j->recovery_report().catalog_rebuilt);
    if (!read_only) {
      auto store = test::RequireOk(OffsetStore::open(*j));
      CHECK(*(*store)->load("c") == 3);
    }
  }
}

TEST_CASE("a manifest whose start lies past every segment is refused, and no segment is removed") {
  TempDir dir;
  const std::string jdir = dir.sub("j");
  {
    auto j = test::OpenOrDie(jdir, test::SmallOptions());
    for (int i = 0; i < 3; ++i) {
      test::CommitOne(*j, "t", "x", std::string(30000, 'a' + i));
    }
    TXJ_REQUIRE_OK(j->close());
  }
  auto fs = DefaultFileSystem();
  internal::ManifestData m;
  TXJ_REQUIRE_OK(internal::ReadManifest(*fs, jdir, &m));
  m.first_lsn = 64ull << 30;  // far past every segment
  TXJ_REQUIRE_OK(internal::WriteManifest(*fs, jdir, m, 0644));
  auto segments = [&] {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(jdir)) {
      if (e.path().extension() == ".seg") out[e.path().string()] = ReadAll(e.path().string());
    }
    return out;
  };
  const auto before = segments();
  REQUIRE(before.size() >= 2);
  for (bool read_only : {false, true}) {
    INFO("read_only ", read_only);
    Options o = test::SmallOptions();
    o.read_only = read_only;
    auto j = Journal::open(jdir, o);
    REQUIRE(!j.ok());
    CHECK(j.status().code() == Code::kCorruption);
    CHECK(j.status().message().find("JOURNAL") != std::string::npos);
    CHECK(j.status().message().find("every segment ends before it") != std::string::npos);
    CHECK(segments() == before);
  }
}

TEST_CASE("a manifest restored from an older copy does not make the next session's commits read as stale") {
  TempDir dir;
  const std::string jdir = dir.sub("j");
  auto fs = DefaultFileSystem();
  internal::ManifestData old;
  auto commit = [&](Journal& j, const std::string& p) {
    test::CommitOne(j, "t", "x", p);
  };
  {
    auto j = test::OpenOrDie(jdir, test::SmallOptions(Durability::kCommit));
    commit(*j, "a");
    TXJ_REQUIRE_OK(j->close());
  }
  TXJ_REQUIRE_OK(internal::ReadManifest(*fs, jdir, &old));  // the "backup"
  for (int session = 0; session < 3; ++session) {
    auto j = test::OpenOrDie(jdir, test::SmallOptions(Durability::kCommit));
    commit(*j, "b" + std::to_string(session));
    TXJ_REQUIRE_OK(j->close());
  }
  TXJ_REQUIRE_OK(internal::WriteManifest(*fs, jdir, old, 0644));  // restored: its epoch is behind the records'
  {
    auto j = test::OpenOrDie(jdir, test::SmallOptions(Durability::kCommit));
    bool noted = false;
    for (const auto& n : j->recovery_report().notes) noted |= n.find("restored from an older copy") != std::string::npos;
    CHECK(noted);
    commit(*j, "after restore");
    TXJ_REQUIRE_OK(j->close());
  }
  auto j = test::OpenOrDie(jdir, test::SmallOptions(Durability::kCommit));
  CHECK(j->recovery_report().repairs.empty());
  CHECK(CountEvents(*j) == 5);
}
