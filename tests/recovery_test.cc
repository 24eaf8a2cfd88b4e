// Opening a journal: clean reopen, crash recovery (killed writers, torn and
// zeroed tails), damage that a crash cannot explain, the manifest, the
// catalog, the writer lock and read-only opens.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ack_rule_fs.h"
#include "checksum.h"
#include "fault_fs.h"
#include "format.h"
#include "journal_state.h"
#include "segment.h"
#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/version.h"
#include "txjournal/walk.h"

using namespace txj;
using txj::test::ReadFile;
using txj::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kSeg = 64 * 1024;

std::string SegPath(const std::string& dir, std::uint64_t lsn) {
  return dir + "/" + internal::SegmentFileName(lsn / kSeg * kSeg);
}

void WriteAt(const std::string& path, std::uint64_t offset, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

void FlipBit(const std::string& path, std::uint64_t offset) {
  std::string b = ReadFile(path).substr(offset, 1);
  b[0] = static_cast<char>(b[0] ^ 0x10);
  WriteAt(path, offset, b);
}

// Segment files and the manifest, by name: what a failed open must leave
// exactly as it found it.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    std::uint64_t base;
    if (name == format::kManifestName || internal::ParseSegmentFileName(name, &base)) {
      out[name] = ReadFile(e.path().string());
    }
  }
  return out;
}

std::vector<std::string> Payloads(Journal& j, std::uint64_t from = 0) {
  std::vector<std::string> out;
  for (auto& e : test::ReadAllEvents(j, from)) {
    CHECK(e.offset == from + out.size());
    out.push_back(std::move(e.payload));
  }
  return out;
}

// Runs `fn` in a child process. The child ends with _exit(code) on failure;
// returns the raw wait status.
template <typename F>
int InChild(F&& fn) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    fn();
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

bool KilledBySigkill(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

// Child-side helpers: fail with a distinct exit code.
#define CHILD_OK(expr, code) \
  do {                       \
    if (!(expr).ok()) ::_exit(code); \
  } while (0)

// Commits `n` transactions of `per` events each with payloads "c<t>-<i>".
void ChildCommit(Journal& j, int first, int n, int per) {
  for (int t = first; t < first + n; ++t) {
    auto tx = j.begin();
    CHILD_OK(tx, 10);
    for (int i = 0; i < per; ++i) CHILD_OK(tx->append("t", "x", "c" + std::to_string(t) + "-" + std::to_string(i)), 11);
    CHILD_OK(tx->commit(), 12);
  }
}

std::vector<std::string> Expected(int n, int per) {
  std::vector<std::string> out;
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < per; ++i) out.push_back("c" + std::to_string(t) + "-" + std::to_string(i));
  }
  return out;
}

Options Opts(Durability d = Durability::kNone) { return test::SmallOptions(d); }

Options ReadOnly() {
  Options o = Opts();
  o.read_only = true;
  return o;
}

// Builds a journal of `segments` full segments or more and closes it.
std::uint64_t FillSegments(const std::string& dir, int segments, Durability d = Durability::kNone) {
  auto j = test::OpenOrDie(dir, Opts(d));
  std::uint64_t n = 0;
  while (j->visible_lsn() < static_cast<std::uint64_t>(segments) * kSeg + 2 * format::kSegmentHeaderSize) {
    auto tx = j->begin();
    REQUIRE(tx.ok());
    for (int i = 0; i < 8; ++i) {
      REQUIRE(tx->append("fill", "x", std::string(900, static_cast<char>('a' + n % 26))).ok());
      ++n;
    }
    REQUIRE(tx->commit().ok());
  }
  REQUIRE(j->close().ok());
  return n;
}

void ExpectCorruptionNaming(const Status& s, const std::string& what) {
  INFO(s.ToString());
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message().find(what) != std::string::npos);
}

}  // namespace

// ---------------------------------------------------------------------------
// Clean reopen

TEST_CASE("reopening after a clean close repairs nothing and continues offsets and transaction ids") {
  TempDir dir;
  {
    auto j = test::OpenOrDie(dir.path(), Opts());
    CHECK(j->recovery_report().created);
    for (int t = 0; t < 5; ++t) {
      auto tx = test::RequireOk(j->begin());
      TXJ_REQUIRE_OK(tx->append("t", "x", "p" + std::to_string(t)));
      test::CommitOrRollBack(*tx, t == 2);
    }
    TXJ_REQUIRE_OK(j->close());
    TXJ_REQUIRE_OK(j->close());  // idempotent
  }
  auto j = test::OpenOrDie(dir.path(), Opts());
  const RecoveryReport& r = j->recovery_report();
  INFO(r.ToString());
  CHECK_FALSE(r.created);
  CHECK(r.repairs.empty());
  CHECK(r.next_offset == 4);
  CHECK(r.next_txn_id == 6);
  CHECK(r.scanned_bytes == 0);
  CHECK(Payloads(*j) == std::vector<std::string>{"p0", "p1", "p3", "p4"});
  auto tx = test::RequireOk(j->begin());
  CHECK(tx->id() == 6);
  TXJ_REQUIRE_OK(tx->append("t", "x", "p5"));
  auto info = test::RequireOk(tx->commit());
  CHECK(info->first_offset == 4);
}

