// Files truncated by someone else under the journal's mappings (see
// lib/util/mapping_guard.h): a reader, the writer and the walk report the
// truncation as an error naming the file; the process is not killed by
// SIGBUS.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"

using namespace txj;
using txj::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Commits `txns` transactions of `per` events of `bytes` bytes each.
void Fill(Journal& j, int txns, int per, std::size_t bytes) {
  for (int t = 0; t < txns; ++t) {
    auto tx = test::RequireOk(j.begin());
    for (int e = 0; e < per; ++e) {
      TXJ_REQUIRE_OK(tx->append("t", "e" + std::to_string(t), std::string(bytes, static_cast<char>('a' + t % 26))));
    }
    TXJ_REQUIRE_OK(tx->commit());
  }
}

// A closed journal in `dir` of 60 transactions of four 1000-byte events
// (about 240 KiB: four or five segments); its segment files.
std::vector<std::string> FilledJournal(const std::string& dir) {
  {
    auto j = test::OpenOrDie(dir, test::SmallOptions());
    Fill(*j, 60, 4, 1000);
    TXJ_REQUIRE_OK(j->close());
  }
  auto segs = SegmentFiles(dir);
  REQUIRE(segs.size() >= 3);
  return segs;
}

std::atomic<int> g_user_sigbus{0};

void UserSigbus(int, siginfo_t* info, void*) {
  // What a program's own handler might do: note it, and make the access
  // succeed so the test can go on.
  g_user_sigbus.fetch_add(1);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  void* at = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(info->si_addr) & ~(page - 1));
  ::mmap(at, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

// Makes UserSigbus the process's SIGBUS handler, as a program might.
void InstallUserSigbus() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = UserSigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  REQUIRE(::sigaction(SIGBUS, &sa, nullptr) == 0);
}

}  // namespace

// Runs first in this program (doctest orders by file and line): the
// journal's handler is installed after the program's own.
TEST_CASE("a SIGBUS outside the journal's mappings still reaches the program's own handler") {
  InstallUserSigbus();

  TempDir d;
  {
    // Opening a journal installs the journal's handler on top.
    auto j = test::OpenOrDie(d.sub("j"), test::SmallOptions());
    Fill(*j, 1, 1, 10);
    // A mapping of the program's own, truncated under it.
    const std::string path = d.sub("own-file");
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 8192) == 0);
    void* p = ::mmap(nullptr, 8192, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(p != MAP_FAILED);
    REQUIRE(::ftruncate(fd, 0) == 0);
    volatile char c = static_cast<const char*>(p)[4096];
    (void)c;
    CHECK(g_user_sigbus.load() == 1);
    ::munmap(p, 8192);
    ::close(fd);
    TXJ_CHECK_OK(j->close());
  }
}

TEST_CASE("a handler the program installs after opening a journal does not leave later mappings unguarded") {
  TempDir d;
  auto a = test::OpenOrDie(d.sub("a"), test::SmallOptions());
  // The program replaces the journal's handler with its own.
  InstallUserSigbus();
  // The next mapping puts the journal's handler back on top of it.
  auto b = test::OpenOrDie(d.sub("b"), test::SmallOptions());
  struct sigaction cur;
  REQUIRE(::sigaction(SIGBUS, nullptr, &cur) == 0);
  const bool journal_on_top = cur.sa_sigaction != UserSigbus;
  CHECK(journal_on_top);
  TXJ_CHECK_OK(b->close());
  TXJ_CHECK_OK(a->close());
}

TEST_CASE("a segment truncated under a reading cursor is reported as corruption naming the file, not a SIGBUS") {
  TempDir d;
  const std::string dir = d.sub("j");
  const auto segs = FilledJournal(dir);
  Options ro = test::ReadOnlyOptions();
  auto j = test::RequireOk(Journal::open(dir, ro));
  auto c = test::RequireOk((*j)->open_cursor(0, Filter::all()));
  // Read the first event, then cut the second segment to its header page.
  auto first = test::RequireOk(c->next());
  REQUIRE(first->has_value());
  REQUIRE(::truncate(segs[1].c_str(), 4096) == 0);
  std::uint64_t read = 1;
  // The journal holds more than the first segment: an error comes first.
  const Status error = test::FirstReadError(*c, [&](const Event& e) {
    // Every event handed out is intact (none is read from the zeros).
    CHECK(e.payload == std::string(1000, static_cast<char>('a' + e.offset / 4 % 26)));
    ++read;
  });
  INFO(error.ToString());
  CHECK(error.code() == Code::kCorruption);
  CHECK(error.message().find(segs[1]) != std::string::npos);
  CHECK(error.message().find("truncated") != std::string::npos);
  CHECK(read < 60 * 4);
  // The cursor keeps saying so.
  auto again = c->next();
  CHECK(!again.ok());
}

