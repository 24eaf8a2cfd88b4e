// Fault injection: every file-system call of a small workload is failed in
// turn (tests/fault_fs.h), and the journal must report the failure, never
// acknowledge a commit it cannot keep, and leave a directory that a plain
// reopen recovers to a committed view holding every acknowledged commit and
// nothing partial.
//
// TXJ_FAULT_VARIANTS=all runs every variant (EIO once, EIO sticky, ENOSPC
// sticky, short write) at every call; the default runs a rotation of them,
// one per call site, so CI stays within its time.
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fault_fs.h"
#include "fault_walk.h"
#include "journal_state.h"
#include "reliability_workload.h"
#include "test_util.h"

using namespace txj;
using txj::test::FaultFileSystem;
using txj::test::FsOp;
using txj::test::TempDir;
using txj::test::WorkloadLog;
using txj::test::WorkloadShape;

namespace {

Options WorkloadOptions(std::shared_ptr<FileSystem> fs) {
  Options o = test::SmallOptions(Durability::kCommit);
  o.file_system = std::move(fs);
  return o;
}

WorkloadShape Shape() {
  WorkloadShape s;
  s.txns = 12;  // per session
  return s;
}

// Commits one transaction with `n` events; returns commit()'s result.
Result<CommitInfo> CommitSmall(Journal& j, WorkloadLog* log, int n, std::size_t payload = 100) {
  auto tx = j.begin();
  if (!tx.ok()) return tx.status();
  test::AttemptedCommit c;
  c.txn_id = tx->id();
  for (int i = 0; i < n; ++i) {
    test::ModelEvent e;
    e.txn_id = c.txn_id;
    e.topic = "t";
    e.type = "e" + std::to_string(i);
    e.payload = std::string(payload, static_cast<char>('a' + i % 26));
    Status s = tx->append(e.topic, e.type, e.payload);
    if (!s.ok()) return s;
    c.events.push_back(std::move(e));
  }
  log->commits.push_back(std::move(c));
  auto info = tx->commit();
  if (info.ok()) {
    log->commits.back().info = *info;
  } else {
    log->commits.back().code = info.status().code();
  }
  return info;
}

// Two sessions through `fs`: one creates the journal in `dir`, runs half
// the workload and closes; the next reopens it (recovery, segment opens),
// runs the other half and closes. A session whose open fails is skipped.
void RunOnce(const std::string& dir, const std::shared_ptr<FaultFileSystem>& fs, WorkloadLog* log) {
  for (int session = 0; session < 2; ++session) {
    auto j = Journal::open(dir, WorkloadOptions(fs));
    if (!j.ok()) {
      log->open_status = j.status();
      log->Note("open", j.status());
      continue;
    }
    // A new journal object: the one that failed closed is gone.
    if (log->saw_failed) ++log->failed_sessions;
    log->saw_failed = false;
    test::RunWorkload(**j, test::Seed() + static_cast<std::uint64_t>(session), Shape(), log);
    // A journal that did not fail closed goes on after a failure: of two
    // more commits (a one-time fault may hit the first), one succeeds.
    bool went_on = false;
    for (int attempt = 0; attempt < 2 && !went_on && !log->saw_failed; ++attempt) {
      auto r = CommitSmall(**j, log, 2);
      went_on = r.ok();
      if (!r.ok()) log->Note("final commit", r.status());
    }
    if (!went_on && !log->saw_failed) log->stuck = true;
    log->close_status = (*j)->close();
    if (!log->close_status.ok()) log->Note("close", log->close_status);
  }
}

// Reopens `dir` with the default file system and checks it against `log`.
// Returns an empty string when everything holds.
// Creates a journal at `dir` holding `n` small acknowledged commits, closed.
void CreateWithCommits(const std::string& dir, WorkloadLog* log, int n) {
  auto j = test::OpenOrDie(dir, test::SmallOptions(Durability::kCommit));
  TXJ_REQUIRE_OK(CommitSmall(*j, log, n));
  TXJ_REQUIRE_OK(j->close());
}

std::string CheckAfter(const std::string& dir, const WorkloadLog& log, std::size_t* recovered = nullptr) {
  if (!log.violation.empty()) return log.violation;
  std::error_code ec;
  const bool exists = std::filesystem::exists(dir + "/JOURNAL", ec);
  if (exists) {
    std::string p = test::WalkProblems(dir, /*allow_tail=*/true);
    if (!p.empty()) return "before reopening: " + p;
  } else if (log.acked_count() > 0) {
    return "no manifest, but commits were acknowledged";
  }
  auto j = Journal::open(dir, test::SmallOptions(Durability::kCommit));
  if (!j.ok()) return "reopen: " + j.status().ToString();
  std::string why = test::CheckView(**j, log, {}, recovered);
  if (!why.empty()) return why;
  // The reopened journal takes new commits.
  {
    auto tx = (*j)->begin();
    if (!tx.ok()) return "begin after reopen: " + tx.status().ToString();
    Status s = tx->append("after", "reopen", "x");
    if (!s.ok()) return "append after reopen: " + s.ToString();
    auto info = tx->commit();
    if (!info.ok()) return "commit after reopen: " + info.status().ToString();
  }
  Status c = (*j)->close();
  if (!c.ok()) return "close after reopen: " + c.ToString();
  std::string p = test::WalkProblems(dir, /*allow_tail=*/false);
  if (!p.empty()) return "after reopen and close: " + p;
  return std::string();
}

std::string Describe(const WorkloadLog& log) {
  std::string s = "acknowledged " + std::to_string(log.acked_count()) + " of " + std::to_string(log.commits.size()) +
                  " commits; errors:";
  std::size_t shown = 0;
  for (const auto& e : log.errors) {
    if (++shown > 4) {
      s += " ...";
      break;
    }
    s += " [" + e + "]";
  }
  return s;
}

}  // namespace

