// Recycled segments: retired segment files reused as new segments
// (Options::recycled_segments; docs/format.md "Recycled segments"). A
// recycled segment holds the old segment's bytes after its own records:
// these tests check that they never read as records, across clean closes,
// crashes, reopens and gaps. At the end: retention without commit
// durability, written down only as far as its commits are synced.
#include <fcntl.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "format.h"
#include "forwarding_fs.h"
#include "journal_state.h"
#include "manifest.h"
#include "reliability_workload.h"
#include "segment.h"
#include "test_util.h"
#include "txn_model.h"

using namespace txj;
namespace fsys = std::filesystem;

namespace {

// The flags of a segment file's header (format 3), read raw.
std::uint64_t SegmentFlags(const std::string& path) {
  const std::string d = test::ReadFile(path);
  std::uint64_t f = ~0ull;
  if (d.size() >= format::kSegmentFlagsOffset + 8) std::memcpy(&f, d.data() + format::kSegmentFlagsOffset, 8);
  return f;
}

std::vector<std::string> Files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : fsys::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

int RecycledSegments(const std::string& dir) {
  int n = 0;
  for (const auto& p : Files(dir, ".seg")) n += (SegmentFlags(p) & format::kSegmentRecycled) ? 1 : 0;
  return n;
}

// The journal's committed events as the test made them: payload by offset.
struct Model {
  std::vector<std::string> payloads;
  std::uint64_t first = 0;  // retention offset applied
};

// Commits one transaction of 1-12 events of 8-700 bytes; sometimes a
// sub-transaction of it rolls back (its events never count).
void CommitOne(Journal& j, Model& m, std::mt19937_64& rng) {
  auto tx = test::RequireOk(j.begin());
  const int n = 1 + static_cast<int>(rng() % 12);
  std::vector<std::string> mine;
  for (int k = 0; k < n; ++k) {
    std::string p(8 + rng() % 700, static_cast<char>('a' + rng() % 26));
    p += std::to_string(m.payloads.size() + mine.size());
    TXJ_REQUIRE_OK(tx->append("t", "e", p));
    mine.push_back(p);
    if (rng() % 9 == 0) {
      auto sub = test::RequireOk(tx->begin());
      TXJ_REQUIRE_OK(sub->append("t", "gone", "rolled back " + p));
      TXJ_REQUIRE_OK(sub->rollback());
    }
  }
  auto info = test::RequireOk(tx->commit());
  REQUIRE(info->first_offset == m.payloads.size());
  for (auto& p : mine) m.payloads.push_back(std::move(p));
}

// The committed view from the journal's start equals the model.
void CheckView(Journal& j, const Model& m) {
  REQUIRE(j.first_offset() == m.first);
  REQUIRE(j.next_offset() == m.payloads.size());
  auto view = test::RequireOk(test::ReadView(j, m.first));
  REQUIRE(view->size() == m.payloads.size() - m.first);
  bool same = true;
  for (std::size_t k = 0; k < view->size(); ++k) {
    same = same && (*view)[k].offset == m.first + k && (*view)[k].payload == m.payloads[m.first + k];
  }
  CHECK(same);
}

// Waits until every segment of `j` but the last is sealed; false if that
// takes more than a minute.
bool WaitSealed(Journal& j) {
  internal::JournalState& s = internal::JournalAccess::state(j);
  for (int i = 0; i < 60000; ++i) {
    auto all = s.segments->All();
    if (std::all_of(all.begin(), all.end() - (all.empty() ? 0 : 1),
                    [](const auto& seg) { return seg->known_sealed(); })) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

// Commits `n` transactions, applying retention every 10 so that about
// `window` events stay.
void SteadyWindow(Journal& j, Model& m, std::mt19937_64& rng, int n, std::uint64_t window) {
  for (int i = 0; i < n; ++i) {
    CommitOne(j, m, rng);
    if (i % 10 == 9 && m.payloads.size() > window) {
      m.first = std::max(m.first, static_cast<std::uint64_t>(m.payloads.size()) - window);
      TXJ_REQUIRE_OK(j.apply_retention(m.first));
    }
  }
}

// Commits one small transaction (1-3 events of 20-80 bytes).
void CommitSmall(Journal& j, Model& m, std::mt19937_64& rng) {
  auto tx = test::RequireOk(j.begin());
  const int n = 1 + static_cast<int>(rng() % 3);
  std::vector<std::string> mine;
  for (int k = 0; k < n; ++k) {
    std::string p(20 + rng() % 60, static_cast<char>('A' + rng() % 26));
    TXJ_REQUIRE_OK(tx->append("t", "small", p));
    mine.push_back(p);
  }
  auto info = test::RequireOk(tx->commit());
  REQUIRE(info->first_offset == m.payloads.size());
  for (auto& p : mine) m.payloads.push_back(std::move(p));
}

void WriteWhole(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

// The segment file holding `lsn`.
std::string SegmentOf(const std::string& dir, std::uint64_t lsn) {
  const std::uint64_t size = 64 * 1024;
  return dir + "/" + internal::SegmentFileName(lsn / size * size);
}

}  // namespace

TEST_CASE("a journal that keeps a steady window reuses retired segment files and replays every event after each reopen") {
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d), ", seed ", test::Seed());
    test::TempDir dir;
    std::mt19937_64 rng(test::Seed() + static_cast<std::uint64_t>(d));
    Model m;
    int most_recycled = 0;
    for (int session = 0; session < 4; ++session) {
      auto j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
      // Every session but the first opens a cleanly closed journal, whose
      // tail may lie in a recycled segment: no repair.
      CHECK(j->recovery_report().repairs.empty());
      CheckView(*j, m);
      SteadyWindow(*j, m, rng, 150, 400);
      CheckView(*j, m);
      TXJ_REQUIRE_OK(j->close());
      most_recycled = std::max(most_recycled, RecycledSegments(dir.path()));
      CHECK(Files(dir.path(), ".free").size() <= 2);
      CHECK(test::WalkProblems(dir.path(), /*allow_tail=*/false) == "");
    }
    CHECK(most_recycled >= 1);
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    CheckView(*j, m);
  }
}

