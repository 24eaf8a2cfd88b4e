// The transaction hash of format 4 (docs/format.md "Transaction hash"):
// what a writer puts in each commit marker, checked against the format's
// definition computed here from the segment files' bytes, independently of
// the library's TxnHash; TxnHash itself against one XXH3 call; and what a
// cursor, which checks the hash instead of each event's checksum, does
// with a damaged event.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "format.h"
#include "hash.h"
#include "test_util.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"
#include "txn_hash.h"

using namespace txj;
using txj::test::TempDir;
namespace fmt = txj::format;

namespace {

// Bytes [off, off + n) of `path`.
std::string ReadAt(const std::string& path, std::uint64_t off, std::size_t n) {
  std::string b(n, '\0');
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  const ssize_t got = ::pread(fd, b.data(), n, static_cast<off_t>(off));
  ::close(fd);
  REQUIRE(got == static_cast<ssize_t>(n));
  return b;
}

// Writes random transactions: nested sub-transactions that commit or roll
// back, claims published or cancelled, events large enough to fill the
// staging buffer or cross segments, whole transactions rolled back.
void WriteRandom(Journal& j, std::mt19937_64& rng, int txns) {
  for (int t = 0; t < txns; ++t) {
    auto tx = test::RequireOk(j.begin());
    std::vector<Transaction> subs;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      Transaction& cur = subs.empty() ? *tx : subs.back();
      switch (rng() % 8) {
        case 0: {
          auto sub = test::RequireOk(cur.begin());
          subs.push_back(std::move(*sub));
          break;
        }
        case 1:
          if (!subs.empty()) {
            if (rng() % 3 == 0) {
              TXJ_REQUIRE_OK(subs.back().rollback());
            } else {
              TXJ_REQUIRE_OK(subs.back().commit().status());
            }
            subs.pop_back();
          }
          break;
        case 2: {
          auto claimed = test::RequireOk(cur.claim("t" + std::to_string(rng() % 3), "c", 1 + rng() % 300));
          EventClaim& c = *claimed;
          std::memset(c.payload().data(), 'c', c.payload().size());
          if (rng() % 3 == 0) {
            c.cancel();
          } else {
            TXJ_REQUIRE_OK(c.publish());
          }
          break;
        }
        case 3: {
          // Large: up to 1.2 MiB, past the 1 MiB staging buffer, and a
          // transaction of a few crosses a 2 MiB segment.
          const std::size_t size = rng() % 8 == 0 ? 300000 + rng() % 900000 : 1000 + rng() % 9000;
          TXJ_REQUIRE_OK(cur.append("big", "b", std::string(size, static_cast<char>('a' + rng() % 26))));
          break;
        }
        default:
          TXJ_REQUIRE_OK(cur.append("t" + std::to_string(rng() % 3), "e", std::string(rng() % 200, 'p'),
                                    {.key = rng() % 2 ? std::optional<std::string_view>("k") : std::nullopt}));
      }
    }
    while (!subs.empty()) {
      TXJ_REQUIRE_OK(subs.back().commit().status());
      subs.pop_back();
    }
    if (rng() % 6 == 0) {
      TXJ_REQUIRE_OK(tx->rollback());
    } else {
      TXJ_REQUIRE_OK(tx->commit().status());
    }
  }
}

}  // namespace