TEST_CASE("the active segment truncated under the writer fails the next commit and the journal closed") {
  TempDir d;
  const std::string dir = d.sub("j");
  auto j = test::OpenOrDie(dir, test::SmallOptions(Durability::kCommit));
  Fill(*j, 3, 2, 100);
  // The segment being written (the background thread may have prepared the
  // next one already: that is not it).
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.seg",
                static_cast<unsigned long long>(j->visible_lsn() / (64 * 1024) * (64 * 1024)));
  const std::vector<std::string> segs = {dir + "/" + name};
  REQUIRE(fs::exists(segs.back()));
  REQUIRE(::truncate(segs.back().c_str(), 4096) == 0);
  // The records go to pages past the file's new end.
  auto tx = test::RequireOk(j->begin());
  Status s = tx->append("t", "after", std::string(3000, 'x'));
  if (s.ok()) s = tx->commit().status();
  INFO(s.ToString());
  REQUIRE(!s.ok());
  CHECK(s.message().find(segs.back()) != std::string::npos);
  CHECK(s.message().find("truncated") != std::string::npos);
  // Failed closed: nothing more is accepted.
  auto next = j->begin();
  if (next.ok()) {
    Status a = next->append("t", "more", "x");
    if (a.ok()) a = next->commit().status();
    CHECK(!a.ok());
  }
  (void)j->close();
  // The truncated file is refused on open, naming it: the journal does not
  // silently start over without the commits the file held.
  auto reopened = Journal::open(dir, test::SmallOptions(Durability::kCommit));
  REQUIRE(!reopened.ok());
  CHECK(reopened.status().code() == Code::kCorruption);
  CHECK(reopened.status().message().find(segs.back()) != std::string::npos);
}

TEST_CASE("a segment truncated while the walk reads the journal is a problem naming the file") {
  TempDir d;
  const std::string dir = d.sub("j");
  const auto segs = FilledJournal(dir);
  bool cut = false;
  auto report = WalkJournal(dir, [&](const RawRecord&) {
    if (!cut) {
      cut = true;
      REQUIRE(::truncate(segs[2].c_str(), 4096) == 0);
    }
  });
  TXJ_REQUIRE_OK(report);
  REQUIRE(report->damaged());
  const auto& p = report->problems.front();
  INFO(p.message);
  CHECK(p.file == segs[2]);
  CHECK(p.message.find("truncated") != std::string::npos);
}

TEST_CASE("an event handed out before its segment is truncated reads zeros as a view but whole as an owned copy") {
  TempDir d;
  const std::string dir = d.sub("j");
  const auto segs = FilledJournal(dir);
  Options ro = test::ReadOnlyOptions();
  auto j = test::OpenOrDie(dir, ro);
  auto c = test::RequireOk(j->open_cursor(0, Filter::all()));
  auto e = test::RequireOk(c->next());
  REQUIRE(e->has_value());
  const Event view = **e;
  const OwnedEvent copy = view.to_owned();
  const std::string want(1000, 'a');
  REQUIRE(view.payload == want);
  REQUIRE(::truncate(segs[0].c_str(), 4096) == 0);
  // What event.h promises: the view shows the file as it is now (zeros),
  // the copy keeps the bytes.
  CHECK(view.payload == std::string(1000, '\0'));
  CHECK(copy.payload == want);
  CHECK(copy.view().payload == want);
  CHECK(copy.topic == "t");
  CHECK(copy.offset == 0);
  auto next = c->next();
  REQUIRE(!next.ok());
  CHECK(next.status().code() == Code::kCorruption);
}