TEST_CASE("retention removes a segment that ends inside a transaction together with the one where it ends") {
  // Transactions larger than a sixteenth of the segment cross segment
  // boundaries; such a segment once stopped retention from removing it
  // and every segment after it.
  for (std::size_t keep : {std::size_t{0}, std::size_t{2}}) {
    INFO("recycled_segments ", keep);
    test::TempDir dir;
    Options o = test::SmallOptions(Durability::kNone);
    o.recycled_segments = keep;
    Model m;
    {
      auto j = test::OpenOrDie(dir.path(), o);
      for (int i = 0; i < 60; ++i) {
        auto tx = test::RequireOk(j->begin());
        for (int k = 0; k < 3; ++k) {
          m.payloads.push_back(std::string(2000, static_cast<char>('a' + (i + k) % 26)) + std::to_string(i));
          TXJ_REQUIRE_OK(tx->append("t", "e", m.payloads.back()));
        }
        TXJ_REQUIRE_OK(tx->commit().status());
      }
      TXJ_REQUIRE_OK(j->close());
    }
    const std::size_t before = Files(dir.path(), ".seg").size();
    REQUIRE(before >= 6);
    auto j = test::OpenOrDie(dir.path(), o);
    m.first = m.payloads.size() - 3;
    TXJ_REQUIRE_OK(j->apply_retention(m.first));
    CheckView(*j, m);
    // What is left: the last transaction's segments (it may cross one
    // boundary), the prepared one, and one the catalog's checkpoint names.
    CHECK(Files(dir.path(), ".seg").size() <= 4);
    CHECK(Files(dir.path(), ".free").size() <= keep);
    TXJ_REQUIRE_OK(j->close());
    auto again = test::OpenOrDie(dir.path(), o);
    CheckView(*again, m);
  }
}

TEST_CASE("with recycled_segments 0 retired segment files are removed and every segment is a new file") {
  test::TempDir dir;
  Options o = test::SmallOptions(Durability::kNone);
  o.recycled_segments = 0;
  std::mt19937_64 rng(test::Seed());
  Model m;
  auto j = test::OpenOrDie(dir.path(), o);
  SteadyWindow(*j, m, rng, 300, 300);
  CheckView(*j, m);
  TXJ_REQUIRE_OK(j->close());
  CHECK(Files(dir.path(), ".free").empty());
  CHECK(RecycledSegments(dir.path()) == 0);
}

TEST_CASE("a retired file that another descriptor holds open is not reused until it is closed") {
  test::TempDir dir;
  std::mt19937_64 rng(test::Seed());
  Model m;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
  // Segments that retention retires into the pool: many written, all of
  // them sealed (the sealing thread runs behind the writer), then dropped.
  SteadyWindow(*j, m, rng, 200, 200);
  TXJ_REQUIRE_OK(j->sync());
  REQUIRE(WaitSealed(*j));
  TXJ_REQUIRE_OK(j->apply_retention(m.first));
  const std::vector<std::string> pool = Files(dir.path(), ".free");
  REQUIRE(!pool.empty());
  // A reader elsewhere (here: a descriptor of this process) still has them.
  std::vector<int> fds;
  for (const auto& p : pool) fds.push_back(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
  for (int fd : fds) REQUIRE(fd >= 0);
  const int recycled_before = RecycledSegments(dir.path());
  // Enough appends for several new segments: none of them is a held file.
  const std::uint64_t until = m.payloads.size() + 600;
  while (m.payloads.size() < until) CommitOne(*j, m, rng);
  for (const auto& p : pool) CHECK(fsys::exists(p));
  CHECK(RecycledSegments(dir.path()) <= recycled_before);
  CheckView(*j, m);
  for (int fd : fds) ::close(fd);
  // Released: the next segments reuse them.
  for (int i = 0; i < 200 && RecycledSegments(dir.path()) == 0; ++i) SteadyWindow(*j, m, rng, 10, 200);
  CHECK(RecycledSegments(dir.path()) >= 1);
  CheckView(*j, m);
}

TEST_CASE("recycling refuses a retired file of another size and one that is open elsewhere") {
  test::TempDir dir;
  auto fs = DefaultFileSystem();
  internal::ManifestData m{};
  m.segment_size = 64 * 1024;
  const std::string small = dir.sub("0000000000000000.free");
  {
    int fd = ::open(small.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 8192) == 0);
    ::close(fd);
  }
  auto r = internal::Segment::Recycle(fs, dir.path(), m, 1 << 20, small);
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find("8192") != std::string::npos);
  REQUIRE(::truncate(small.c_str(), 64 * 1024) == 0);
  const int held = ::open(small.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held >= 0);
  r = internal::Segment::Recycle(fs, dir.path(), m, 1 << 20, small);
  CHECK(r.status().code() == Code::kBusy);
  // A file system that cannot tell: never reused.
  struct CannotTell final : test::ForwardingFileSystem {
    int CheckOnlyOpen(int) override { return ENOTSUP; }
  };
  r = internal::Segment::Recycle(std::make_shared<CannotTell>(), dir.path(), m, 1 << 20, small);
  CHECK(r.status().code() == Code::kNotSupported);
  ::close(held);
  r = internal::Segment::Recycle(fs, dir.path(), m, 1 << 20, small);
  REQUIRE(r.ok());
  CHECK((*r)->recycled());
  CHECK(!fsys::exists(small));
  CHECK(fsys::exists(dir.sub(internal::SegmentFileName(1 << 20))));
}