TEST_CASE("every file-system call of a small workload can fail without losing an acknowledged commit") {
  // A clean run first: how many calls of each kind the workload makes.
  test::FsOpCounts counts{};
  {
    TempDir d;
    auto fs = std::make_shared<FaultFileSystem>();
    WorkloadLog log;
    RunOnce(d.sub("j"), fs, &log);
    INFO(Describe(log));
    REQUIRE(log.errors.empty());
    REQUIRE(log.acked_count() > 10);
    counts = fs->Counts();
    std::size_t recovered = 0;
    CHECK(CheckAfter(d.sub("j"), log, &recovered) == "");
    int segments = 0;
    for (const auto& e : std::filesystem::directory_iterator(d.sub("j"))) {
      segments += e.path().extension() == ".seg" ? 1 : 0;
    }
    CHECK(segments >= 3);  // the workload rolls segments
  }
  int failed_closed = 0;
  test::WalkFaults("nested transactions", counts,
                   [&](const std::shared_ptr<FaultFileSystem>& fs, const std::string& where, const test::FaultVariant& v) {
                     TempDir d;
                     WorkloadLog log;
                     RunOnce(d.sub("j"), fs, &log);
                     failed_closed += (log.saw_failed || log.failed_sessions > 0) ? 1 : 0;
                     const std::string why = CheckAfter(d.sub("j"), log);
                     if (std::getenv("TXJ_FAULT_VERBOSE")) {
                       std::printf("%s: %s%s\n", where.c_str(), fs->Injected() ? "" : "(not reached) ",
                                   Describe(log).c_str());
                     }
                     INFO("fault: ", where, "; ", Describe(log));
                     CHECK(why == "");
                     // After a one-time failure a journal that did not fail
                     // closed must not stay wedged.
                     if (!v.sticky) CHECK_FALSE(log.stuck);
                     return !log.errors.empty();
                   });
  std::printf("fault injection (nested transactions): %d runs failed the journal closed\n", failed_closed);
}

namespace {

bool IsSyncFailure(Code c) { return c == Code::kFailed || c == Code::kIOError; }

// What most tests here begin with: the journal directory "j" of a
// temporary directory, a FaultFileSystem to open it on, and the log of what
// the workload did.
struct FaultyJournal {
  TempDir d;
  const std::string dir = d.sub("j");
  std::shared_ptr<FaultFileSystem> fs = std::make_shared<FaultFileSystem>();
  WorkloadLog log;
};

}  // namespace

TEST_CASE_FIXTURE(FaultyJournal, "a failed fdatasync fails the commit and then the journal closed, and reopening recovers") {
  {
    auto j = test::OpenOrDie(dir, WorkloadOptions(fs));
    for (int i = 0; i < 3; ++i) TXJ_REQUIRE_OK(CommitSmall(*j, &log, 2));
    // Once only: the next sync of a segment would succeed again, and the
    // journal must still never report success.
    fs->ArmNext(FsOp::kSync, EIO, /*sticky=*/false, ".seg");
    auto failed = CommitSmall(*j, &log, 3);
    REQUIRE(!failed.ok());
    INFO("commit: ", failed.status().ToString());
    CHECK(IsSyncFailure(failed.status().code()));
    CHECK(fs->Injected() == 1);
    // Fails closed: nothing is accepted any more, though the disk "works".
    auto tx = j->begin();
    REQUIRE(!tx.ok());
    CHECK(tx.status().code() == Code::kFailed);
    CHECK(j->sync().code() == Code::kFailed);
    CHECK(CommitSmall(*j, &log, 1).status().code() == Code::kFailed);
    Status c = j->close();
    CHECK(!c.ok());
  }
  CHECK(log.commits.size() == 4);
  CHECK(log.acked_count() == 3);
  std::size_t recovered = 0;
  CHECK(CheckAfter(dir, log, &recovered) == "");
  CHECK(recovered >= 3);
}