TEST_CASE("opening a missing journal without create_if_missing is not-found, error_if_exists refuses an existing one") {
  TempDir dir;
  Options o = Opts();
  o.create_if_missing = false;
  CHECK(Journal::open(dir.sub("nope"), o).status().code() == Code::kNotFound);
  CHECK(Journal::open(dir.sub("nope"), ReadOnly()).status().code() == Code::kNotFound);
  CHECK_FALSE(fs::exists(dir.sub("nope")));
  { auto j = test::OpenOrDie(dir.sub("j"), Opts()); }
  Options e = Opts();
  e.error_if_exists = true;
  CHECK(Journal::open(dir.sub("j"), e).status().code() == Code::kInvalidArgument);
  Options bad = Opts();
  bad.segment_size = 1000;
  CHECK(Journal::open(dir.sub("k"), bad).status().code() == Code::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Killed writers

namespace {

enum class KillPoint { kMidTransaction, kBetweenSubMarkers, kMidTransactionAcrossSegments, kAfterCommit };

const char* Name(KillPoint p) {
  switch (p) {
    case KillPoint::kMidTransaction: return "mid-transaction";
    case KillPoint::kBetweenSubMarkers: return "between sub-transaction markers";
    case KillPoint::kMidTransactionAcrossSegments: return "mid-transaction across segments";
    case KillPoint::kAfterCommit: return "after commit, before close";
  }
  return "?";
}

}  // namespace

TEST_CASE("a writer killed at any point: committed transactions survive, an open one is rolled back durably") {
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    for (KillPoint p : {KillPoint::kMidTransaction, KillPoint::kBetweenSubMarkers,
                        KillPoint::kMidTransactionAcrossSegments, KillPoint::kAfterCommit}) {
      INFO("kill point: ", Name(p), ", durability ", static_cast<int>(d));
      TempDir dir;
      const int status = InChild([&] {
        auto j = Journal::open(dir.path(), Opts(d));
        CHILD_OK(j, 3);
        ChildCommit(**j, 0, 3, 4);
        auto tx = (*j)->begin();
        CHILD_OK(tx, 4);
        CHILD_OK(tx->append("t", "x", "open-0"), 5);
        switch (p) {
          case KillPoint::kMidTransaction:
            break;
          case KillPoint::kBetweenSubMarkers: {
            auto sub = tx->begin();
            CHILD_OK(sub, 6);
            CHILD_OK(sub->append("t", "x", "open-sub"), 6);
            CHILD_OK(sub->commit(), 6);
            auto sub2 = tx->begin();
            CHILD_OK(sub2, 7);
            auto sub3 = sub2->begin();
            CHILD_OK(sub3, 7);
            CHILD_OK(sub3->append("t", "x", "open-sub3"), 7);
            ::raise(SIGKILL);
            break;
          }
          case KillPoint::kMidTransactionAcrossSegments:
            for (int i = 0; i < 200; ++i) CHILD_OK(tx->append("t", "x", std::string(1000, 'o')), 8);
            break;
          case KillPoint::kAfterCommit:
            CHILD_OK(tx->commit(), 9);
            break;
        }
        ::raise(SIGKILL);
      });
      REQUIRE(KilledBySigkill(status));
      std::vector<std::string> want = Expected(3, 4);
      if (p == KillPoint::kAfterCommit) want.push_back("open-0");
      {
        // A read-only open first: it reports and repairs nothing.
        const auto before = Snapshot(dir.path());
        auto ro = test::OpenOrDie(dir.path(), ReadOnly());
        CHECK(Payloads(*ro) == want);
        CHECK(Snapshot(dir.path()) == before);
      }
      auto j = test::OpenOrDie(dir.path(), Opts(d));
      const RecoveryReport& r = j->recovery_report();
      INFO(r.ToString());
      if (p == KillPoint::kAfterCommit) {
        CHECK(r.repairs.empty());
      } else {
        REQUIRE(r.repairs.size() == 1);
        CHECK(r.repairs[0].reason.find("rolled back") != std::string::npos);
        CHECK(r.repairs[0].file == SegPath(dir.path(), r.repairs[0].lsn));
        CHECK(r.repairs[0].file_offset == r.repairs[0].lsn % kSeg);
        CHECK(r.repairs[0].file_offset >= format::kSegmentHeaderSize);
        if (p == KillPoint::kMidTransactionAcrossSegments) CHECK(r.repairs[0].lsn > 2 * kSeg);
      }
      CHECK(r.next_offset == want.size());
      CHECK(r.next_txn_id == 5);
      CHECK(Payloads(*j) == want);
      // New writes continue with dense offsets and the next transaction id.
      auto tx = test::RequireOk(j->begin());
      CHECK(tx->id() == 5);
      TXJ_REQUIRE_OK(tx->append("t", "x", "new"));
      auto info = test::RequireOk(tx->commit());
      CHECK(info->first_offset == want.size());
      want.push_back("new");
      j.reset();
      // The rollback marker was written: nothing left to repair.
      auto again = test::OpenOrDie(dir.path(), Opts(d));
      INFO(again->recovery_report().ToString());
      CHECK(again->recovery_report().repairs.empty());
      CHECK(Payloads(*again) == want);
    }
  }
}

TEST_CASE(
    "a writer killed while all of a transaction is still in its stage leaves nothing of it, and its id is never handed "
    "out again") {
  // Under kCommit every transaction is staged from its begin marker; under
  // kNone one is after a large one. Either way nothing of the open
  // transaction is in the file when the writer dies: the head page names
  // its id, and the next writer keeps it taken.
  for (Durability d : {Durability::kCommit, Durability::kNone}) {
    INFO("durability ", static_cast<int>(d));
    TempDir dir;
    const std::string id_file = dir.path() + ".id";
    const std::string big(20000, 'b');
    const int status = InChild([&] {
      auto j = Journal::open(dir.path(), Opts(d));
      CHILD_OK(j, 3);
      ChildCommit(**j, 0, 2, 2);
      {
        auto tx = (*j)->begin();
        CHILD_OK(tx, 4);
        CHILD_OK(tx->append("t", "x", big), 4);  // large: the next one is staged from its begin
        CHILD_OK(tx->commit(), 4);
      }
      auto tx = (*j)->begin();
      CHILD_OK(tx, 5);
      CHILD_OK(tx->append("t", "x", big), 5);
      std::FILE* f = std::fopen(id_file.c_str(), "w");
      if (f == nullptr || std::fprintf(f, "%llu", static_cast<unsigned long long>(tx->id())) <= 0) ::_exit(6);
      std::fclose(f);
      ::raise(SIGKILL);
    });
    REQUIRE(KilledBySigkill(status));
    unsigned long long lost = 0;
    {
      std::FILE* f = std::fopen(id_file.c_str(), "r");
      REQUIRE(f != nullptr);
      REQUIRE(std::fscanf(f, "%llu", &lost) == 1);
      std::fclose(f);
      std::remove(id_file.c_str());
    }
    CHECK(lost == 4);
    std::vector<std::string> want = Expected(2, 2);
    want.push_back(big);
    {
      auto j = test::OpenOrDie(dir.path(), Opts(d));
      const RecoveryReport& r = j->recovery_report();
      INFO(r.ToString());
      REQUIRE(r.repairs.size() == 1);
      CHECK(r.repairs[0].reason.find("transaction 4 left open") != std::string::npos);
      CHECK(r.repairs[0].reason.find("kept taken by a padding record") != std::string::npos);
      CHECK(r.next_txn_id == lost + 1);
      CHECK(Payloads(*j) == want);
      auto tx = test::RequireOk(j->begin());
      CHECK(tx->id() == lost + 1);
      TXJ_REQUIRE_OK(tx->append("t", "x", "after"));
      TXJ_REQUIRE_OK(tx->commit());
      want.push_back("after");
      TXJ_REQUIRE_OK(j->close());
    }
    // The padding keeps the id taken for every later open, and the journal
    // reads clean.
    auto j = test::OpenOrDie(dir.path(), Opts(d));
    CHECK(j->recovery_report().repairs.empty());
    CHECK(j->recovery_report().next_txn_id == lost + 2);
    CHECK(Payloads(*j) == want);
  }
}

TEST_CASE("a writer killed twice in a row, each time inside a transaction, loses only the open transactions") {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    const int status = InChild([&] {
      auto j = Journal::open(dir.path(), Opts());
      CHILD_OK(j, 3);
      ChildCommit(**j, round, 1, 2);
      auto tx = (*j)->begin();
      CHILD_OK(tx, 4);
      CHILD_OK(tx->append("t", "x", "lost"), 5);
      ::raise(SIGKILL);
    });
    REQUIRE(KilledBySigkill(status));
  }
  auto j = test::OpenOrDie(dir.path(), Opts());
  CHECK(Payloads(*j) == Expected(3, 2));
  CHECK(j->recovery_report().next_txn_id == 7);
}

// ---------------------------------------------------------------------------
// Torn and zeroed tails of a killed writer

namespace {

// A killed writer's journal: 3 committed transactions of 4 events; returns
// the end of valid data (from a read-only open).
std::uint64_t KilledJournal(const std::string& dir, bool leave_open_txn = false) {
  const int status = InChild([&] {
    auto j = Journal::open(dir, Opts());
    CHILD_OK(j, 3);
    ChildCommit(**j, 0, 3, 4);
    if (leave_open_txn) {
      auto tx = (*j)->begin();
      CHILD_OK(tx, 4);
      CHILD_OK(tx->append("t", "x", "open"), 5);
      ::raise(SIGKILL);
    }
    ::raise(SIGKILL);
  });
  REQUIRE(KilledBySigkill(status));
  auto ro = test::OpenOrDie(dir, ReadOnly());
  CHECK(ro->recovery_report().repairs.size() == (leave_open_txn ? 1u : 0u));
  return ro->recovery_report().end_lsn;
}

void ExpectTornTailCut(const std::string& dir, std::uint64_t end, bool open_txn = false) {
  const std::string seg = SegPath(dir, end);
  {
    auto j = test::OpenOrDie(dir, Opts());
    const RecoveryReport& r = j->recovery_report();
    INFO(r.ToString());
    REQUIRE(r.repairs.size() == (open_txn ? 2u : 1u));
    CHECK(r.repairs[0].file == seg);
    CHECK(r.repairs[0].file_offset == end % kSeg);
    CHECK(r.repairs[0].lsn == end);
    CHECK(r.repairs[0].bytes_dropped > 0);
    CHECK(r.repairs[0].reason.find("torn") != std::string::npos);
    CHECK(r.end_lsn >= end);
    CHECK(Payloads(*j) == Expected(3, 4));
    auto tx = test::RequireOk(j->begin());
    TXJ_REQUIRE_OK(tx->append("t", "x", "after"));
    auto info = test::RequireOk(tx->commit());
    CHECK(info->first_offset == 12);
  }
  auto j = test::OpenOrDie(dir, Opts());
  INFO(j->recovery_report().ToString());
  CHECK(j->recovery_report().repairs.empty());
  auto want = Expected(3, 4);
  want.push_back("after");
  CHECK(Payloads(*j) == want);
}

}  // namespace

TEST_CASE("garbage after the last valid record of a killed writer is cut on open") {
  TempDir dir;
  const std::uint64_t end = KilledJournal(dir.path());
  std::string garbage(300, '\0');
  std::mt19937_64 rng(test::Seed());
  for (auto& c : garbage) c = static_cast<char>(rng() | 1);
  WriteAt(SegPath(dir.path(), end), end % kSeg, garbage);
  ExpectTornTailCut(dir.path(), end);
  // The cut bytes are zero now.
  CHECK(ReadFile(SegPath(dir.path(), end)).substr(end % kSeg + 200, 100) != garbage.substr(200, 100));
}

TEST_CASE("a partial record after the last valid record of a killed writer is cut on open") {
  TempDir dir;
  const std::uint64_t end = KilledJournal(dir.path());
  // A record header that promises more bytes than were written: a plausible
  // event header (right type, length, epoch) whose body never arrived.
  format::RecordHeader h{0x1234567890abcdefull, 400, static_cast<std::uint8_t>(RecordType::kEvent), 0, 0, 4, 0, 1};
  std::string bytes(reinterpret_cast<const char*>(&h), sizeof h);
  bytes += std::string(40, 'p');
  WriteAt(SegPath(dir.path(), end), end % kSeg, bytes);
  ExpectTornTailCut(dir.path(), end);
}