TEST_CASE("a segment whose flags do not verify is corruption, and one with unknown flags is not supported") {
  test::TempDir dir;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    auto tx = test::RequireOk(j->begin());
    TXJ_REQUIRE_OK(tx->append("t", "e", "x"));
    TXJ_REQUIRE_OK(tx->commit());
    TXJ_REQUIRE_OK(j->close());
  }
  const std::string seg = Files(dir.path(), ".seg").front();
  std::string bytes = test::ReadFile(seg);
  const std::string original = bytes;
  bytes[format::kSegmentFlagsOffset] ^= 0x10;  // the checksum no longer matches
  WriteWhole(seg, bytes);
  auto j = Journal::open(dir.path(), test::SmallOptions());
  REQUIRE(!j.ok());
  CHECK(j.status().code() == Code::kCorruption);
  CHECK(j.status().message().find("segment flags checksum mismatch at byte 72") != std::string::npos);
  // Flags this build does not know, with their checksum: a newer format's.
  format::SegmentHeader h;
  std::memcpy(&h, original.data(), sizeof h);
  const format::SegmentFlagsSlot f = internal::MakeSegmentFlags(h, 0x100);
  bytes = original;
  std::memcpy(bytes.data() + format::kSegmentFlagsOffset, &f, sizeof f);
  WriteWhole(seg, bytes);
  j = Journal::open(dir.path(), test::SmallOptions());
  REQUIRE(!j.ok());
  CHECK(j.status().code() == Code::kNotSupported);
}

TEST_CASE("after a crash in a recycled segment, records left past the tail never read as new ones") {
  // A writer keeps a steady window until it writes in a recycled segment;
  // a process commits twelve more and dies, and a record of one of them is
  // damaged (a torn write above the synced watermark), so the journal ends
  // there with valid records of that session after the end. Session B
  // writes fewer bytes over them and closes; session C (kCommit: it goes
  // past a gap over old bytes) does the same. Every open shows exactly the
  // commits before the damage, then B's, then C's.
  test::TempDir dir;
  std::mt19937_64 rng(test::Seed() ^ 0x7ec7c1e);
  Model m;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
    for (int i = 0; i < 400; ++i) {
      SteadyWindow(*j, m, rng, 10, 300);
      if (SegmentFlags(SegmentOf(dir.path(), j->visible_lsn())) & format::kSegmentRecycled) break;
    }
    TXJ_REQUIRE_OK(j->close());
  }
  const std::uint64_t before_crash = m.payloads.size();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto j = Journal::open(dir.path(), test::SmallOptions(Durability::kNone));
    if (!j.ok()) ::_exit(2);
    Model child = m;
    std::mt19937_64 child_rng(7);
    for (int i = 0; i < 12; ++i) CommitSmall(**j, child, child_rng);
    ::_exit(0);  // no close: the tail is left as a crash leaves it
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  // The crashed session's commits as a reader sees them: payloads, and the
  // first event (offset, LSN) of each.
  std::vector<std::string> all = m.payloads;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> firsts;
  {
    auto j = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
    auto c = test::RequireOk(j->open_cursor(before_crash));
    std::uint64_t last_txn = 0;
    for (;;) {
      auto e = c->next();
      REQUIRE(e.ok());
      if (!e->has_value()) break;
      const Event& ev = **e;
      if (ev.txn_id != last_txn) firsts.emplace_back(ev.offset, ev.lsn);
      last_txn = ev.txn_id;
      all.push_back(std::string(ev.payload));
    }
  }
  REQUIRE(firsts.size() == 12);
  // The damaged commit: the first of the last four that starts in the
  // segment the last one ends in, so that valid records follow it there.
  const std::string seg_path = SegmentOf(dir.path(), firsts.back().second);
  std::size_t k = 8;
  while (k < 11 && SegmentOf(dir.path(), firsts[k].second) != seg_path) ++k;
  REQUIRE(SegmentOf(dir.path(), firsts[k].second) == seg_path);
  REQUIRE((SegmentFlags(seg_path) & format::kSegmentRecycled) != 0);
  const std::uint64_t seg_base = firsts[k].second / (64 * 1024) * (64 * 1024);
  std::string bytes = test::ReadFile(seg_path);
  std::uint64_t watermark = 0;
  std::memcpy(&watermark, bytes.data() + format::kWatermarkOffset, 8);
  REQUIRE(watermark < firsts[k].second);  // the crashed writer never synced
  bytes[firsts[k].second - seg_base + format::kRecordHeaderSize + 20] ^= 0x5a;  // its body: checksum mismatch
  WriteWhole(seg_path, bytes);
  m.payloads.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(firsts[k].first));
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
    CHECK(!j->recovery_report().repairs.empty());  // the tail, and the transaction it left open
    CheckView(*j, m);
    CommitSmall(*j, m, rng);
    CheckView(*j, m);
    TXJ_REQUIRE_OK(j->close());
  }
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
    CHECK(j->recovery_report().repairs.empty());  // closed cleanly: the end is the watermark
    CheckView(*j, m);
    CommitSmall(*j, m, rng);  // past a gap over the old records
    CheckView(*j, m);
    TXJ_REQUIRE_OK(j->close());
  }
  CHECK(test::WalkProblems(dir.path(), /*allow_tail=*/false) == "");
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  CHECK(j->recovery_report().repairs.empty());
  CheckView(*j, m);
  SteadyWindow(*j, m, rng, 100, 300);
  CheckView(*j, m);
}