TEST_CASE_FIXTURE(FaultyJournal, "after a failed sync an open transaction accepts nothing more and cannot commit") {
  {
    // Without commit durability the failing sync is the explicit one, made
    // while a transaction is open.
    Options o = WorkloadOptions(fs);
    o.durability = Durability::kNone;
    auto j = test::OpenOrDie(dir, o);
    for (int i = 0; i < 3; ++i) TXJ_REQUIRE_OK(CommitSmall(*j, &log, 2));
    auto tx = test::RequireOk(j->begin());
    TXJ_REQUIRE_OK(tx->append("t", "before", "x"));
    auto sub = test::RequireOk(tx->begin());
    TXJ_REQUIRE_OK(sub->append("t", "inner", "y"));
    fs->ArmNext(FsOp::kSync, EIO, /*sticky=*/false, ".seg");
    Status s = j->sync();
    INFO("sync: ", s.ToString());
    CHECK(IsSyncFailure(s.code()));
    CHECK(sub->append("t", "after", "z").code() == Code::kFailed);
    CHECK(sub->begin().status().code() == Code::kFailed);
    CHECK(sub->commit().status().code() == Code::kFailed);
    (void)sub->rollback();
    CHECK(tx->append("t", "after", "z").code() == Code::kFailed);
    CHECK(tx->commit().status().code() == Code::kFailed);
    CHECK(j->sync().code() == Code::kFailed);
    CHECK(j->begin_for(std::chrono::milliseconds(1)).status().code() != Code::kOk);
  }
  // kNone acknowledged nothing durable, but a process that did not crash
  // keeps its page cache: the three commits are there, the open one is not.
  std::size_t recovered = 0;
  CHECK(CheckAfter(dir, log, &recovered) == "");
  CHECK(recovered == 3);
}

TEST_CASE_FIXTURE(FaultyJournal, "no space for the next segment is a clear error, the transaction rolls back, and nothing committed is lost") {
  // The first segment is reserved at open; every later reservation of a
  // segment (created under a ".tmp" name) fails, as on a full disk.
  fs->Arm(FsOp::kAllocate, 2, ENOSPC, /*sticky=*/true, ".tmp");
  {
    auto j = test::OpenOrDie(dir, WorkloadOptions(fs));
    Status no_space;
    int committed = 0;
    // Fill the first segment until the roll is refused: transactions of
    // one 20 000-byte event, so the begin marker always still fits and the
    // event is what needs the next segment.
    for (int i = 0; i < 100 && no_space.ok(); ++i) {
      auto tx = test::RequireOk(j->begin());
      test::AttemptedCommit c;
      c.txn_id = tx->id();
      test::ModelEvent m;
      m.txn_id = c.txn_id;
      m.topic = "fill";
      m.type = "e";
      m.payload = std::string(20000, static_cast<char>('a' + i));
      Status s = tx->append(m.topic, m.type, m.payload);
      if (!s.ok()) {
        no_space = s;
        // The transaction can still be rolled back: the reserve at the end
        // of every segment holds its rollback marker.
        TXJ_CHECK_OK(tx->rollback());
        break;
      }
      c.events.push_back(std::move(m));
      log.commits.push_back(std::move(c));
      auto info = tx->commit();
      if (!info.ok()) {
        log.commits.back().code = info.status().code();
        no_space = info.status();
        break;
      }
      log.commits.back().info = *info;
      ++committed;
    }
    INFO("error: ", no_space.ToString());
    REQUIRE(!no_space.ok());
    CHECK(no_space.code() == Code::kNoSpace);
    CHECK(no_space.message().find("reserve") != std::string::npos);
    // Each transaction starts a page (the commit before it was synced) and
    // takes 5 of its 16 pages; the third's event would reach into the page
    // a durable writer keeps free at a segment's end, for moving past a gap.
    CHECK(committed == 2);
    // While the disk stays full, a transaction that needs a new segment
    // fails the same way and nothing is half-written.
    {
      auto tx = test::RequireOk(j->begin());
      Status s = tx->append("fill", "big", std::string(20000, 'z'));
      CHECK(s.code() == Code::kNoSpace);
      TXJ_CHECK_OK(tx->rollback());
    }
    // Space comes back: the journal goes on in a new segment. (The
    // background thread may have retried while the disk was still full:
    // that one failure is reported to the next roll, then it tries again.)
    fs->DisarmAll();
    auto again = CommitSmall(*j, &log, 30, 900);
    if (!again.ok()) {
      CHECK(again.status().code() == Code::kNoSpace);
      again = CommitSmall(*j, &log, 30, 900);
    }
    TXJ_CHECK_OK(again);
    TXJ_CHECK_OK(j->close());
  }
  CHECK(fs->Injected() >= 2);
  std::size_t recovered = 0;
  CHECK(CheckAfter(dir, log, &recovered) == "");
  CHECK(recovered == log.acked_count());
}