TEST_CASE("a valid record copied to the tail does not verify at its new position and is cut") {
  TempDir dir;
  const std::uint64_t end = KilledJournal(dir.path());
  const std::string seg = SegPath(dir.path(), end);
  const std::string whole = ReadFile(seg);
  // The first record of the segment (a begin marker), copied to the tail.
  WriteAt(seg, end % kSeg, whole.substr(format::kSegmentHeaderSize, 40));
  ExpectTornTailCut(dir.path(), end);
}

TEST_CASE("a torn record after an open transaction is cut and the transaction rolled back") {
  TempDir dir;
  const std::uint64_t end = KilledJournal(dir.path(), true);
  WriteAt(SegPath(dir.path(), end), end % kSeg, std::string(77, '\x5a'));
  ExpectTornTailCut(dir.path(), end, true);
}

TEST_CASE("a zeroed tail of a killed writer ends the journal at the last complete transaction") {
  // Pages of a killed machine that never reached the disk read as zeroes.
  struct Case {
    const char* name;
    int zero_from_txn;  // zero from this transaction's begin marker ...
    bool only_header;   // ... only its begin header (valid records follow) or to the end
    bool commit_only;   // or only the commit marker of the last transaction
    int survivors;
    bool repair;
  };
  const Case cases[] = {
      // The writer had begun the third transaction: its id stays taken (a
      // padding record, reported as a repair).
      {"everything from the third transaction on", 2, false, false, 2, true},
      {"the begin marker of the second transaction", 1, true, false, 1, true},
      {"the commit marker of the last transaction", 0, false, true, 2, true},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    TempDir dir;
    std::vector<std::uint64_t> begin_lsn, commit_end;
    const int status = InChild([&] {
      auto j = Journal::open(dir.path(), Opts());
      CHILD_OK(j, 3);
      ChildCommit(**j, 0, 3, 4);
      ::raise(SIGKILL);
    });
    REQUIRE(KilledBySigkill(status));
    {
      // Where each transaction's records are: its first event follows its
      // begin marker; the next begin follows its commit marker.
      auto ro = test::OpenOrDie(dir.path(), ReadOnly());
      auto cur = test::RequireOk(ro->open_cursor(0));
      for (int i = 0; i < 12; ++i) {
        auto e = cur->next();
        REQUIRE((e.ok() && e->has_value()));
        if (i % 4 == 0) begin_lsn.push_back((**e).lsn - format::AlignUp(format::kRecordHeaderSize + sizeof(format::BeginBody)));
      }
      commit_end.push_back(begin_lsn[1]);
      commit_end.push_back(begin_lsn[2]);
      commit_end.push_back(ro->recovery_report().end_lsn);
    }
    const std::string seg = SegPath(dir.path(), begin_lsn[0]);
    REQUIRE(SegPath(dir.path(), commit_end[2]) == seg);
    if (c.commit_only) {
      const std::uint64_t marker = commit_end[2] - format::AlignUp(format::kRecordHeaderSize + sizeof(format::CommitBody));
      WriteAt(seg, marker % kSeg, std::string(commit_end[2] - marker, '\0'));
    } else if (c.only_header) {
      WriteAt(seg, begin_lsn[static_cast<std::size_t>(c.zero_from_txn)] % kSeg, std::string(format::kRecordHeaderSize, '\0'));
    } else {
      const std::uint64_t from = begin_lsn[static_cast<std::size_t>(c.zero_from_txn)];
      WriteAt(seg, from % kSeg, std::string(commit_end[2] - from, '\0'));
    }
    {
      auto j = test::OpenOrDie(dir.path(), Opts());
      INFO(j->recovery_report().ToString());
      CHECK(j->recovery_report().repairs.empty() == !c.repair);
      CHECK(Payloads(*j) == Expected(c.survivors, 4));
      auto tx = test::RequireOk(j->begin());
      TXJ_REQUIRE_OK(tx->append("t", "x", "next"));
      auto info = test::RequireOk(tx->commit());
      CHECK(info->first_offset == static_cast<std::uint64_t>(c.survivors) * 4);
      CHECK(info->txn_id == 4);  // 1 to 3 were handed out, whatever the disk kept of them
    }
    auto j = test::OpenOrDie(dir.path(), Opts());
    CHECK(j->recovery_report().repairs.empty());
    auto want = Expected(c.survivors, 4);
    want.push_back("next");
    CHECK(Payloads(*j) == want);
  }
}

// ---------------------------------------------------------------------------
// Damage a crash cannot explain

TEST_CASE("a flipped bit in the last committed transaction after a clean close is corruption naming file and offset") {
  TempDir dir;
  std::uint64_t end;
  {
    auto j = test::OpenOrDie(dir.path(), Opts());
    ChildCommit(*j, 0, 3, 4);
    end = j->visible_lsn();
    TXJ_REQUIRE_OK(j->close());
  }
  // The commit marker ends at `end`; flip a bit in its body.
  const std::uint64_t marker = end - format::AlignUp(format::kRecordHeaderSize + sizeof(format::CommitBody));
  const std::string seg = SegPath(dir.path(), marker);
  FlipBit(seg, marker % kSeg + format::kRecordHeaderSize + 3);
  const auto before = Snapshot(dir.path());
  auto j = Journal::open(dir.path(), Opts());
  ExpectCorruptionNaming(j.status(), seg);
  ExpectCorruptionNaming(j.status(), "at byte " + std::to_string(marker % kSeg));
  CHECK(Snapshot(dir.path()) == before);
  // Again, and read-only: the same answer, nothing changed.
  auto again = Journal::open(dir.path(), Opts());
  ExpectCorruptionNaming(again.status(), seg);
  auto ro = Journal::open(dir.path(), ReadOnly());
  ExpectCorruptionNaming(ro.status(), seg);
  CHECK(Snapshot(dir.path()) == before);
}

TEST_CASE("zeroed pages holding acknowledged commits below the synced watermark are corruption, not the clean end") {
  // A durable journal, closed cleanly (the active segment's watermark then
  // covers every record) or killed after enough synced data for the
  // watermark to have risen: zeroes where the watermark says data was
  // synced cannot come from a crash. Before this rule they were read as
  // the clean end, and a writer reused the lost offsets.
  for (const bool killed : {false, true}) {
    INFO((killed ? "killed writer, 1 MiB segments" : "clean close, 64 KiB segments"));
    TempDir dir;
    Options o = Opts(Durability::kCommit);
    if (killed) o.segment_size = 1024 * 1024;
    std::uint64_t end = 0;
    std::uint64_t last_begin = 0;
    const int txns = killed ? 200 : 6;
    const int status = InChild([&] {
      auto j = Journal::open(dir.path(), o);
      CHILD_OK(j, 3);
      ChildCommit(**j, 0, txns, 4);
      if (killed) ::raise(SIGKILL);
      CHILD_OK((*j)->close(), 4);
    });
    if (killed) {
      REQUIRE(KilledBySigkill(status));
    } else {
      REQUIRE(WIFEXITED(status));
      REQUIRE(WEXITSTATUS(status) == 0);
    }
    {
      Options ro = o;
      ro.read_only = true;
      auto j = test::OpenOrDie(dir.path(), ro);
      end = j->visible_lsn();
      auto cur = test::RequireOk(j->open_cursor(static_cast<std::uint64_t>(txns - 1) * 4));
      auto e = cur->next();
      REQUIRE((e.ok() && e->has_value()));
      last_begin = (**e).lsn - format::AlignUp(format::kRecordHeaderSize + sizeof(format::BeginBody));
    }
    const std::uint64_t seg_size = o.segment_size;
    const std::string seg = dir.path() + "/" + internal::SegmentFileName(last_begin / seg_size * seg_size);
    // The watermark of that segment, read from its header page.
    std::uint64_t watermark = 0;
    {
      const std::string bytes = ReadFile(seg);
      std::memcpy(&watermark, bytes.data() + format::kWatermarkOffset, 8);
    }
    INFO("last txn begins at LSN ", last_begin, ", journal ends at ", end, ", watermark ", watermark);
    // Zero whole pages from the last transaction's begin (killed: from a
    // page below the watermark, which lags the end by up to one step) to
    // the end: only zeroes follow, as after a clean end.
    const std::uint64_t from = std::min(last_begin, watermark - 4096) & ~std::uint64_t{4095};
    const std::uint64_t to = end;
    REQUIRE(from % seg_size >= format::kSegmentHeaderSize);
    REQUIRE(from < watermark);
    if (!killed) REQUIRE(watermark == end);
    WriteAt(seg, from % seg_size, std::string(to - from, '\0'));
    const auto before = Snapshot(dir.path());
    auto j = Journal::open(dir.path(), o);
    ExpectCorruptionNaming(j.status(), seg);
    ExpectCorruptionNaming(j.status(), "below the synced watermark");
    CHECK(Snapshot(dir.path()) == before);
    Options ro = o;
    ro.read_only = true;
    auto r = Journal::open(dir.path(), ro);
    ExpectCorruptionNaming(r.status(), seg);
    auto walk = test::RequireOk(WalkJournal(dir.path()));
    REQUIRE(!walk->problems.empty());
    CHECK(walk->problems.front().file == seg);
    CHECK(Snapshot(dir.path()) == before);
  }
}