TEST_CASE("segment files before the journal's start that a crash left, with gaps between them, are removed on open") {
  // Retention renames (or removes) front segments after the manifest moved
  // the start past them; a crash can make a later rename durable and undo
  // an earlier one, leaving old segments with holes between them.
  test::TempDir dir;
  Options o = test::SmallOptions(Durability::kNone);
  o.recycled_segments = 0;
  std::mt19937_64 rng(test::Seed());
  Model m;
  std::vector<std::pair<std::string, std::string>> saved;  // path, bytes
  {
    auto j = test::OpenOrDie(dir.path(), o);
    while (Files(dir.path(), ".seg").size() < 7) CommitSmall(*j, m, rng);
    TXJ_REQUIRE_OK(j->close());
  }
  for (const auto& p : Files(dir.path(), ".seg")) saved.emplace_back(p, test::ReadFile(p));
  {
    auto j = test::OpenOrDie(dir.path(), o);  // its checkpoint names the last segment
    m.first = m.payloads.size() - 2;
    TXJ_REQUIRE_OK(j->apply_retention(m.first));
    TXJ_REQUIRE_OK(j->close());
  }
  REQUIRE(!fsys::exists(saved[0].first));
  REQUIRE(!fsys::exists(saved[2].first));
  // The first and third come back, the second does not.
  for (int k : {0, 2}) {
    const int fd = ::open(saved[k].first.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, saved[k].second.data(), saved[k].second.size()) == static_cast<ssize_t>(saved[k].second.size()));
    ::close(fd);
  }
  {
    auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
    CheckView(*ro, m);
  }
  auto j = test::OpenOrDie(dir.path(), o);
  CheckView(*j, m);
  CHECK(!fsys::exists(saved[0].first));
  CHECK(!fsys::exists(saved[2].first));
}

TEST_CASE("a segment a read-only journal still maps is not reused while that journal is open") {
  // A read-only open keeps sealed segments as mappings only (no
  // descriptor); the mapping alone keeps the retired file out of use.
  test::TempDir dir;
  std::mt19937_64 rng(test::Seed());
  Model m;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
    while (Files(dir.path(), ".seg").size() < 5) CommitSmall(*j, m, rng);
    TXJ_REQUIRE_OK(j->close());
  }
  const std::vector<std::string> first_files = Files(dir.path(), ".seg");
  auto reader = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  auto cursor = test::RequireOk(reader->open_cursor(0));
  auto e = cursor->next();  // reads (maps) the first segment
  REQUIRE(e.ok());
  REQUIRE(e->has_value());
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
  m.first = m.payloads.size() - 1;
  TXJ_REQUIRE_OK(j->apply_retention(m.first));
  REQUIRE(!Files(dir.path(), ".free").empty());
  const std::string held = Files(dir.path(), ".free").front();  // the oldest: the first segment's file
  // Several new segments: none is the held file.
  const std::size_t segments = Files(dir.path(), ".seg").size();
  while (Files(dir.path(), ".seg").size() < segments + 4) CommitSmall(*j, m, rng);
  CHECK(fsys::exists(held));
  CheckView(*j, m);
  // The reader still reads the old segment's bytes as they were.
  CHECK((*e)->offset == 0);
  auto next = cursor->next();
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK((**next).offset == 1);
  CHECK(std::string((**next).payload) == m.payloads[1]);
}

// Retention without commit durability (include/txjournal/journal.h,
// apply_retention): readers get kTruncated below the offset at once, the
// manifest gets it only as far as the commits below it are on stable
// storage (no sync is waited for), and close() writes the rest down.
namespace {

std::uint64_t WrittenRetention(const std::string& dir) {
  internal::ManifestData m;
  TXJ_REQUIRE_OK(internal::ReadManifest(*DefaultFileSystem(), dir, &m));
  return m.retention_offset;
}

// Commits `n` transactions of 25 events of 100 bytes; returns their first
// offsets.
std::vector<std::uint64_t> CommitMany(Journal& j, Model& m, int n) {
  std::vector<std::uint64_t> firsts;
  for (int i = 0; i < n; ++i) {
    auto tx = test::RequireOk(j.begin());
    for (int k = 0; k < 25; ++k) {
      std::string p(100, static_cast<char>('a' + (m.payloads.size() % 26)));
      TXJ_REQUIRE_OK(tx->append("t", "e", p));
      m.payloads.push_back(std::move(p));
    }
    auto info = test::RequireOk(tx->commit());
    REQUIRE(info->first_offset + 25 == m.payloads.size());
    firsts.push_back(info->first_offset);
  }
  return firsts;
}

}  // namespace