TEST_CASE("every commit marker a writer writes holds XXH3 of its transaction's record bytes, as the format defines it") {
  const std::uint64_t seed = test::Seed();
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("seed ", seed, ", durability ", std::string(d == Durability::kNone ? "none" : "commit"));
    std::mt19937_64 rng(seed ^ static_cast<std::uint64_t>(d));
    TempDir dir;
    {
      Options o = test::SmallOptions(d);
      o.segment_size = 2 * 1024 * 1024;
      auto j = test::OpenOrDie(dir.path(), o);
      WriteRandom(*j, rng, test::Scaled(60));
      // One that certainly crosses a segment (and, durable, fills the
      // staging buffer twice).
      auto tx = test::RequireOk(j->begin());
      for (int k = 0; k < 3; ++k) TXJ_REQUIRE_OK(tx->append("big", "b", std::string(1 << 20, 'x')));
      TXJ_REQUIRE_OK(tx->commit().status());
      // Threads committing at once: under kCommit a sync that began after
      // one transaction's commit may cover the page where the next one is
      // being written, which then goes on past a gap.
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&j, t] {
          for (int n = 0; n < test::Scaled(25); ++n) {
            auto tx = j->begin();
            if (!tx.ok()) continue;
            for (int k = 0; k < 2 + (n + t) % 7; ++k) (void)tx->append("th", "e", std::string(64 + 13 * k, 'q'));
            (void)tx->commit();
          }
        });
      }
      for (auto& th : threads) th.join();
      TXJ_REQUIRE_OK(j->close());
    }
    // The format's definition, from the files: the records from the begin
    // marker to the commit marker, segment-end markers left out, each as
    // [lsn, lsn + align8(length)), a padding as its first 48 bytes.
    std::string bytes;
    bool open = false, hashed = false;
    std::uint64_t begin_lsn = 0, prev_end = 0;
    std::string begin_seg;
    int commits = 0, checked = 0, spanning = 0, after_gap = 0;
    std::vector<std::string> problems;
    auto report = WalkJournal(dir.path(), [&](const RawRecord& r) {
      const std::string path(r.segment);
      if (open && r.file_offset % fmt::kPageSize == 0 && prev_end < r.file_offset && path == begin_seg) ++after_gap;
      prev_end = r.file_offset + fmt::AlignUp(r.length);
      if (r.type == RecordType::kBegin) {
        open = true;
        begin_lsn = r.lsn;
        begin_seg = path;
        const std::string rec = ReadAt(path, r.file_offset, fmt::kRecordHeaderSize);
        hashed = (static_cast<std::uint8_t>(rec[13]) & fmt::kFlagHashedTxn) != 0;
        if (!hashed) problems.push_back("begin marker at LSN " + std::to_string(r.lsn) + " is not flagged hashed");
        bytes = ReadAt(path, r.file_offset, fmt::AlignUp(r.length));
        return;
      }
      if (!open || r.type == RecordType::kSegmentEnd) return;
      if (r.type == RecordType::kCommit) {
        ++commits;
        fmt::CommitBody body;
        const std::string rec = ReadAt(path, r.file_offset + fmt::kRecordHeaderSize, sizeof body);
        std::memcpy(&body, rec.data(), sizeof body);
        if (body.begin_lsn != begin_lsn) problems.push_back("commit at LSN " + std::to_string(r.lsn) + ": begin");
        if (body.running_hash != internal::Hash64(bytes.data(), bytes.size(), 0)) {
          problems.push_back("commit at LSN " + std::to_string(r.lsn) + ": hash over " + std::to_string(bytes.size()) +
                             " bytes differs");
        }
        ++checked;
        if (path != begin_seg) ++spanning;
        open = false;
        return;
      }
      if (r.type == RecordType::kRollback) {
        open = false;
        return;
      }
      const std::size_t n = r.type == RecordType::kPadding ? fmt::kPaddingCheckedSize : fmt::AlignUp(r.length);
      bytes += ReadAt(path, r.file_offset, n);
    });
    TXJ_REQUIRE_OK(report);
    CHECK(!report->damaged());
    MESSAGE(commits, " commits, ", checked, " hashes checked from the files; ", spanning,
            " transactions across segments, ", after_gap, " records after a gap inside a transaction");
    CHECK(commits > 0);
    CHECK(spanning > 0);
    CHECK(problems.empty());
    for (const auto& p : problems) MESSAGE(p);
  }
}