TEST_CASE_FIXTURE(FaultyJournal, "one failed directory sync while preparing the next segment does not wedge the writer") {
  // Regression: the segment, renamed into place before the directory sync
  // failed, stayed behind, and every later attempt refused to replace it.
  {
    auto j = test::OpenOrDie(dir, WorkloadOptions(fs));
    // Wait for the background thread to prepare the second segment
    // (renames: manifest, first segment, second segment).
    for (int i = 0; i < 5000 && fs->Count(FsOp::kRename) < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(fs->Count(FsOp::kRename) >= 3);
    fs->ArmNext(FsOp::kDirSync, EIO);  // hits the preparation of the third
    int failures = 0, after_failure = 0;
    for (int i = 0; i < 40; ++i) {
      auto r = CommitSmall(*j, &log, 1, 5000);
      if (!r.ok()) {
        INFO("commit ", i, ": ", r.status().ToString());
        CHECK(r.status().code() == Code::kIOError);
        ++failures;
      } else if (failures > 0) {
        ++after_failure;
      }
    }
    CHECK(fs->Injected() == 1);
    CHECK(failures == 1);
    CHECK(after_failure > 10);
    TXJ_CHECK_OK(j->close());
  }
  CHECK(CheckAfter(dir, log) == "");
}

TEST_CASE_FIXTURE(FaultyJournal,
                  "a writer waiting for the next segment gets the error when the journal fails closed meanwhile") {
  // Regression: Roll waited for a prepared segment (or a preparation error),
  // but the background thread prepares none once the journal failed closed,
  // and nothing woke the writer: a journal failed by a sync on another
  // thread (the sealer's, in the fault walk with a consumer) after the
  // writer's last check hung it for good. Here the background thread is
  // held in its periodic sync while the writer waits for the segment it
  // would prepare next; that sync then fails and fails the journal closed.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool armed = false, held = false, released = false;
  } gate;
  // Holds the first sync after arming (the background thread's: the
  // writer syncs nothing under kPeriodic, and no segment is sealed yet)
  // until released.
  fs->SetObserver([&gate](FsOp op, const std::string&) {
    if (op != FsOp::kSync) return;
    std::unique_lock<std::mutex> lock(gate.mu);
    if (!gate.armed || gate.held) return;
    gate.held = true;
    gate.cv.notify_all();
    gate.cv.wait(lock, [&gate] { return gate.released; });
  });
  Options o = WorkloadOptions(fs);
  o.durability = Durability::kPeriodic;
  o.sync_interval = std::chrono::milliseconds(1);
  {
    auto j = test::OpenOrDie(dir, o);
    internal::JournalState& s = internal::JournalAccess::state(*j);
    {
      // The second segment is prepared before the background thread is held.
      std::unique_lock<std::mutex> lock(s.bg_mu);
      s.bg_cv.wait(lock, [&s] { return s.prepared || !s.prepare_error.ok(); });
      REQUIRE(s.prepared);
    }
    {
      std::lock_guard<std::mutex> lock(gate.mu);
      gate.armed = true;
    }
    TXJ_REQUIRE_OK(CommitSmall(*j, &log, 1, 20000));  // something for the periodic sync to sync
    {
      std::unique_lock<std::mutex> lock(gate.mu);
      gate.cv.wait(lock, [&gate] { return gate.held; });
    }
    // The writer (this thread, so far) rolls into the prepared segment.
    const std::uint64_t first = s.active->base();
    while (s.active->base() == first) TXJ_REQUIRE_OK(CommitSmall(*j, &log, 1, 20000));
    // Another writer fills the second segment and waits in the next roll:
    // Roll wakes this thread (bg_cv, held meanwhile), then waits itself.
    // While the background thread is held, that roll is the only notifier
    // of bg_cv (a spurious wake-up could only let the writer see the
    // failure before its roll: a pass without the race, never a failure).
    Status w_status;
    std::unique_lock<std::mutex> bg(s.bg_mu);
    std::thread w([&] {
      auto tx = j->begin();
      if (!tx.ok()) {
        w_status = tx.status();
        return;
      }
      for (int i = 0; i < 8 && w_status.ok(); ++i) w_status = tx->append("fill", "w", std::string(20000, 'w'));
    });
    s.bg_cv.wait(bg);
    bg.unlock();
    // The held sync fails, and so the journal closed.
    fs->ArmNext(FsOp::kSync, EIO, /*sticky=*/true);
    {
      std::lock_guard<std::mutex> lock(gate.mu);
      gate.released = true;
    }
    gate.cv.notify_all();
    w.join();  // hung here: the writer waited for a segment nothing would prepare
    INFO("append: ", w_status.ToString());
    CHECK(w_status.code() == Code::kFailed);
    CHECK(j->close().code() == Code::kFailed);
  }
  CHECK(CheckAfter(dir, log) == "");
}