TEST_CASE("without commit durability retention takes effect for readers at once and is written down as far as its commits are synced") {
  test::TempDir dir;
  Model m;
  std::vector<std::uint64_t> firsts;
  {
    // No background thread: nothing is synced but by sync().
    auto j = test::RequireOk(internal::OpenWithoutCatalog(dir.path(), test::SmallOptions(Durability::kNone),
                                                          /*without_threads=*/true));
    Journal& jr = **j;
    firsts = CommitMany(jr, m, 60);
    // Nothing synced: the offset is for readers only.
    m.first = firsts[50];
    TXJ_REQUIRE_OK(jr.apply_retention(m.first));
    CHECK(jr.first_offset() == m.first);
    CHECK(jr.open_cursor(m.first - 1).status().code() == Code::kTruncated);
    CheckView(jr, m);
    CHECK(WrittenRetention(dir.path()) == 0);
    // A lower offset changes nothing readers see.
    TXJ_REQUIRE_OK(jr.apply_retention(firsts[10]));
    CHECK(jr.first_offset() == m.first);
    // A crash now (the files as they are, page cache included) leaves the
    // journal starting where the manifest says, with every event from there.
    {
      test::TempDir crashed;
      std::filesystem::copy(dir.path(), crashed.path(), std::filesystem::copy_options::recursive |
                                                           std::filesystem::copy_options::overwrite_existing);
      auto c = test::OpenOrDie(crashed.path(), test::SmallOptions(Durability::kNone));
      CHECK(c->first_offset() == 0);
      Model all = m;
      all.first = 0;
      CheckView(*c, all);
    }
    // Synced, the same call writes it down.
    TXJ_REQUIRE_OK(jr.sync());
    TXJ_REQUIRE_OK(jr.apply_retention(m.first));
    CHECK(WrittenRetention(dir.path()) == m.first);
    // Commits past the last sync: written down up to a transaction's first
    // offset whose commits below are all synced (the offset index's
    // granularity), never past them.
    const std::size_t synced_commits = firsts.size();
    auto more = CommitMany(jr, m, 160);
    firsts.insert(firsts.end(), more.begin(), more.end());
    TXJ_REQUIRE_OK(jr.sync());
    const std::uint64_t synced_end = m.payloads.size();
    more = CommitMany(jr, m, 40);
    firsts.insert(firsts.end(), more.begin(), more.end());
    m.first = firsts[firsts.size() - 5];
    TXJ_REQUIRE_OK(jr.apply_retention(m.first));
    CHECK(jr.first_offset() == m.first);
    const std::uint64_t written = WrittenRetention(dir.path());
    INFO("written down ", written, ", synced up to offset ", synced_end);
    CHECK(written > firsts[synced_commits]);
    CHECK(written <= synced_end);
    CHECK(std::find(firsts.begin(), firsts.end(), written) != firsts.end());
    CheckView(jr, m);
    TXJ_REQUIRE_OK(jr.close());
    CHECK(WrittenRetention(dir.path()) == m.first);
  }
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kNone));
  CheckView(*j, m);
  TXJ_REQUIRE_OK(j->close());
  CHECK(test::WalkProblems(dir.path(), /*allow_tail=*/false) == "");
}

TEST_CASE("with commit durability retention is written down before apply_retention returns") {
  test::TempDir dir;
  Model m;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  auto firsts = CommitMany(*j, m, 60);
  m.first = firsts[45] + 7;
  TXJ_REQUIRE_OK(j->apply_retention(m.first));
  CHECK(WrittenRetention(dir.path()) == m.first);
  CheckView(*j, m);
}

namespace {

// Counts the pages of zeros a durable writer writes ahead of its commits
// (PWrite of exactly one page of zero bytes at a page boundary), and those
// of them that land where the file's blocks are written already: before
// the written prefix the file system reports for the file at that moment.
class ZerosAheadFs final : public test::ForwardingFileSystem {
 public:
  int WrittenPrefix(int fd, std::uint64_t size, std::uint64_t* end) override {
    const int r = ForwardingFileSystem::WrittenPrefix(fd, size, end);
    std::lock_guard<std::mutex> lock(mu_);
    if (r == 0) {
      ++asked_;
      if (*end > 0) ++reported_written_;
    }
    return r;
  }
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override {
    static const std::string kZeroPage(4096, '\0');
    if (n == kZeroPage.size() && o % n == 0 && std::memcmp(d, kZeroPage.data(), n) == 0) {
      std::uint64_t size = 0, written = 0;
      (void)base_->FileSize(fd, &size);
      (void)base_->WrittenPrefix(fd, size, &written);
      std::lock_guard<std::mutex> lock(mu_);
      ++zero_pages_;
      if (o < written) ++zero_pages_inside_;
    }
    return ForwardingFileSystem::PWrite(fd, d, n, o);
  }
  int zero_pages() { return test::ReadLocked(mu_, zero_pages_); }
  int zero_pages_inside() { return test::ReadLocked(mu_, zero_pages_inside_); }
  int asked() { return test::ReadLocked(mu_, asked_); }
  int reported_written() { return test::ReadLocked(mu_, reported_written_); }

 private:
  std::mutex mu_;
  int zero_pages_ = 0, zero_pages_inside_ = 0, asked_ = 0, reported_written_ = 0;
};

// Remembers, per open descriptor, the written prefix the journal was told
// (FileSystem::WrittenPrefix), and counts the writes that end inside it
// and those of them that end in the middle of a page (the kernel reads
// such a page from the disk when it is not cached); counts the pages the
// journal asks to drop from the cache.
class WholePagesFs final : public test::ForwardingFileSystem {
 public:
  int WrittenPrefix(int fd, std::uint64_t size, std::uint64_t* end) override {
    const int r = ForwardingFileSystem::WrittenPrefix(fd, size, end);
    std::lock_guard<std::mutex> lock(mu_);
    if (r == 0) prefix_[fd] = *end;
    return r;
  }
  int DropCachedPages(int fd, std::uint64_t offset, std::uint64_t n) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++drops_;
      if (offset < 4096) ++drops_of_header_;
    }
    return ForwardingFileSystem::DropCachedPages(fd, offset, n);
  }
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = prefix_.find(fd);
      const std::uint64_t end = o + n;
      if (it != prefix_.end() && o >= 4096 && (end + 4095) / 4096 * 4096 <= it->second) {
        ++inside_;
        if (end % 4096 != 0) ++inside_partial_;
      }
    }
    return ForwardingFileSystem::PWrite(fd, d, n, o);
  }
  int Close(int fd) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      prefix_.erase(fd);
    }
    return ForwardingFileSystem::Close(fd);
  }
  int drops() { return test::ReadLocked(mu_, drops_); }
  int drops_of_header() { return test::ReadLocked(mu_, drops_of_header_); }
  int inside() { return test::ReadLocked(mu_, inside_); }
  int inside_partial() { return test::ReadLocked(mu_, inside_partial_); }

 private:
  std::mutex mu_;
  std::map<int, std::uint64_t> prefix_;
  int drops_ = 0, drops_of_header_ = 0, inside_ = 0, inside_partial_ = 0;
};