TEST_CASE("a flipped bit in an early sealed segment is corruption naming file and offset, on open or on read") {
  TempDir dir;
  FillSegments(dir.path(), 6);
  // Find an event in the second segment.
  std::uint64_t lsn = 0, offset = 0;
  {
    auto j = test::OpenOrDie(dir.path(), ReadOnly());
    auto c = test::RequireOk(j->open_cursor(0));
    for (;;) {
      auto e = c->next();
      REQUIRE((e.ok() && e->has_value()));
      if ((**e).lsn > kSeg + 3000) {
        lsn = (**e).lsn;
        offset = (**e).offset;
        break;
      }
    }
  }
  const std::string seg = SegPath(dir.path(), lsn);
  const std::string at = "at byte " + std::to_string(lsn % kSeg);
  FlipBit(seg, lsn % kSeg + format::kRecordHeaderSize + sizeof(format::EventBody) + 100);
  const auto before = Snapshot(dir.path());
  SUBCASE("with the catalog: open starts at the checkpoint, a reader finds the damage") {
    auto j = Journal::open(dir.path(), Opts());
    if (j.ok()) {
      auto c = test::RequireOk((*j)->open_cursor(0));
      const Status s = test::FirstReadError(*c, [&](const Event& e) { REQUIRE(e.offset < offset); });
      ExpectCorruptionNaming(s, seg);
      ExpectCorruptionNaming(s, at);
      // The damaged segment is left as it is.
      CHECK(ReadFile(seg) == before.at(fs::path(seg).filename().string()));
    } else {
      ExpectCorruptionNaming(j.status(), seg);
      CHECK(Snapshot(dir.path()) == before);
    }
  }
  SUBCASE("without the catalog: open scans everything and fails") {
    fs::remove_all(dir.sub(format::kCatalogDir));
    auto j = Journal::open(dir.path(), Opts());
    ExpectCorruptionNaming(j.status(), seg);
    ExpectCorruptionNaming(j.status(), at);
    auto ro = Journal::open(dir.path(), ReadOnly());
    ExpectCorruptionNaming(ro.status(), seg);
    CHECK(Snapshot(dir.path()) == before);
  }
}

TEST_CASE("a missing middle segment is corruption naming it") {
  TempDir dir;
  FillSegments(dir.path(), 5);
  const std::string missing = SegPath(dir.path(), 2 * kSeg);
  REQUIRE(fs::remove(missing));
  const auto before = Snapshot(dir.path());
  ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), missing);
  ExpectCorruptionNaming(Journal::open(dir.path(), ReadOnly()).status(), missing);
  CHECK(Snapshot(dir.path()) == before);
}

TEST_CASE("a missing first or last segment is corruption naming it") {
  SUBCASE("first") {
    TempDir dir;
    FillSegments(dir.path(), 4);
    const std::string missing = SegPath(dir.path(), 0);
    REQUIRE(fs::remove(missing));
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), missing);
  }
  SUBCASE("last, with and without the catalog") {
    TempDir dir;
    FillSegments(dir.path(), 4);
    // Data ends in the fifth segment (index 4); the sixth is the prepared one.
    std::uint64_t last = 0;
    for (const auto& e : fs::directory_iterator(dir.path())) {
      std::uint64_t b;
      if (internal::ParseSegmentFileName(e.path().filename().string(), &b)) last = std::max(last, b);
    }
    // Remove the segment holding the tail, and any prepared one after it.
    std::uint64_t tail_base = 0;
    {
      auto ro = test::OpenOrDie(dir.path(), ReadOnly());
      tail_base = ro->recovery_report().end_lsn / kSeg * kSeg;
    }
    REQUIRE(tail_base >= 4 * kSeg);
    for (std::uint64_t b = tail_base; b <= last; b += kSeg) fs::remove(SegPath(dir.path(), b));
    const std::string missing = SegPath(dir.path(), tail_base);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), missing);
    fs::remove_all(dir.sub(format::kCatalogDir));
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), missing);
  }
}

TEST_CASE("a renamed, duplicated or replaced segment is corruption") {
  SUBCASE("a segment renamed to another position") {
    TempDir dir;
    FillSegments(dir.path(), 4);
    const std::string moved = SegPath(dir.path(), 40 * kSeg);
    fs::rename(SegPath(dir.path(), 1 * kSeg), moved);
    auto j = Journal::open(dir.path(), Opts());
    CHECK(j.status().code() == Code::kCorruption);
  }
  SUBCASE("a copy of a segment under a new name") {
    TempDir dir;
    FillSegments(dir.path(), 4);
    const std::string copy = SegPath(dir.path(), 40 * kSeg);
    fs::copy_file(SegPath(dir.path(), 1 * kSeg), copy);
    const auto before = Snapshot(dir.path());
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), copy);
    ExpectCorruptionNaming(Journal::open(dir.path(), ReadOnly()).status(), copy);
    CHECK(Snapshot(dir.path()) == before);
  }
  SUBCASE("a segment replaced by a copy of another one") {
    TempDir dir;
    FillSegments(dir.path(), 4);
    const std::string victim = SegPath(dir.path(), 2 * kSeg);
    fs::copy_file(SegPath(dir.path(), 1 * kSeg), victim, fs::copy_options::overwrite_existing);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), victim);
  }
  SUBCASE("a segment of another journal") {
    TempDir dir, other;
    FillSegments(dir.path(), 3);
    FillSegments(other.path(), 3);
    const std::string victim = SegPath(dir.path(), 1 * kSeg);
    fs::copy_file(SegPath(other.path(), 1 * kSeg), victim, fs::copy_options::overwrite_existing);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), victim);
  }
  SUBCASE("a truncated segment") {
    TempDir dir;
    FillSegments(dir.path(), 3);
    const std::string victim = SegPath(dir.path(), 1 * kSeg);
    fs::resize_file(victim, kSeg / 2);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), victim);
  }
  SUBCASE("an emptied segment, in the middle or the last one") {
    // Segments appear under their name only once complete (temporary name,
    // sync, rename): an empty one is damage, never a crash's leftover.
    for (int which : {1, 2}) {
      CAPTURE(which);
      TempDir dir;
      FillSegments(dir.path(), 3);
      std::string victim;
      for (const auto& e : fs::directory_iterator(dir.path())) {
        if (e.path().extension() != ".seg") continue;
        if (victim.empty() || (which == 2) == (e.path().string() > victim)) victim = e.path().string();
      }
      if (which == 1) victim = SegPath(dir.path(), 1 * kSeg);
      fs::resize_file(victim, 0);
      const auto before = Snapshot(dir.path());
      ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), victim);
      ExpectCorruptionNaming(Journal::open(dir.path(), ReadOnly()).status(), victim);
      CHECK(Snapshot(dir.path()) == before);
    }
  }
}

// ---------------------------------------------------------------------------
// The manifest

namespace {

format::Manifest ReadManifestBytes(const std::string& dir) {
  std::string b = ReadFile(dir + "/" + format::kManifestName);
  REQUIRE(b.size() == sizeof(format::Manifest));
  format::Manifest m;
  std::memcpy(&m, b.data(), sizeof m);
  return m;
}

void WriteManifestBytes(const std::string& dir, format::Manifest m, bool fix_checksum) {
  if (fix_checksum) m.checksum = internal::Hash64(&m, offsetof(format::Manifest, checksum));
  WriteAt(dir + "/" + format::kManifestName, 0, std::string(reinterpret_cast<const char*>(&m), sizeof m));
}

}  // namespace