TEST_CASE("TxnHash over byte ranges in pieces equals one XXH3 over their concatenation") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> buf(1 << 16);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  for (int round = 0; round < test::Scaled(300); ++round) {
    internal::TxnHash h;
    h.Reset();
    std::string concat;
    // Ranges that follow each other (merged) and ranges that do not.
    std::size_t at = rng() % 1000;
    const int pieces = 1 + static_cast<int>(rng() % 20);
    for (int p = 0; p < pieces; ++p) {
      const std::size_t n = rng() % 3 == 0 ? rng() % 5000 : rng() % 300;
      if (at + n > buf.size()) break;
      h.Add(buf.data() + at, n);
      concat.append(reinterpret_cast<const char*>(buf.data() + at), n);
      at += n + (rng() % 2 ? 0 : rng() % 700);
      if (rng() % 5 == 0) h.Settle();
      if (rng() % 4 == 0) {
        REQUIRE(h.Digest() == internal::Hash64(concat.data(), concat.size(), 0));
      }
    }
    CHECK(h.Digest() == internal::Hash64(concat.data(), concat.size(), 0));
    CHECK(internal::TxnHashOf(concat.data(), concat.size()) == internal::Hash64(concat.data(), concat.size(), 0));
  }
  // Pending bytes follow their buffer when it moves.
  std::vector<std::uint8_t> a(buf.begin(), buf.begin() + 4000);
  internal::TxnHash h;
  h.Reset();
  h.Add(a.data() + 100, 1000);
  std::vector<std::uint8_t> b = a;
  const std::uint8_t* old = a.data();
  std::fill(a.begin(), a.end(), 0);
  h.Rebase(old, a.size(), b.data());
  h.Add(b.data() + 1100, 500);
  CHECK(h.Digest() == internal::Hash64(b.data() + 100, 1500, 0));
}

TEST_CASE("a damaged byte in a committed event is corruption to a cursor naming that record, and nothing of its transaction is handed out") {
  for (Durability d : {Durability::kNone, Durability::kCommit}) {
    INFO("durability ", std::string(d == Durability::kNone ? "none" : "commit"));
    TempDir dir;
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(d));
    for (int t = 0; t < 6; ++t) {
      auto tx = test::RequireOk(j->begin());
      for (int k = 0; k < 5; ++k) TXJ_REQUIRE_OK(tx->append("t", "e", std::string(150, static_cast<char>('a' + t))));
      TXJ_REQUIRE_OK(tx->commit().status());
    }
    // A payload byte of the third event of the fourth transaction, changed
    // through the file while the journal is open (readers map it shared).
    std::string seg;
    std::uint64_t target = 0;
    int events = 0;
    TXJ_REQUIRE_OK(WalkJournal(dir.path(), [&](const RawRecord& r) {
      if (r.type == RecordType::kEvent && ++events == 18) {
        seg = std::string(r.segment);
        target = r.file_offset;
      }
    }));
    REQUIRE(target != 0);
    {
      const int fd = ::open(seg.c_str(), O_RDWR);
      REQUIRE(fd >= 0);
      const char x = 'Z';
      REQUIRE(::pwrite(fd, &x, 1, static_cast<off_t>(target + 100)) == 1);
      ::close(fd);
    }
    for (bool batch : {false, true}) {
      INFO(std::string(batch ? "next_batch" : "next"));
      auto c = test::RequireOk(j->open_cursor(0));
      int read = 0;
      Status last;
      if (batch) {
        for (;;) {
          std::vector<Event> out(7);
          auto n = c->next_batch(out);
          if (!n.ok()) {
            last = n.status();
            break;
          }
          REQUIRE(*n > 0);
          read += static_cast<int>(*n);
        }
      } else {
        last = test::FirstReadError(*c, [&](const Event&) { ++read; });
      }
      MESSAGE("cursor: ", read, " events, then ", last.ToString());
      CHECK(read == 15);
      CHECK(last.code() == Code::kCorruption);
      CHECK(last.ToString().find("checksum mismatch") != std::string::npos);
      CHECK(last.ToString().find(seg + " at byte " + std::to_string(target)) != std::string::npos);
    }
    (void)j->close();
  }
}