bool OnExt4(const std::string& dir) {
  struct statfs s;
  return ::statfs(dir.c_str(), &s) == 0 && s.f_type == 0xEF53;
}

}  // namespace

TEST_CASE("the POSIX file system counts as written only blocks written, not holes nor blocks only reserved") {
  test::TempDir dir;
  auto fs = DefaultFileSystem();
  const std::uint64_t kSize = 1 << 20;
  auto make = [&](const std::string& name, auto&& fill) {
    const std::string path = dir.path() + "/" + name;
    int fd = -1;
    REQUIRE(fs->Open(path, O_RDWR | O_CREAT | O_TRUNC, 0644, &fd) == 0);
    fill(fd);
    REQUIRE(fs->DataSync(fd) == 0);
    std::uint64_t end = ~0ull;
    REQUIRE(fs->WrittenPrefix(fd, kSize, &end) == 0);
    fs->Close(fd);
    return end;
  };
  const std::string data(kSize, 'x');
  const std::uint64_t whole = make("whole", [&](int fd) { REQUIRE(fs->PWrite(fd, data.data(), kSize, 0) == 0); });
  const std::uint64_t reserved = make("reserved", [&](int fd) {
    REQUIRE(fs->Truncate(fd, kSize) == 0);
    REQUIRE(fs->Allocate(fd, 0, kSize) == 0);
  });
  const std::uint64_t part = make("part", [&](int fd) {
    REQUIRE(fs->Truncate(fd, kSize) == 0);
    REQUIRE(fs->Allocate(fd, 0, kSize) == 0);
    REQUIRE(fs->PWrite(fd, data.data(), 256 << 10, 0) == 0);
  });
  const std::uint64_t sparse = make("sparse", [&](int fd) {
    REQUIRE(fs->Truncate(fd, kSize) == 0);
    REQUIRE(fs->PWrite(fd, data.data(), 4096, kSize / 2) == 0);
  });
  INFO("whole ", whole, ", reserved ", reserved, ", part ", part, ", sparse ", sparse);
  // Never more than the truth, on any file system.
  CHECK(whole <= kSize);
  CHECK(reserved == 0);
  CHECK(part <= (256u << 10));
  CHECK(sparse == 0);
  // ext4 answers exactly (FIEMAP).
  if (OnExt4(dir.path())) {
    CHECK(whole == kSize);
    CHECK(part == (256u << 10));
  }
}

namespace {

// Three sessions of a durable writer through `fs` keeping a steady window
// with retention (the later ones open a journal whose tail segment is a
// reused file, and go on writing in it), then a check of every event
// through a plain open and of the files.
void ThreeDurableSteadySessions(const std::string& dir, const std::shared_ptr<FileSystem>& fs) {
  INFO("seed ", test::Seed());
  std::mt19937_64 rng(test::Seed());
  Options o = test::SmallOptions(Durability::kCommit);
  o.file_system = fs;
  Model m;
  for (int session = 0; session < 3; ++session) {
    auto j = test::OpenOrDie(dir, o);
    CheckView(*j, m);
    SteadyWindow(*j, m, rng, 250, 400);
    CheckView(*j, m);
    TXJ_REQUIRE_OK(j->close());
  }
  auto j = test::OpenOrDie(dir, test::SmallOptions(Durability::kCommit));
  CheckView(*j, m);
  TXJ_REQUIRE_OK(j->close());
  CHECK(test::WalkProblems(dir, /*allow_tail=*/false) == "");
}

}  // namespace

TEST_CASE("a durable writer writes no zeros ahead into a reused file's written blocks, and still does into new ones") {
  test::TempDir dir;
  auto fs = std::make_shared<ZerosAheadFs>();
  ThreeDurableSteadySessions(dir.path(), fs);
  INFO("zero pages ", fs->zero_pages(), ", inside a written prefix ", fs->zero_pages_inside(), ", files asked ",
       fs->asked(), ", answered with written blocks ", fs->reported_written());
  CHECK(RecycledSegments(dir.path()) + static_cast<int>(Files(dir.path(), ".free").size()) >= 1);
  CHECK(fs->asked() >= 1);              // every reuse under commit durability asks
  CHECK(fs->zero_pages() > 0);          // new segments still get their zeros ahead
  CHECK(fs->zero_pages_inside() == 0);  // never where the reused file's blocks are written
  if (OnExt4(dir.path())) CHECK(fs->reported_written() >= 1);
}

TEST_CASE("a durable writer drops a reused file's old pages from the cache and writes whole pages into its written blocks") {
  test::TempDir dir;
  auto fs = std::make_shared<WholePagesFs>();
  ThreeDurableSteadySessions(dir.path(), fs);
  INFO("drops ", fs->drops(), ", writes inside a written prefix ", fs->inside(), ", of them ending mid-page ",
       fs->inside_partial());
  CHECK(RecycledSegments(dir.path()) + static_cast<int>(Files(dir.path(), ".free").size()) >= 1);
  CHECK(fs->drops() >= 1);            // every reuse under commit durability drops the old pages
  CHECK(fs->drops_of_header() == 0);  // never the new header's page
  if (OnExt4(dir.path())) CHECK(fs->inside() > 0);
  CHECK(fs->inside_partial() == 0);  // no write there leaves a page to be read first
}

namespace {

// Holds the sealing thread back: its write of a segment's watermark (the
// step before the segment counts as sealed) waits until Release(), unless
// it comes from the thread that made this file system (close() raises the
// active segment's watermark on the caller's thread).
class SealGateFs final : public test::ForwardingFileSystem {
 public:
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override {
    if (n == sizeof(format::WatermarkSlot) && o == format::kWatermarkOffset && std::this_thread::get_id() != owner_) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return released_; });
    }
    return ForwardingFileSystem::PWrite(fd, d, n, o);
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  const std::thread::id owner_ = std::this_thread::get_id();
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