TEST_CASE("a damaged manifest is corruption; an unknown format version is not-supported") {
  TempDir dir;
  FillSegments(dir.path(), 2);
  const format::Manifest good = ReadManifestBytes(dir.path());
  const std::string manifest = dir.sub(format::kManifestName);
  SUBCASE("bad magic") {
    format::Manifest m = good;
    m.magic[0] = 'X';
    WriteManifestBytes(dir.path(), m, true);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), manifest);
    ExpectCorruptionNaming(Journal::open(dir.path(), ReadOnly()).status(), manifest);
  }
  SUBCASE("bad checksum") {
    format::Manifest m = good;
    m.epoch += 1;
    WriteManifestBytes(dir.path(), m, false);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), manifest);
  }
  SUBCASE("truncated") {
    fs::resize_file(manifest, 60);
    ExpectCorruptionNaming(Journal::open(dir.path(), Opts()).status(), manifest);
  }
  SUBCASE("another format version, correctly checksummed") {
    format::Manifest m = good;
    m.format_version = 99;
    WriteManifestBytes(dir.path(), m, true);
    const auto before = Snapshot(dir.path());
    for (const Options& o : {Opts(), ReadOnly()}) {
      auto j = Journal::open(dir.path(), o);
      INFO(j.status().ToString());
      CHECK(j.status().code() == Code::kNotSupported);
      CHECK(j.status().message().find("99") != std::string::npos);
    }
    CHECK(Snapshot(dir.path()) == before);
  }
  SUBCASE("missing, with segments present") {
    fs::remove(manifest);
    CHECK(Journal::open(dir.path(), Opts()).status().code() == Code::kCorruption);
    CHECK_FALSE(fs::exists(manifest));
  }
  SUBCASE("the good manifest put back opens again") {
    WriteManifestBytes(dir.path(), good, false);
    auto j = test::OpenOrDie(dir.path(), Opts());
    CHECK(j->recovery_report().repairs.empty());
  }
}

TEST_CASE("a segment of another format version is not-supported") {
  TempDir dir;
  FillSegments(dir.path(), 2);
  const std::string seg = SegPath(dir.path(), kSeg);
  std::string b = ReadFile(seg);
  format::SegmentHeader h;
  std::memcpy(&h, b.data(), sizeof h);
  h.format_version = 99;
  h.checksum = internal::Hash64(&h, offsetof(format::SegmentHeader, checksum));
  WriteAt(seg, 0, std::string(reinterpret_cast<const char*>(&h), sizeof h));
  CHECK(Journal::open(dir.path(), Opts()).status().code() == Code::kNotSupported);
}

TEST_CASE("a format 1 journal reads as before, and a writer's open upgrades its manifest to the current format") {
  TempDir dir;
  FillSegments(dir.path(), 2);
  std::vector<std::string> want;
  {
    auto j = test::OpenOrDie(dir.path(), ReadOnly());
    want = Payloads(*j);
  }
  // What a format 1 writer left: the manifest and every segment header say 1
  // (format 2 only adds gaps, which such a journal never holds).
  format::Manifest m = ReadManifestBytes(dir.path());
  m.format_version = 1;
  WriteManifestBytes(dir.path(), m, true);
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().extension() != ".seg") continue;
    std::string b = ReadFile(e.path().string());
    format::SegmentHeader h;
    std::memcpy(&h, b.data(), sizeof h);
    h.format_version = 1;
    h.checksum = internal::Hash64(&h, offsetof(format::SegmentHeader, checksum));
    WriteAt(e.path().string(), 0, std::string(reinterpret_cast<const char*>(&h), sizeof h));
  }
  {
    auto ro = test::OpenOrDie(dir.path(), ReadOnly());
    CHECK(Payloads(*ro) == want);
  }
  CHECK(ReadManifestBytes(dir.path()).format_version == 1);  // a reader changes nothing
  {
    Options o = Opts();
    o.durability = Durability::kCommit;
    auto j = test::OpenOrDie(dir.path(), o);
    CHECK(Payloads(*j) == want);
    for (int i = 0; i < 3; ++i) test::CommitOne(*j, "t", "e", "after upgrade " + std::to_string(i));
    want = Payloads(*j);
    TXJ_CHECK_OK(j->close());
  }
  CHECK(ReadManifestBytes(dir.path()).format_version == kFormatVersion);
  auto j = test::OpenOrDie(dir.path(), ReadOnly());
  CHECK(Payloads(*j) == want);
}

// ---------------------------------------------------------------------------
// The catalog

TEST_CASE("a deleted catalog is rebuilt on open with the same committed view") {
  TempDir dir;
  const std::uint64_t n = FillSegments(dir.path(), 5);
  std::vector<std::string> want;
  {
    auto j = test::OpenOrDie(dir.path(), Opts());
    want = Payloads(*j);
    REQUIRE(want.size() == n);
  }
  fs::remove_all(dir.sub(format::kCatalogDir));
  {
    // A reader without a catalog scans.
    auto ro = test::OpenOrDie(dir.path(), ReadOnly());
    CHECK(Payloads(*ro) == want);
    CHECK(Payloads(*ro, n - 10).size() == 10);
  }
  {
    auto j = test::OpenOrDie(dir.path(), Opts());
    const RecoveryReport& r = j->recovery_report();
    INFO(r.ToString());
    CHECK(r.repairs.empty());
    CHECK(r.scanned_bytes > 4 * kSeg);  // from the start
    CHECK(r.next_offset == n);
    CHECK(Payloads(*j) == want);
    CHECK(Payloads(*j, n / 2) == std::vector<std::string>(want.begin() + static_cast<long>(n / 2), want.end()));
  }
  CHECK(fs::exists(dir.sub(format::kCatalogDir)));
  auto j = test::OpenOrDie(dir.path(), Opts());
  CHECK(j->recovery_report().scanned_bytes < kSeg);  // the rebuilt catalog's checkpoint is used
  CHECK(Payloads(*j) == want);
}

TEST_CASE("a damaged catalog is set aside and rebuilt") {
  TempDir dir;
  const std::uint64_t n = FillSegments(dir.path(), 3);
  for (const auto& e : fs::directory_iterator(dir.sub(format::kCatalogDir))) {
    if (e.path().filename() == "data.mdb") {
      std::ofstream out(e.path(), std::ios::binary | std::ios::trunc);
      out << std::string(8192, 'g');
    }
  }
  auto j = test::OpenOrDie(dir.path(), Opts());
  INFO(j->recovery_report().ToString());
  CHECK(j->recovery_report().catalog_rebuilt);
  CHECK(Payloads(*j).size() == n);
}

TEST_CASE("open time is proportional to the tail: the catalog checkpoint is used") {
  TempDir dir;
  const std::uint64_t n = FillSegments(dir.path(), 40);
  std::uint64_t closed_end = 0;
  {
    auto j = test::OpenOrDie(dir.path(), Opts());
    const RecoveryReport& r = j->recovery_report();
    INFO(r.ToString());
    CHECK(r.scanned_bytes < format::kSegmentHeaderSize);
    CHECK(r.start_lsn > 39 * kSeg);
    CHECK(r.next_offset == n);
    closed_end = r.end_lsn;
  }
  // After a killed writer, the scan starts at the last checkpoint, which the
  // seal of each full segment writes.
  const int status = InChild([&] {
    auto j = Journal::open(dir.path(), Opts());
    CHILD_OK(j, 3);
    for (int t = 0; t < 60; ++t) {
      auto tx = (*j)->begin();
      CHILD_OK(tx, 4);
      for (int i = 0; i < 8; ++i) CHILD_OK(tx->append("fill", "x", std::string(900, 'k')), 5);
      CHILD_OK(tx->commit(), 6);
    }
    ::usleep(200 * 1000);  // let the background thread seal and checkpoint
    ::raise(SIGKILL);
  });
  REQUIRE(KilledBySigkill(status));
  auto j = test::OpenOrDie(dir.path(), Opts());
  const RecoveryReport& r = j->recovery_report();
  INFO(r.ToString());
  // Never more than what the killed writer added after the clean close's
  // checkpoint (later checkpoints, at its seals, cut that further).
  CHECK(r.start_lsn >= closed_end);
  CHECK(r.scanned_bytes <= r.end_lsn - closed_end);
  CHECK(r.next_offset == n + 480);
  CHECK(Payloads(*j, n).size() == 480);
}

// ---------------------------------------------------------------------------
// Leftovers