TEST_CASE("a read-only file system or missing permissions fail a writable open with an I/O error naming the file") {
  // Simulated through the file-system layer: the suite may run as root,
  // which permission bits do not stop.
  TempDir d;
  const std::string dir = d.sub("j");
  WorkloadLog log;
  CreateWithCommits(dir, &log, 3);
  {
    // A read-only file system: reading works, creating the new manifest
    // (the writer's epoch) does not.
    auto fs = std::make_shared<FaultFileSystem>();
    fs->Arm(FsOp::kOpen, 1, EROFS, /*sticky=*/true, "JOURNAL.tmp");
    auto j = Journal::open(dir, WorkloadOptions(fs));
    REQUIRE(!j.ok());
    INFO(j.status().ToString());
    CHECK(j.status().code() == Code::kIOError);
    CHECK(j.status().message().find("JOURNAL.tmp") != std::string::npos);
    // Read-only opens need none of that.
    Options ro;
    ro.read_only = true;
    ro.file_system = fs;
    auto r = test::RequireOk(Journal::open(dir, ro));
    CHECK((*r)->next_offset() == 3);
  }
  {
    // No permission to open anything.
    auto fs = std::make_shared<FaultFileSystem>();
    fs->Arm(FsOp::kOpen, 1, EACCES, /*sticky=*/true);
    auto j = Journal::open(dir, WorkloadOptions(fs));
    REQUIRE(!j.ok());
    INFO(j.status().ToString());
    CHECK(j.status().code() == Code::kIOError);
    // The first file a writer opens is its lock.
    CHECK(j.status().message().find(dir + "/LOCK") != std::string::npos);
  }
  // Nothing was changed by the refused opens.
  CHECK(CheckAfter(dir, log) == "");
}

TEST_CASE("a failure on the LOCK file or the HEAD page fails the writable open, names the file, and loses nothing") {
  struct Case {
    FsOp op;
    int error;
    const char* file;
  };
  const Case cases[] = {
      {FsOp::kOpen, EIO, "LOCK"},      {FsOp::kOpen, EACCES, "LOCK"},  {FsOp::kOpen, EIO, "HEAD"},
      {FsOp::kAllocate, ENOSPC, "HEAD"}, {FsOp::kMap, ENOMEM, "HEAD"},
  };
  for (const Case& c : cases) {
    CAPTURE(test::FsOpName(c.op));
    CAPTURE(c.file);
    TempDir d;
    const std::string dir = d.sub("j");
    WorkloadLog log;
    CreateWithCommits(dir, &log, 3);
    auto fs = std::make_shared<FaultFileSystem>();
    fs->Arm(c.op, 1, c.error, /*sticky=*/true, c.file);
    {
      auto j = Journal::open(dir, WorkloadOptions(fs));
      REQUIRE(!j.ok());
      INFO(j.status().ToString());
      CHECK(j.status().code() == (c.error == ENOSPC ? Code::kNoSpace : Code::kIOError));
      CHECK(j.status().message().find(dir + "/" + c.file) != std::string::npos);
    }
    // The failed open let go of the lock: a writer in this process gets it,
    // and finds every commit.
    CHECK(CheckAfter(dir, log) == "");
  }
}