// A journal in `dir` whose sealing thread is held back (`fs`), written to
// many segments, synced, and retained to its end: the offset is written
// down and no segment below it can go yet. `segments`: its segment files.
struct HeldSealer {
  std::shared_ptr<SealGateFs> fs;
  std::unique_ptr<Journal> j;
  std::size_t segments = 0;
};
HeldSealer RetainedToTheEndUnsealed(const std::string& dir, Durability d, Model& m, std::mt19937_64& rng) {
  HeldSealer h;
  h.fs = std::make_shared<SealGateFs>();
  Options o = test::SmallOptions(d);
  o.file_system = h.fs;
  h.j = test::OpenOrDie(dir, o);
  const int txns = 150 + static_cast<int>(rng() % 100);
  for (int i = 0; i < txns; ++i) CommitOne(*h.j, m, rng);
  TXJ_REQUIRE_OK(h.j->sync());
  m.first = m.payloads.size();
  TXJ_REQUIRE_OK(h.j->apply_retention(m.first));
  REQUIRE(WrittenRetention(dir) == m.first);
  h.segments = Files(dir, ".seg").size();
  REQUIRE(h.segments >= 8);
  return h;
}

}  // namespace

TEST_CASE("segments wholly below the retention offset that were not sealed when it was applied go at a later call or at close") {
  INFO("seed ", test::Seed());
  std::mt19937_64 rng(test::Seed());
  const Durability kModes[] = {Durability::kNone, Durability::kPeriodic, Durability::kCommit};
  for (int round = 0; round < 6; ++round) {
    test::TempDir dir;
    Model m;
    const Durability d = kModes[round % 3];
    const bool again = round >= 3;  // a later call with the same offset, else close
    INFO("round ", round, ", durability ", static_cast<int>(d), std::string(again ? ", a later call" : ", close"));
    auto [fs, j, written] = RetainedToTheEndUnsealed(dir.path(), d, m, rng);
    fs->Release();
    if (again) {
      REQUIRE(WaitSealed(*j));
      TXJ_REQUIRE_OK(j->apply_retention(m.first));
    } else {
      TXJ_REQUIRE_OK(j->close());
    }
    // What stays: the last segment, the one before it (the catalog's
    // checkpoint may name it) and one prepared ahead.
    const std::size_t left = Files(dir.path(), ".seg").size();
    INFO("segments left by the first call ", written, ", then ", left);
    CHECK(left <= 3);
    if (again) TXJ_REQUIRE_OK(j->close());
    j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    CHECK(j->first_offset() == m.first);
    CheckView(*j, m);
    TXJ_REQUIRE_OK(j->close());
    CHECK(test::WalkProblems(dir.path(), /*allow_tail=*/false) == "");
  }
}

TEST_CASE("concurrent durable writers in a journal of reused files lose no commit, padded pages or not") {
  INFO("seed ", test::Seed());
  for (const bool pad : {true, false}) {
    test::TempDir dir;
    INFO(std::string(pad ? "commits padded to a page" : "commits not padded"));
    auto fs = std::make_shared<WholePagesFs>();
    Options o = test::SmallOptions(Durability::kCommit);
    o.file_system = fs;
    o.pad_commits_to_page = pad;
    constexpr int kThreads = 4;
    std::vector<int> committed(kThreads, 0);  // per thread: the count of its acknowledged transactions
    // Three sessions: the later ones go on in a reused tail.
    for (int session = 0; session < 3; ++session) {
      auto j = test::OpenOrDie(dir.path(), o);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          std::mt19937_64 rng(test::Seed() + static_cast<std::uint64_t>(session * kThreads + t));
          for (int i = 0; i < 150; ++i) {
            auto tx = j->begin();
            if (!tx.ok()) return;
            const int events = 1 + static_cast<int>(rng() % 3);
            bool ok = true;
            for (int e = 0; e < events && ok; ++e) {
              std::string p = std::to_string(t) + ":" + std::to_string(committed[t]) + ":" + std::to_string(e) + ":";
              p.resize(p.size() + rng() % 600, static_cast<char>('a' + t));
              ok = tx->append("t", "e", p).ok();
            }
            if (!ok || !tx->commit().ok()) return;
            ++committed[t];
            // Retention from the writers' threads, a window behind the end
            // (not in the last session: every thread's last transactions
            // stay, whichever thread finishes first).
            if (t == 0 && session < 2 && i % 10 == 9 && j->next_offset() > 300) {
              (void)j->apply_retention(j->next_offset() - 300);
            }
          }
        });
      }
      for (auto& th : threads) th.join();
      TXJ_REQUIRE_OK(j->close());
    }
    for (int t = 0; t < kThreads; ++t) REQUIRE(committed[t] == 450);
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
    // Each thread's retained transactions: consecutive, every event of each,
    // up to its last acknowledged one.
    std::vector<int> next_txn(kThreads, -1), next_event(kThreads, 0);
    bool consecutive = true;
    for (const auto& e : test::ReadAllEvents(*j, j->first_offset())) {
      int t = -1, txn = -1, ev = -1;
      if (std::sscanf(e.payload.c_str(), "%d:%d:%d:", &t, &txn, &ev) != 3 || t < 0 || t >= kThreads) {
        consecutive = false;
        break;
      }
      if (next_txn[t] < 0) {
        next_txn[t] = txn;  // the first one retained may be any event of its transaction
        next_event[t] = ev;
      }
      if (txn == next_txn[t] && ev == next_event[t]) {
        ++next_event[t];
      } else if (txn == next_txn[t] + 1 && ev == 0) {
        next_txn[t] = txn;
        next_event[t] = 1;
      } else {
        consecutive = false;
      }
    }
    CHECK(consecutive);
    for (int t = 0; t < kThreads; ++t) CHECK(next_txn[t] == committed[t] - 1);
    TXJ_REQUIRE_OK(j->close());
    CHECK(test::WalkProblems(dir.path(), /*allow_tail=*/false) == "");
    INFO("writes inside a written prefix ", fs->inside(), ", ending mid-page ", fs->inside_partial());
    CHECK(RecycledSegments(dir.path()) + static_cast<int>(Files(dir.path(), ".free").size()) >= 1);
    CHECK(fs->inside_partial() == 0);
    if (OnExt4(dir.path())) CHECK(fs->inside() > 0);
  }
}