TEST_CASE("a cleanly closed journal reopens reading a tiny fraction of it, in every durability mode and after compaction") {
  // The checkpoint written at close names the last commit; with commit
  // padding the journal ends after the padding (and maybe a segment-end
  // marker), which the checkpoint must still match.
  for (const Durability d : {Durability::kCommit, Durability::kNone, Durability::kPeriodic}) {
    for (const bool compact : {false, true}) {
      INFO("durability ", static_cast<int>(d), compact ? ", with a compaction" : "");
      TempDir dir;
      Options o = Opts(d);
      o.segment_size = 4 * 1024 * 1024;
      std::uint64_t end = 0;
      std::vector<std::string> want;
      {
        auto j = test::OpenOrDie(dir.path(), o);
        TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
        for (int t = 0; t < 300; ++t) {
          auto tx = test::RequireOk(j->begin());
          for (int i = 0; i < 64; ++i) {
            TXJ_REQUIRE_OK(tx->append(i % 2 ? "kv" : "log", "put", std::string(1000, static_cast<char>('a' + i % 26)),
                                      {.key = "k" + std::to_string(i % 5)}));
          }
          TXJ_REQUIRE_OK(tx->commit());
          if (compact && t == 150) TXJ_REQUIRE_OK(j->compact("kv"));
        }
        end = j->visible_lsn();
        TXJ_REQUIRE_OK(j->close());
      }
      REQUIRE(end > 16u * 1024 * 1024);
      for (const bool ro : {false, true, false}) {
        Options oo = o;
        oo.read_only = ro;
        auto j = test::OpenOrDie(dir.path(), oo);
        const RecoveryReport& r = j->recovery_report();
        INFO((ro ? "read-only: " : "writable: "), r.ToString());
        CHECK_FALSE(r.catalog_rebuilt);
        CHECK(r.notes.empty());
        CHECK(r.repairs.empty());
        CHECK(r.scanned_bytes * 1000 < end);
        CHECK(r.end_lsn == end);
      }
    }
  }
}

TEST_CASE("unfinished temporary files are removed by the next writer") {
  TempDir dir;
  FillSegments(dir.path(), 1);
  const std::string tmp = SegPath(dir.path(), 77 * kSeg) + format::kTempSuffix;
  { std::ofstream(tmp) << "half a segment"; }
  {
    auto ro = test::OpenOrDie(dir.path(), ReadOnly());
    CHECK(fs::exists(tmp));  // a reader changes nothing
  }
  auto j = test::OpenOrDie(dir.path(), Opts());
  CHECK_FALSE(fs::exists(tmp));
  CHECK(j->recovery_report().repairs.empty());
}

// ---------------------------------------------------------------------------
// The writer lock and readers

TEST_CASE("a second writer in the same process or another process gets busy") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), Opts());
  auto second = Journal::open(dir.path(), Opts());
  INFO(second.status().ToString());
  CHECK(second.status().code() == Code::kBusy);
  j.reset();
  // Another process holds it: the child opens and waits for a byte.
  int to_child[2], from_child[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(from_child) == 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto cj = Journal::open(dir.path(), Opts());
    char c = cj.ok() ? 'y' : 'n';
    if (::write(from_child[1], &c, 1) != 1) ::_exit(2);
    if (::read(to_child[0], &c, 1) != 1) ::_exit(3);
    ::_exit(0);
  }
  char c = 0;
  REQUIRE(::read(from_child[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  auto busy = Journal::open(dir.path(), Opts());
  INFO(busy.status().ToString());
  CHECK(busy.status().code() == Code::kBusy);
  CHECK(busy.status().message().find(std::to_string(pid)) != std::string::npos);
  {
    // A reader is not blocked by the writer.
    auto ro = Journal::open(dir.path(), ReadOnly());
    TXJ_CHECK_OK(ro);
  }
  c = 'x';
  REQUIRE(::write(to_child[1], &c, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
  auto after = Journal::open(dir.path(), Opts());
  TXJ_CHECK_OK(after);
}

TEST_CASE("a lock held by a killed process never blocks the next writer") {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    const int status = InChild([&] {
      auto j = Journal::open(dir.path(), Opts());
      CHILD_OK(j, 3);
      ChildCommit(**j, round, 1, 1);
      ::raise(SIGKILL);
    });
    REQUIRE(KilledBySigkill(status));
  }
  auto j = test::RequireOk(Journal::open(dir.path(), Opts()));
  CHECK(Payloads(**j) == std::vector<std::string>{"c0-0", "c1-0", "c2-0"});
}

TEST_CASE("a read-only open while a writer is open sees the committed events and follows new ones") {
  TempDir dir;
  auto w = test::OpenOrDie(dir.path(), Opts());
  ChildCommit(*w, 0, 2, 3);
  auto open_tx = test::RequireOk(w->begin());
  TXJ_REQUIRE_OK(open_tx->append("t", "x", "in flight"));
  auto ro = test::OpenOrDie(dir.path(), ReadOnly());
  CHECK(Payloads(*ro) == Expected(2, 3));
  CHECK(ro->begin().status().code() == Code::kInvalidState);
  CHECK(ro->try_begin().status().code() == Code::kInvalidState);
  TXJ_REQUIRE_OK(open_tx->commit());
  // Enough to roll into new segments the reader has not seen yet.
  for (int t = 0; t < 30; ++t) {
    test::CommitOne(*w, "t", "x", std::string(5000, 'r'));
  }
  auto all = Payloads(*ro);
  REQUIRE(all.size() == 6 + 1 + 30);
  CHECK(all[6] == "in flight");
  CHECK(ro->next_offset() == all.size());  // follows the writer too
  CHECK(ro->visible_lsn() == w->visible_lsn());
  TXJ_CHECK_OK(ro->close());
  TXJ_CHECK_OK(w->close());
}

TEST_CASE("read-only opens while a busy writer rolls segments never report damage") {
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d));
    TempDir dir;
    auto w = test::OpenOrDie(dir.path(), Opts(d));
    std::atomic<bool> stop{false};
    std::atomic<int> commits{0};
    // The writer stops after about 512 segments: unbounded, on a fast file
    // system (tmpfs) and under TSan, it wrote tens of thousands of 64 KiB
    // segments while each read-only open scanned them all, until the
    // process ran out of mappings (vm.max_map_count; the writer keeps a
    // mapping per sealed segment).
    constexpr std::uint64_t kWriterEnd = 512 * kSeg;
    std::thread writer([&] {
      int t = 0;
      while (!stop.load() && w->visible_lsn() < kWriterEnd) {
        auto tx = w->begin();
        if (!tx.ok()) return;
        for (int i = 0; i < 3; ++i) {
          if (!tx->append("t", "x", std::string(static_cast<std::size_t>(100 + (t * 7919) % 30000), 'w')).ok()) return;
        }
        if (!tx->commit().ok()) return;
        ++commits;
        ++t;
      }
    });
    int failures = 0, opens = 0, open_failures = 0;
    std::string first_failure, first_open_failure;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
    while (std::chrono::steady_clock::now() < until) {
      auto ro = Journal::open(dir.path(), ReadOnly());
      ++opens;
      if (!ro.ok()) {
        if (open_failures++ == 0) first_open_failure = ro.status().ToString();
        if (failures++ == 0) first_failure = ro.status().ToString();
        continue;
      }
      for (const auto& rep : (*ro)->recovery_report().repairs) {
        if (failures++ == 0) first_failure = "repair reported: " + rep.reason;
      }
      auto c = (*ro)->open_cursor(0);
      if (!c.ok()) {
        if (failures++ == 0) first_failure = c.status().ToString();
        continue;
      }
      std::uint64_t n = 0;
      for (;;) {
        auto e = c->next();
        if (!e.ok()) {
          if (failures++ == 0) first_failure = e.status().ToString();
          break;
        }
        if (!e->has_value()) break;
        if ((**e).offset != n++) {
          if (failures++ == 0) first_failure = "offsets not dense";
          break;
        }
      }
    }
    stop = true;
    writer.join();
    INFO(opens, " read-only opens during ", commits.load(), " commits, ", open_failures,
         " failed (", first_open_failure, "); first failure: ", first_failure);
    CHECK(failures == 0);
    CHECK(commits.load() > 0);
  }
}

TEST_CASE(
    "a durable transaction whose commit marker rolls the segment after its staged begin marker moved past a synced "
    "page reads back whole") {
  // Under kCommit a transaction is staged from its begin marker, which
  // starts on the page of the previous commit, synced: the stage's write
  // moves it to the next page. Here that write is the one the roll makes
  // for the commit marker, sized not to fit after the last event: the
  // marker must name the begin marker where it went.
  using internal::kTailReserve;
  const std::uint64_t page = format::kPageSize;  // the room kept for a move past a gap
  const std::uint64_t begin_size = format::AlignUp(format::kRecordHeaderSize + sizeof(format::BeginBody));
  const std::uint64_t commit_size = format::AlignUp(format::kRecordHeaderSize + sizeof(format::CommitBody));
  const std::uint64_t event_overhead = format::kRecordHeaderSize + sizeof(format::EventBody) + 2;  // topic "t", type "x"
  TempDir dir;
  std::vector<std::string> want;
  int rolled = 0;
  {
    auto w = test::OpenOrDie(dir.path(), Opts(Durability::kCommit));
    auto commit = [&](const std::vector<std::uint64_t>& payloads) {
      auto tx = test::RequireOk(w->begin());
      for (std::uint64_t n : payloads) {
        want.push_back(std::string(n, static_cast<char>('a' + want.size() % 26)));
        TXJ_REQUIRE_OK(tx->append("t", "x", want.back()));
      }
      return test::RequireOk(tx->commit());
    };
    for (int round = 0; round < 6; ++round) {
      // Small transactions (a page each, past the synced one) until the
      // segment has between 12 and 16 KiB left.
      std::uint64_t at = w->visible_lsn();
      std::uint64_t end = (at / kSeg + 1) * kSeg;
      while (end - at > 16 * 1024 || end - at < 12 * 1024) {
        (void)commit({100});  // checked inside
        at = w->visible_lsn();
        end = (at / kSeg + 1) * kSeg;
      }
      // Events that end 40 bytes short of the room a commit marker needs
      // (its size plus the tail reserve and the room for a move).
      const std::uint64_t last_end = end - kTailReserve - page - commit_size + 40;
      std::uint64_t left = last_end - at - begin_size;
      std::vector<std::uint64_t> payloads;
      while (left > 1024 + 256) {
        payloads.push_back(1024 - event_overhead);
        left -= 1024;
      }
      payloads.push_back(left - event_overhead);
      INFO("round ", round, ": transaction from LSN ", at, ", segment ends at ", end);
      auto info = commit(payloads);
      CHECK(info->lsn > end);  // its commit marker is in the next segment
      rolled += info->lsn > end;
    }
    CHECK(Payloads(*w) == want);
    auto ro = test::OpenOrDie(dir.path(), ReadOnly());
    INFO(ro->recovery_report().ToString());
    CHECK(ro->recovery_report().repairs.empty());
    CHECK(Payloads(*ro) == want);
    TXJ_REQUIRE_OK(w->close());
  }
  CHECK(rolled == 6);
  auto j = test::OpenOrDie(dir.path(), Opts(Durability::kCommit));
  INFO(j->recovery_report().ToString());
  CHECK(j->recovery_report().repairs.empty());
  CHECK(Payloads(*j) == want);
}

TEST_CASE(
    "a durable commit whose segment cannot end before its sync, no next segment being made, fails the journal closed "
    "and nothing is written into its page") {
  // A transaction staged from just past a synced page moves to the next
  // page when it is written; sized here so that its commit lands in the
  // segment's last page, where the segment-end marker can no longer go past
  // the commit's page later. The segment must end before the sync, and no
  // next segment can be made (the disk is full): the commit is not
  // acknowledged (the journal fails closed), instead of being acknowledged
  // and its page rewritten by the marker at the next roll (a power loss
  // tearing that write loses the commit).
  using internal::kTailReserve;
  const std::uint64_t page = format::kPageSize;
  const std::uint64_t begin_size = format::AlignUp(format::kRecordHeaderSize + sizeof(format::BeginBody));
  const std::uint64_t commit_size = format::AlignUp(format::kRecordHeaderSize + sizeof(format::CommitBody));
  const std::uint64_t event_overhead =
      format::kRecordHeaderSize + sizeof(format::EventBody) + 2;  // topic "t", type "x"
  TempDir dir;
  // Counts the writes into pages at or below acknowledged commits.
  auto rule = std::make_shared<test::AckRuleFs>();
  auto fs = std::make_shared<test::FaultFileSystem>(rule);
  Options o = Opts(Durability::kCommit);
  o.file_system = fs;
  std::vector<std::string> acked;
  {
    auto w = test::OpenOrDie(dir.path(), o);
    auto commit = [&](const std::vector<std::uint64_t>& payloads) {
      auto tx = test::RequireOk(w->begin());
      std::vector<std::string> mine;
      for (std::uint64_t n : payloads) {
        mine.push_back(std::string(n, static_cast<char>('a' + (acked.size() + mine.size()) % 26)));
        TXJ_REQUIRE_OK(tx->append("t", "x", mine.back()));
      }
      auto info = tx->commit();
      if (info.ok()) {
        acked.insert(acked.end(), mine.begin(), mine.end());
        rule->acked = info->lsn;
      }
      return info;
    };
    // The segment after the first is made at open; once it exists, no
    // other segment file can be created.
    const std::string second = dir.path() + "/" + internal::SegmentFileName(kSeg);
    for (int i = 0; i < 5000 && !std::filesystem::exists(second); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(std::filesystem::exists(second));
    fs->ArmNext(test::FsOp::kOpen, ENOSPC, /*sticky=*/true, format::kTempSuffix);
    // Into the second segment, then small transactions (a page each, past
    // the synced one) until it has between 12 and 16 KiB left.
    std::uint64_t at = w->visible_lsn(), end = (at / kSeg + 1) * kSeg;
    while (at < kSeg + page || end - at > 16 * 1024 || end - at < 12 * 1024) {
      TXJ_REQUIRE_OK(commit({100}).status());
      at = w->visible_lsn();
      end = (at / kSeg + 1) * kSeg;
    }
    REQUIRE(at % page > kTailReserve + 8);  // the move past the synced page is longer than the reserve
    // Records that end as late as the commit marker may before the move:
    // after it, the commit ends in the segment's last page.
    const std::uint64_t records_end = end - kTailReserve - page;
    std::uint64_t left = records_end - at - begin_size - commit_size;
    std::vector<std::uint64_t> payloads;
    while (left > 1024 + 256) {
      payloads.push_back(1024 - event_overhead);
      left -= 1024;
    }
    payloads.push_back((left & ~std::uint64_t{7}) - event_overhead);
    INFO("transaction from LSN ", at, ", segment ends at ", end);
    auto info = commit(payloads);
    CHECK(!info.ok());
    if (!info.ok()) {
      INFO(info.status().ToString());
      CHECK(info.status().code() == Code::kFailed);
      CHECK(info.status().message().find("no space") != std::string::npos);
      CHECK(!w->begin().ok());  // failed closed
    }
    // The disk has room again: a journal that went on rolls now (after
    // its background thread made the next segment).
    fs->DisarmAll();
    for (int i = 0; i < 200; ++i) {
      auto tx = w->begin();
      if (tx.ok() && tx->append("t", "x", "after").ok() && tx->commit().ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    (void)w->close();
  }
  CHECK(rule->writes() > 0);
  CHECK(rule->violations() == 0);
  auto j = test::OpenOrDie(dir.path(), Opts(Durability::kCommit));
  INFO(j->recovery_report().ToString());
  const std::vector<std::string> got = Payloads(*j);
  REQUIRE(got.size() >= acked.size());
  CHECK(std::vector<std::string>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(acked.size())) == acked);
}

// Appends transactions of `per_txn` events of `size` bytes until the
// journal has rolled `segments` more times; returns the events appended.
// Payloads continue from event `first` (see ExpectAllEvents).
std::uint64_t AppendSegments(Journal& w, int segments, std::size_t size, int per_txn, std::uint64_t first = 0) {
  const std::uint64_t until =
      (w.visible_lsn() / kSeg + static_cast<std::uint64_t>(segments)) * kSeg + 2 * format::kSegmentHeaderSize;
  std::uint64_t n = first;
  while (w.visible_lsn() < until) {
    auto tx = w.begin();
    REQUIRE(tx.ok());
    for (int i = 0; i < per_txn; ++i) {
      TXJ_REQUIRE_OK(tx->append("t", "x", std::string(size, static_cast<char>('a' + n % 26))));
      ++n;
    }
    TXJ_REQUIRE_OK(tx->commit());
  }
  return n - first;
}

// Reads every event from offset 0; checks dense offsets and payloads.
void ExpectAllEvents(Journal& j, std::uint64_t count, std::size_t size) {
  auto c = j.open_cursor(0);
  REQUIRE(c.ok());
  std::uint64_t n = 0;
  for (;;) {
    auto e = c->next();
    TXJ_REQUIRE_OK(e.status());
    if (!e->has_value()) break;
    REQUIRE((**e).offset == n);
    REQUIRE((**e).payload == std::string(size, static_cast<char>('a' + n % 26)));
    ++n;
  }
  CHECK(n == count);
}

// Lowers RLIMIT_NOFILE's soft limit for the scope, and restores it also
// when a REQUIRE ends the test early (a low limit left behind would fail
// the test cases after it).
class DescriptorLimit {
 public:
  explicit DescriptorLimit(rlim_t soft) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old_) == 0);
    rlimit low = old_;
    low.rlim_cur = soft;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  }
  ~DescriptorLimit() { CHECK(::setrlimit(RLIMIT_NOFILE, &old_) == 0); }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;

 private:
  rlimit old_{};
};