TEST_CASE("a durable writer reopened over a tail segment made new writes no zeros where the last writer wrote them") {
  test::TempDir dir;
  INFO("seed ", test::Seed());
  std::mt19937_64 rng(test::Seed());
  auto fs = std::make_shared<ZerosAheadFs>();
  Options o = test::SmallOptions(Durability::kCommit);
  o.file_system = fs;
  o.recycled_segments = 0;  // every segment a new file
  Model m;
  // Each session but the first opens behind zeros the one before wrote
  // ahead of its tail (and synced at close).
  for (int session = 0; session < 4; ++session) {
    auto j = test::OpenOrDie(dir.path(), o);
    CheckView(*j, m);
    for (int i = 0; i < 20 + static_cast<int>(rng() % 20); ++i) CommitOne(*j, m, rng);
    CheckView(*j, m);
    TXJ_REQUIRE_OK(j->close());
  }
  INFO("zero pages ", fs->zero_pages(), ", inside a written prefix ", fs->zero_pages_inside());
  CHECK(RecycledSegments(dir.path()) == 0);
  CHECK(fs->zero_pages() > 0);
  CHECK(fs->zero_pages_inside() == 0);
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
  CheckView(*j, m);
}

TEST_CASE("segments a crash left unsealed are sealed at the next open, and retention drops them") {
  INFO("seed ", test::Seed());
  std::mt19937_64 rng(test::Seed());
  for (const Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d));
    test::TempDir dir, crashed;
    Model m;
    auto [fs, j, left] = RetainedToTheEndUnsealed(dir.path(), d, m, rng);
    // The offset is written down, no segment below it sealed or removed:
    // the crash now (the files as they are, page cache included).
    std::filesystem::copy(dir.path(), crashed.path(), std::filesystem::copy_options::recursive |
                                                          std::filesystem::copy_options::overwrite_existing);
    fs->Release();
    TXJ_REQUIRE_OK(j->close());
    auto c = test::OpenOrDie(crashed.path(), test::SmallOptions(d));
    CHECK(c->first_offset() == m.first);
    // Sealed by the open: the next call drops them (with the offset as it
    // is), and retention goes on past them.
    REQUIRE(WaitSealed(*c));
    TXJ_REQUIRE_OK(c->apply_retention(m.first));
    INFO("segment files at the crash ", left, ", after the next call ", Files(crashed.path(), ".seg").size());
    CHECK(Files(crashed.path(), ".seg").size() <= 3);
    for (int i = 0; i < 60; ++i) CommitOne(*c, m, rng);
    TXJ_REQUIRE_OK(c->sync());
    m.first = m.payloads.size();
    TXJ_REQUIRE_OK(c->apply_retention(m.first));
    REQUIRE(WaitSealed(*c));
    TXJ_REQUIRE_OK(c->apply_retention(m.first));
    CHECK(Files(crashed.path(), ".seg").size() <= 3);
    CheckView(*c, m);
    TXJ_REQUIRE_OK(c->close());
    CHECK(test::WalkProblems(crashed.path(), /*allow_tail=*/false) == "");
  }
}

TEST_CASE("retention drops sealed segments whose checkpoint was skipped while it held the checkpoint lock") {
  INFO("seed ", test::Seed());
  std::mt19937_64 rng(test::Seed());
  for (const Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", static_cast<int>(d));
    test::TempDir dir;
    Model m;
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    internal::JournalState& s = internal::JournalAccess::state(*j);
    // A checkpoint in one of the first segments (its seal's).
    while (Files(dir.path(), ".seg").size() < 3) CommitOne(*j, m, rng);
    TXJ_REQUIRE_OK(j->sync());
    REQUIRE(WaitSealed(*j));
    {
      // What a retention or a compaction holds while segments are sealed:
      // every checkpoint the sealing thread (and the timer) tries is skipped.
      std::lock_guard<std::mutex> held(s.checkpoint_mu);
      for (int i = 0; i < 150; ++i) CommitOne(*j, m, rng);
      TXJ_REQUIRE_OK(j->sync());
      REQUIRE(WaitSealed(*j));
    }
    const std::size_t before = Files(dir.path(), ".seg").size();
    REQUIRE(before >= 6);
    m.first = m.payloads.size();
    TXJ_REQUIRE_OK(j->apply_retention(m.first));
    if (d == Durability::kNone) {
      // Written down only once durable (kNone): the next call after a sync.
      TXJ_REQUIRE_OK(j->sync());
      TXJ_REQUIRE_OK(j->apply_retention(m.first));
    }
    INFO("segment files before ", before, ", after ", Files(dir.path(), ".seg").size());
    CHECK(Files(dir.path(), ".seg").size() <= 3);
    CheckView(*j, m);
    TXJ_REQUIRE_OK(j->close());
    CHECK(test::WalkProblems(dir.path(), /*allow_tail=*/false) == "");
    // The checkpoint the retention wrote is the one the next open starts at.
    auto again = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    CHECK_FALSE(again->recovery_report().catalog_rebuilt);
    CheckView(*again, m);
  }
}