TEST_CASE("a read-only open keeps no descriptor per sealed segment, so long journals open under a low limit") {
  TempDir dir;
  std::uint64_t events = 0;
  {
    auto w = test::OpenOrDie(dir.path(), Opts(Durability::kNone));
    events = AppendSegments(*w, 300, 900, 10);
    TXJ_CHECK_OK(w->close());
  }
  DescriptorLimit low(160);  // fewer than the segments (300+), more than the rest needs
  {
    auto ro = Journal::open(dir.path(), ReadOnly());
    TXJ_CHECK_OK(ro.status());
    if (ro.ok()) {
      int files = 0;
      for (const auto& f : std::filesystem::directory_iterator(dir.path())) files += f.path().extension() == ".seg";
      CHECK(files > 300);
      ExpectAllEvents(**ro, events, 900);
      TXJ_CHECK_OK((*ro)->close());
    }
  }
  {
    auto walk = WalkJournal(dir.path());  // journal-dump --check, journal-inspect
    TXJ_CHECK_OK(walk.status());
    if (walk.ok()) {
      CHECK(!walk->damaged());
      CHECK(walk->events == events);
    }
  }
}

TEST_CASE("a writer opens a journal of more segments than the descriptor limit, appends and reads it all") {
  TempDir dir;
  std::uint64_t events = 0;
  {
    auto w = test::OpenOrDie(dir.path(), Opts(Durability::kCommit));
    events = AppendSegments(*w, 300, 900, 10);
    TXJ_CHECK_OK(w->close());
  }
  DescriptorLimit low(160);
  for (int round = 0; round < 2; ++round) {
    auto w = Journal::open(dir.path(), Opts(Durability::kCommit));
    TXJ_REQUIRE_OK(w.status());
    events += AppendSegments(**w, 20, 900, 10, events);  // rolls, seals, syncs
    ExpectAllEvents(**w, events, 900);
    TXJ_CHECK_OK((*w)->close());
  }
}

TEST_CASE("a writer seals more segments in one session than the descriptor limit, and appends and reads on") {
  for (const Durability d : {Durability::kCommit, Durability::kNone}) {
    INFO("durability " << static_cast<int>(d));
    TempDir dir;
    DescriptorLimit low(160);  // fewer than the segments sealed below
    auto w = Journal::open(dir.path(), Opts(d));
    TXJ_REQUIRE_OK(w.status());
    auto c = (*w)->open_cursor(0);  // a reader in the writer's process, along the way
    REQUIRE(c.ok());
    std::uint64_t events = 0;
    std::uint64_t read = 0;
    for (int round = 0; round < 10; ++round) {
      events += AppendSegments(**w, 30, 900, 10, events);  // rolls and seals
      for (;; ++read) {
        auto e = c->next();
        TXJ_REQUIRE_OK(e.status());
        if (!e->has_value()) break;
        REQUIRE((**e).offset == read);
      }
      REQUIRE(read == events);
    }
    ExpectAllEvents(**w, events, 900);
    TXJ_CHECK_OK((*w)->close());
  }
}

TEST_CASE("a reader that cannot open a segment the writer added reports the system's error, then reads on") {
  TempDir dir;
  auto w = test::OpenOrDie(dir.path(), Opts(Durability::kNone));
  std::uint64_t events = AppendSegments(*w, 2, 700, 8);
  auto fs = std::make_shared<test::FaultFileSystem>();
  Options o = ReadOnly();
  o.file_system = fs;
  auto ro = Journal::open(dir.path(), o);
  TXJ_REQUIRE_OK(ro.status());
  ExpectAllEvents(**ro, events, 700);
  events += AppendSegments(*w, 3, 700, 8, events);
  auto c = (*ro)->open_cursor(0);
  REQUIRE(c.ok());
  fs->ArmNext(test::FsOp::kOpen, EMFILE, /*sticky=*/true);
  Status failed;
  for (std::uint64_t n = 0; failed.ok(); ++n) {
    auto e = c->next();
    if (!e.ok()) {
      failed = e.status();
      break;
    }
    REQUIRE(e->has_value());  // the new segments are committed: no end before them
    REQUIRE((**e).offset == n);
  }
  INFO(failed.ToString());
  CHECK(failed.code() == Code::kIOError);
  CHECK(failed.message().find(std::strerror(EMFILE)) != std::string::npos);
  CHECK(failed.message().find("valid") == std::string::npos);
  fs->DisarmAll();
  ExpectAllEvents(**ro, events, 700);  // nothing was lost or skipped
  TXJ_CHECK_OK((*ro)->close());
  TXJ_CHECK_OK(w->close());
}

TEST_CASE("the segment size is fixed at creation; later opens use the recorded one") {
  TempDir dir;
  FillSegments(dir.path(), 2);
  Options o = Opts();
  o.segment_size = 1 << 20;
  auto j = test::OpenOrDie(dir.path(), o);
  for (int t = 0; t < 20; ++t) {
    test::CommitOne(*j, "t", "x", std::string(20000, 's'));
  }
  TXJ_REQUIRE_OK(j->close());
  for (const auto& e : fs::directory_iterator(dir.path())) {
    std::uint64_t b;
    if (internal::ParseSegmentFileName(e.path().filename().string(), &b)) {
      CHECK(fs::file_size(e.path()) == kSeg);
      CHECK(b % kSeg == 0);
    }
  }
}

TEST_CASE("a journal path that is a file is an invalid argument") {
  TempDir dir;
  { std::ofstream(dir.sub("file")) << "x"; }
  CHECK(Journal::open(dir.sub("file"), Opts()).status().code() == Code::kInvalidArgument);
}

TEST_CASE("damage above a segment's watermark is still corruption when a later segment holds synced data") {
  TempDir dir;
  FillSegments(dir.path(), 5);
  fs::remove_all(dir.sub(format::kCatalogDir));  // scan from the start
  const std::string seg1 = SegPath(dir.path(), kSeg);
  // Forget segment 1's watermark (as if it had never been raised), then
  // damage a record in it: a crash could explain that only if nothing after
  // it had been synced, but segment 2 is sealed.
  WriteAt(seg1, format::kWatermarkOffset, std::string(sizeof(format::WatermarkSlot), '\0'));
  FlipBit(seg1, 20000);
  const auto before = Snapshot(dir.path());
  auto j = Journal::open(dir.path(), Opts());
  ExpectCorruptionNaming(j.status(), seg1);
  ExpectCorruptionNaming(j.status(), SegPath(dir.path(), 2 * kSeg));
  CHECK(Snapshot(dir.path()) == before);
}

TEST_CASE("a stale HEAD page after a crash never hides or invents data for a reader") {
  // HEAD is never synced: after a power loss it may claim more than the
  // segments kept, or less than they hold. Readers take the larger of HEAD
  // and their own scan, and every record is verified, so neither matters.
  for (const bool claims_more : {true, false}) {
    INFO((claims_more ? "HEAD claims more than the segments hold" : "HEAD claims less"));
    TempDir dir;
    const int status = InChild([&] {
      auto j = Journal::open(dir.path(), Opts());
      CHILD_OK(j, 3);
      ChildCommit(**j, 0, 10, 4);
      ::raise(SIGKILL);
    });
    REQUIRE(KilledBySigkill(status));
    std::uint64_t fifth_begin = 0, end = 0;
    {
      auto ro = test::OpenOrDie(dir.path(), ReadOnly());
      end = ro->visible_lsn();
      auto cur = test::RequireOk(ro->open_cursor(20));
      auto e = cur->next();
      REQUIRE((e.ok() && e->has_value()));
      fifth_begin = (**e).lsn - format::AlignUp(format::kRecordHeaderSize + sizeof(format::BeginBody));
    }
    int survivors = 10;
    if (claims_more) {
      // The pages of the last five transactions never reached the disk.
      const std::string seg = SegPath(dir.path(), fifth_begin);
      REQUIRE(SegPath(dir.path(), end) == seg);
      WriteAt(seg, fifth_begin % kSeg, std::string(end - fifth_begin, '\0'));
      survivors = 5;
    } else {
      // HEAD's visible LSN (after its 8-byte magic) is back at the start.
      const std::uint64_t first = format::kSegmentHeaderSize;
      WriteAt(dir.sub(format::kHeadName), 8, std::string(reinterpret_cast<const char*>(&first), 8));
    }
    auto ro = test::OpenOrDie(dir.path(), ReadOnly());
    CHECK(Payloads(*ro) == Expected(survivors, 4));
    auto cur = test::RequireOk(ro->open_cursor(static_cast<std::uint64_t>(survivors) * 4));
    auto e = test::RequireOk(cur->next());
    CHECK_FALSE(e->has_value());
    // The next writer repairs and goes on; the reader opened before follows.
    auto j = test::OpenOrDie(dir.path(), Opts());
    ChildCommit(*j, 100, 1, 1);
    auto w = test::RequireOk(cur->wait_next(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
    CHECK(w->payload == "c100-0");
    CHECK(w->offset == static_cast<std::uint64_t>(survivors) * 4);
  }
}
