// Topics and compactors: snapshots, rebuild, reclaimed space, truncation.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "fault_fs.h"
#include "manifest.h"
#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/walk.h"

using namespace txj;
using txj::test::FsOp;
using txj::test::TempDir;

namespace {

struct ModelEvent {
  std::uint64_t offset, txn;
  std::string topic, key, payload, type;
};

// The state latest-by-key must reach over `events` of `topic`, as its hash.
std::string ExpectedHash(const std::vector<ModelEvent>& events, const std::string& topic) {
  LatestByKeyCompactor c;
  auto state = c.initial();
  for (const auto& m : events) {
    if (m.topic != topic) continue;
    Event e{m.offset, m.txn, 0, 0, m.topic, m.type, std::string_view(m.key), m.payload};
    REQUIRE(c.apply(*state, e).ok());
  }
  return StateHash(c.encode(*state));
}

std::vector<ModelEvent> ReadTopic(Journal& j, const std::string& topic, std::uint64_t from) {
  INFO("topic ", topic);
  std::vector<ModelEvent> out;
  for (auto& e : test::ReadAllEvents(j, from, Filter::for_topics({topic}))) {
    out.push_back({e.offset, e.txn_id, std::move(e.topic), e.key.value_or(""), std::move(e.payload), std::move(e.type)});
  }
  return out;
}

bool SameEvents(const std::vector<ModelEvent>& a, const std::vector<ModelEvent>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].offset != b[i].offset || a[i].txn != b[i].txn || a[i].payload != b[i].payload || a[i].key != b[i].key)
      return false;
  }
  return true;
}

std::uint64_t DiskBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st;
    if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

}  // namespace

TEST_CASE("compaction keeps other topics' events, offsets and transactions, and rebuild equals full replay") {
  const std::uint64_t seed = test::Seed();
  std::mt19937_64 rng(seed);
  TempDir dir;
  Options o = test::SmallOptions();
  auto j = test::OpenOrDie(dir.path(), o);
  const std::vector<std::string> compacted = {"users", "stock", "prices"};
  const std::vector<std::string> plain = {"audit", "mail", "log"};
  auto lbk = std::make_shared<LatestByKeyCompactor>();
  for (const auto& t : compacted) TXJ_REQUIRE_OK(j->register_compactor(t, lbk));
  std::vector<ModelEvent> model;
  std::map<std::string, std::uint64_t> marks;
  std::uint64_t next = 0;
  for (int round = 0; round < 40; ++round) {
    const int txns = 20 + static_cast<int>(rng() % 60);
    for (int t = 0; t < txns; ++t) {
      auto tx = test::RequireOk(j->begin());
      std::vector<ModelEvent> pending;
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < n; ++k) {
        bool is_compacted = rng() % 2;
        std::string topic = is_compacted ? compacted[rng() % 3] : plain[rng() % 3];
        std::string key = "k" + std::to_string(rng() % 20);
        std::string type = (is_compacted && rng() % 8 == 0) ? "tombstone" : "put";
        std::string payload(rng() % 200, static_cast<char>('a' + rng() % 26));
        TXJ_REQUIRE_OK(tx->append(topic, type, payload, {.key = key}));
        pending.push_back({0, tx->id(), topic, key, payload, type});
      }
      if (rng() % 4 == 0) {  // a sub-transaction that rolls back, with a committed child
        auto sub = test::RequireOk(tx->begin());
        TXJ_REQUIRE_OK(sub->append(compacted[0], "put", "never", {.key = "ghost"}));
        test::CommitOne(*sub, plain[0], "put", "never", {.key = "ghost"});
        TXJ_REQUIRE_OK(sub->rollback());
      }
      if (rng() % 10 == 0) {
        TXJ_REQUIRE_OK(tx->rollback());
        continue;
      }
      auto info = test::RequireOk(tx->commit());
      REQUIRE(info->first_offset == next);
      for (auto& p : pending) {
        p.offset = next++;
        model.push_back(p);
      }
    }
    if (rng() % 2 == 0) {
      const std::string& topic = compacted[rng() % 3];
      auto snap = test::RequireOk(j->compact(topic));
      CHECK(snap->covered_offset == next);
      CHECK(snap->state_hash == ExpectedHash(model, topic));
      marks[topic] = next;
    }
    if (rng() % 6 == 0) {
      TXJ_REQUIRE_OK(j->close());
      j.reset();
      j = test::OpenOrDie(dir.path(), o);
      INFO(j->recovery_report().ToString());
      CHECK(j->recovery_report().repairs.empty());  // a clean close leaves nothing to repair
      for (const auto& t : compacted) TXJ_REQUIRE_OK(j->register_compactor(t, lbk));
    }
    // Every compacted topic rebuilds to the fold of its full history.
    for (const auto& t : compacted) {
      auto r = test::RequireOk(j->rebuild(t));
      CHECK(r->state_hash == ExpectedHash(model, t));
      const std::uint64_t mark = marks.count(t) ? marks[t] : 0;
      if (mark > 0) {
        auto early = j->open_cursor(mark - 1, Filter::for_topics({t}));
        CHECK(early.status().code() == Code::kTruncated);
      }
      std::vector<ModelEvent> want;
      for (const auto& m : model) {
        if (m.topic == t && m.offset >= mark) want.push_back(m);
      }
      CHECK(SameEvents(ReadTopic(*j, t, mark), want));
    }
    // Topics never compacted are untouched, from offset 0.
    for (const auto& t : plain) {
      std::vector<ModelEvent> want;
      for (const auto& m : model) {
        if (m.topic == t) want.push_back(m);
      }
      CHECK(SameEvents(ReadTopic(*j, t, 0), want));
    }
  }
  MESSAGE("seed ", seed, ": ", model.size(), " events, ", marks.size(), " topics compacted");
}

TEST_CASE("a topic updated many times over few keys takes space bounded by its live keys after compaction") {
  TempDir dir;
  Options o;
  o.segment_size = 1 << 20;
  o.durability = Durability::kNone;
  auto j = test::OpenOrDie(dir.path(), o);
  TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
  const int kUpdates = 300000, kKeys = 1000;
  const std::string payload(100, 'v');
  for (int i = 0; i < kUpdates; i += 10) {
    auto tx = test::RequireOk(j->begin());
    for (int k = 0; k < 10; ++k) {
      TXJ_REQUIRE_OK(tx->append("kv", "put", payload, {.key = "key-" + std::to_string((i + k) % kKeys)}));
    }
    TXJ_REQUIRE_OK(tx->commit());
  }
  TXJ_REQUIRE_OK(j->sync());
  const std::uint64_t before = DiskBytes(dir.path());
  // Let the background thread seal the full segments.
  for (int i = 0; i < 100; ++i) {
    auto snap = test::RequireOk(j->compact("kv"));
    if (DiskBytes(dir.path()) < before / 10) break;
    usleep(20000);
  }
  const std::uint64_t after = DiskBytes(dir.path());
  MESSAGE("disk use before ", before, " bytes, after ", after, " bytes");
  CHECK(after < before / 10);
  auto r = test::RequireOk(j->rebuild("kv"));
  auto& values = static_cast<const LatestByKeyCompactor::Map&>(*r->state).values;
  CHECK(values.size() == kKeys);
}

TEST_CASE("retention drops old events of every topic, frees their segments, and survives reopen") {
  TempDir dir;
  Options o = test::SmallOptions();
  auto j = test::OpenOrDie(dir.path(), o);
  std::vector<std::string> payloads;
  for (int i = 0; i < 4000; ++i) {
    auto tx = test::RequireOk(j->begin());
    payloads.push_back(std::string(100, static_cast<char>('a' + i % 26)) + std::to_string(i));
    TXJ_REQUIRE_OK(tx->append(i % 2 ? "a" : "b", "t", payloads.back()));
    TXJ_REQUIRE_OK(tx->commit());
  }
  TXJ_REQUIRE_OK(j->sync());
  ::usleep(100000);  // let the background thread seal full segments
  const std::uint64_t before = DiskBytes(dir.path());
  CHECK(j->apply_retention(5000).code() == Code::kInvalidArgument);
  TXJ_REQUIRE_OK(j->apply_retention(3000));
  CHECK(j->first_offset() == 3000);
  CHECK(j->open_cursor(2999).status().code() == Code::kTruncated);
  CHECK(j->open_cursor(0, Filter::for_topics({"a"})).status().code() == Code::kTruncated);
  const std::uint64_t after = DiskBytes(dir.path());
  MESSAGE("disk use before ", before, " bytes, after ", after);
  CHECK(after < before * 2 / 3);
  auto check_tail = [&](Journal& jj) {
    auto c = test::RequireOk(jj.open_cursor(3000));
    for (std::uint64_t off = 3000; off < 4000; ++off) {
      auto e = test::RequireOk(c->next());
      REQUIRE(e->has_value());
      CHECK((**e).offset == off);
      CHECK((**e).payload == payloads[off]);
    }
    auto end = test::RequireOk(c->next());
    CHECK(!end->has_value());
  };
  check_tail(*j);
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(j->first_offset() == 3000);
  CHECK(j->next_offset() == 4000);
  check_tail(*j);
  // The catalog lost: the journal alone still knows where it starts.
  std::filesystem::remove_all(dir.sub("catalog"));
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(j->next_offset() == 4000);
  check_tail(*j);
}

TEST_CASE("retention removes the files of the segments it empties, however the transactions fall across them") {
  // Regression: a transaction that began near a segment's end continued in
  // the next segment, so nearly every segment ended inside one. The rewrite
  // keeps such a transaction whole, the segment was never left with nothing
  // but padding, and retention never removed it: one file stayed behind per
  // segment, forever (and every later call read them all). Small
  // transactions now begin in the next segment when this one is nearly
  // full (JournalState::BeginRoom).
  const std::uint64_t seed = test::Seed();
  MESSAGE("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  Options o = test::SmallOptions();  // 64 KiB segments: transactions of up to 4 KiB never span two
  std::vector<std::string> payloads;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    while (payloads.size() < 20000) {
      auto tx = test::RequireOk(j->begin());
      const int n = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        payloads.push_back(std::string(60 + rng() % 100, static_cast<char>('a' + rng() % 26)) +
                           std::to_string(payloads.size()));
        TXJ_REQUIRE_OK(tx->append(rng() % 3 ? "a" : "b", "t", payloads.back()));
      }
      if (rng() % 10 == 0) {
        TXJ_REQUIRE_OK(tx->rollback());
        payloads.resize(payloads.size() - static_cast<std::size_t>(n));
      } else {
        TXJ_REQUIRE_OK(tx->commit());
      }
    }
    TXJ_REQUIRE_OK(j->close());  // every full segment sealed
  }
  auto segment_files = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) n += e.path().extension() == ".seg";
    return n;
  };
  const std::size_t before = segment_files();
  const std::uint64_t keep_from = payloads.size() - 500;
  auto j = test::OpenOrDie(dir.path(), o);
  TXJ_REQUIRE_OK(j->apply_retention(keep_from));
  const std::size_t after = segment_files();
  MESSAGE(before, " segment files before retention, ", after, " after");
  REQUIRE(before > 40);
  // What is kept: 500 events of at most 170 bytes of payload (about 100 KiB
  // of records: two segments of 64 KiB), the segment the offset falls in,
  // and the next segment, prepared ahead of the writer.
  CHECK(after <= 5);
  auto check_kept = [&](Journal& jj) {
    CHECK(jj.first_offset() == keep_from);
    auto c = test::RequireOk(jj.open_cursor(keep_from));
    for (std::uint64_t off = keep_from; off < payloads.size(); ++off) {
      auto e = test::RequireOk(c->next());
      REQUIRE(e->has_value());
      CHECK((**e).offset == off);
      CHECK((**e).payload == payloads[off]);
    }
    CHECK(!test::RequireOk(c->next())->has_value());
    CHECK(jj.open_cursor(keep_from - 1).status().code() == Code::kTruncated);
  };
  check_kept(*j);
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  check_kept(*j);
  CHECK(j->next_offset() == payloads.size());
  TXJ_REQUIRE_OK(j->close());
  auto walk = WalkJournal(dir.path(), [](const RawRecord&) {});
  TXJ_REQUIRE_OK(walk);
  CHECK(!walk->damaged());
}

TEST_CASE("retention that moves a little into a segment leaves its file as it is, and readers still get kTruncated below the offset") {
  // apply_retention rewrites the segment its offset falls in only when that
  // frees at least a quarter of a segment; below the offset the bytes may
  // stay in the file, but no reader gets them, before or after a reopen.
  TempDir dir;
  auto fs = std::make_shared<test::FaultFileSystem>();
  Options o = test::SmallOptions();
  o.file_system = fs;
  std::vector<std::string> payloads;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    for (int i = 0; i < 3000; ++i) {
      auto tx = test::RequireOk(j->begin());
      payloads.push_back(std::string(100, static_cast<char>('a' + i % 26)) + std::to_string(i));
      TXJ_REQUIRE_OK(tx->append(i % 2 ? "a" : "b", "t", payloads.back()));
      TXJ_REQUIRE_OK(tx->commit());
    }
    TXJ_REQUIRE_OK(j->close());  // every segment sealed and on stable storage
  }
  auto j = test::OpenOrDie(dir.path(), o);
  TXJ_REQUIRE_OK(j->apply_retention(1000));
  auto segment_files = [&] {
    std::map<std::string, std::uint64_t> inodes;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      struct stat st;
      if (e.path().extension() == ".seg" && ::stat(e.path().c_str(), &st) == 0) inodes[e.path().filename()] = st.st_ino;
    }
    return inodes;
  };
  const auto before = segment_files();
  fs->ResetCounts();
  TXJ_REQUIRE_OK(j->apply_retention(1002));
  const auto counts = fs->Counts();
  // One manifest write (a rename and its file's fdatasync), no rewrite, no
  // other sync: what the offset needs was on stable storage already.
  CHECK(counts[static_cast<int>(FsOp::kRename)] == 1);
  CHECK(counts[static_cast<int>(FsOp::kSync)] == 1);
  CHECK(segment_files() == before);
  CHECK(j->first_offset() == 1002);
  auto check = [&](Journal& jj) {
    CHECK(jj.open_cursor(1001).status().code() == Code::kTruncated);
    CHECK(jj.open_cursor(0, Filter::for_topics({"a"})).status().code() == Code::kTruncated);
    auto c = test::RequireOk(jj.open_cursor(1002));
    for (std::uint64_t off = 1002; off < payloads.size(); ++off) {
      auto e = test::RequireOk(c->next());
      REQUIRE(e->has_value());
      CHECK((**e).offset == off);
      CHECK((**e).payload == payloads[off]);
    }
    CHECK(!test::RequireOk(c->next())->has_value());
  };
  check(*j);
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(j->first_offset() == 1002);
  check(*j);
}

TEST_CASE("retention without commit durability never syncs commits: it writes its offset down as far as they are on stable storage, and close the rest") {
  TempDir dir;
  auto fs = std::make_shared<test::FaultFileSystem>();
  Options o = test::SmallOptions(Durability::kNone);
  o.file_system = fs;
  // Retired segments are removed, not renamed for reuse: every rename
  // below is then one of a file synced before it.
  o.recycled_segments = 0;
  auto commit_some = [](Journal& j, int n) {
    for (int i = 0; i < n; ++i) {
      auto tx = test::RequireOk(j.begin());
      TXJ_REQUIRE_OK(tx->append("t", "e", std::string(200, 'x')));
      TXJ_REQUIRE_OK(tx->commit());
    }
  };
  {
    auto j = test::OpenOrDie(dir.path(), o);
    commit_some(*j, 2000);
    TXJ_REQUIRE_OK(j->close());
  }
  auto j = test::OpenOrDie(dir.path(), o);
  // Fewer than a segment's worth more, not synced (no segment is retired,
  // so nothing else syncs).
  commit_some(*j, 20);
  // Every file that retention writes (the manifest, a rewritten segment)
  // is synced once before its rename: more syncs than renames are syncs of
  // what is committed.
  auto commit_syncs = [&] {
    const auto counts = fs->Counts();
    return counts[static_cast<int>(FsOp::kSync)] - counts[static_cast<int>(FsOp::kRename)];
  };
  fs->ResetCounts();
  TXJ_REQUIRE_OK(j->apply_retention(1000));  // in a segment written before the reopen
  CHECK(fs->Counts()[static_cast<int>(FsOp::kRename)] >= 1);
  CHECK(commit_syncs() == 0);
  fs->ResetCounts();
  TXJ_REQUIRE_OK(j->apply_retention(2010));  // in what was committed since
  CHECK(commit_syncs() == 0);
  CHECK(j->first_offset() == 2010);
  CHECK(j->open_cursor(2009).status().code() == Code::kTruncated);
  {
    // Written down: no further than what the reopen recovered.
    internal::ManifestData m;
    TXJ_REQUIRE_OK(internal::ReadManifest(*DefaultFileSystem(), dir.path(), &m));
    CHECK(m.retention_offset >= 1000);
    CHECK(m.retention_offset <= 2000);
  }
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), o);
  CHECK(j->first_offset() == 2010);
  CHECK(j->next_offset() == 2020);
  CHECK(test::ReadAllEvents(*j, 2010, Filter::all()).size() == 10);
}

TEST_CASE("ids of transactions that compaction or retention removed are never handed out again, even without the catalog") {
  // Regression (compacting crash loop): when the newest transactions were
  // compacted away (their segment sealed, the active one still empty) and
  // the catalog's checkpoint could not be used, the open scanned from the
  // start, never saw their ids, and gave them out again. Every journal size
  // from 1 to 60 one-event transactions is tried, so that some end exactly
  // at a segment roll.
  int empty_tail_runs = 0;
  for (int n = 1; n <= 60; ++n) {
    CAPTURE(n);
    TempDir dir;
    Options o = test::SmallOptions(Durability::kCommit);
    std::uint64_t last_id = 0;
    {
      auto j = test::OpenOrDie(dir.path(), o);
      TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
      for (int i = 0; i < n; ++i) {
        auto tx = test::RequireOk(j->begin());
        TXJ_REQUIRE_OK(tx->append("kv", "put", std::string(900, 'v'), {.key = "k" + std::to_string(i % 3)}));
        auto info = test::RequireOk(tx->commit());
        last_id = info->txn_id;
      }
      TXJ_REQUIRE_OK(j->close());
    }
    // Without the catalog nothing protects the segment holding the last
    // checkpoint: compaction rewrites every sealed segment, then retention
    // drops everything it may.
    for (int round = 0; round < 2; ++round) {
      std::filesystem::remove_all(dir.sub("catalog"));
      auto j = test::OpenOrDie(dir.path(), o);
      TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
      if (round == 0) {
        TXJ_REQUIRE_OK(j->compact("kv"));
      } else {
        TXJ_REQUIRE_OK(j->apply_retention(j->next_offset()));
      }
      TXJ_REQUIRE_OK(j->close());
    }
    std::uint64_t newest_begin = 0;
    auto walk = WalkJournal(dir.path(), [&](const RawRecord& r) {
      if (r.type == RecordType::kBegin) newest_begin = std::max(newest_begin, r.txn_id);
    });
    TXJ_REQUIRE_OK(walk);
    if (newest_begin < last_id) ++empty_tail_runs;  // the case this test is about
    std::filesystem::remove_all(dir.sub("catalog"));
    auto j = test::OpenOrDie(dir.path(), o);
    CHECK(j->next_offset() == static_cast<std::uint64_t>(n));
    auto tx = test::RequireOk(j->begin());
    CHECK(tx->id() > last_id);
    TXJ_REQUIRE_OK(tx->rollback());
    TXJ_REQUIRE_OK(j->close());
  }
  MESSAGE(empty_tail_runs, " of 60 journals kept their newest transaction id only in a padding or the manifest");
  CHECK(empty_tail_runs > 0);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a damaged newest snapshot falls back to an older one while history is kept, and is refused after") {
  auto lbk = std::make_shared<LatestByKeyCompactor>();
  TXJ_REQUIRE_OK(j->register_compactor("kv", lbk));
  std::vector<ModelEvent> model;
  for (int i = 0; i < 50; ++i) {
    auto tx = j->begin();
    TXJ_REQUIRE_OK(tx->append("kv", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 7)}));
    auto info = test::RequireOk(tx->commit());
    model.push_back({info->first_offset, info->txn_id, "kv", "k" + std::to_string(i % 7), "v" + std::to_string(i), "put"});
  }
  auto s1 = test::RequireOk(j->compact("kv"));
  for (int i = 50; i < 60; ++i) {
    auto tx = j->begin();
    TXJ_REQUIRE_OK(tx->append("kv", "put", "w" + std::to_string(i), {.key = "k1"}));
    auto info = test::RequireOk(tx->commit());
    model.push_back({info->first_offset, info->txn_id, "kv", "k1", "w" + std::to_string(i), "put"});
  }
  // Write a second snapshot by hand, as a crash before the rewrite leaves it.
  auto s2 = test::RequireOk(j->compact("kv"));
  // Corrupt the newest snapshot: nothing older is left, and history below
  // its offset may be gone, so rebuild refuses clearly.
  {
    FILE* f = std::fopen(s2->file.c_str(), "r+b");
    REQUIRE(f != nullptr);
    std::fseek(f, 20, SEEK_SET);
    std::fputc(0x5a, f);
    std::fclose(f);
  }
  auto r = j->rebuild("kv");
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find(s2->file) != std::string::npos);
  auto listed = test::RequireOk(j->snapshots("kv"));
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().state_hash.rfind("damaged", 0) == 0);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a snapshot is never decoded by another compactor") {
  TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
  test::CommitOne(*j, "kv", "put", "1", {.key = "a"});
  TXJ_REQUIRE_OK(j->compact("kv"));
  auto counter = MakeFoldCompactor<std::uint64_t>(
      "count", 1, 0, [](std::uint64_t& n, const Event&) { ++n; return Status::OK(); },
      [](const std::uint64_t& n) { return std::to_string(n); },
      [](std::string_view s) -> Result<std::uint64_t> { return std::stoull(std::string(s)); });
  auto r = j->rebuild("kv", *counter);
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("latest-by-key") != std::string::npos);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a fold over a C++ type is a compactor, and errors of the fold name the offset") {
  auto sum = MakeFoldCompactor<std::uint64_t>(
      "sum", 3, 0,
      [](std::uint64_t& n, const Event& e) {
        if (e.payload == "bad") return Status::InvalidArgument("cannot add bad");
        n += std::stoull(std::string(e.payload));
        return Status::OK();
      },
      [](const std::uint64_t& n) { return std::to_string(n); },
      [](std::string_view s) -> Result<std::uint64_t> { return std::stoull(std::string(s)); });
  TXJ_REQUIRE_OK(j->register_compactor("n", sum));
  for (int i = 1; i <= 10; ++i) {
    test::CommitOne(*j, "n", "add", std::to_string(i));
  }
  auto snap = test::RequireOk(j->compact("n"));
  CHECK(snap->compactor == "sum");
  CHECK(snap->compactor_version == 3);
  auto r = test::RequireOk(j->rebuild("n"));
  CHECK(FoldCompactor<std::uint64_t>::value(*r->state) == 55);
  test::CommitOne(*j, "n", "add", "bad");
  auto bad = j->rebuild("n");
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(bad.status().message().find("offset 10") != std::string::npos);
  CHECK(j->compact("unregistered").status().code() == Code::kNotFound);
}

TEST_CASE_FIXTURE(test::FreshJournal, "latest-by-key rejects events without a key") {
  TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
  test::CommitOne(*j, "kv", "put", "no key");
  auto r = j->compact("kv");
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find("no key") != std::string::npos);
}

TEST_CASE("journal-compact compacts a topic and applies retention from the command line") {
  TempDir dir;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    for (int i = 0; i < 500; ++i) {
      auto tx = j->begin();
      TXJ_REQUIRE_OK(tx->append("kv", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 5)}));
      TXJ_REQUIRE_OK(tx->append("log", "line", "l" + std::to_string(i)));
      TXJ_REQUIRE_OK(tx->commit());
    }
    TXJ_REQUIRE_OK(j->close());
  }
  const std::string tool = "../tools/journal-compact";
  auto run = [&](const std::string& args) {
    std::string cmd = tool + " " + args + " > " + dir.sub("out.txt") + " 2>&1";
    int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  CHECK(run(dir.path() + " --topic kv") == 0);
  CHECK(run(dir.path() + " --retain-from 100") == 0);
  CHECK(run(dir.path()) == 2);                              // nothing to do: usage
  CHECK(run(dir.sub("missing") + " --topic kv") == 3);      // no journal there
  CHECK(run(dir.path() + " --retain-from 5000") == 2);      // past the end
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
  auto snaps = test::RequireOk(j->snapshots("kv"));
  REQUIRE(snaps->size() == 1);
  CHECK(snaps->front().covered_offset == 1000);
  CHECK(j->first_offset() == 100);
  auto r = test::RequireOk(j->rebuild("kv"));
  CHECK(static_cast<const LatestByKeyCompactor::Map&>(*r->state).values.at("k4") == "v499");
  CHECK(ReadTopic(*j, "log", 100).size() == 450);
}

TEST_CASE_FIXTURE(test::FreshJournal, "the catalog lists topics with their counts") {
  for (int i = 0; i < 30; ++i) {
    test::CommitOne(*j, i % 3 ? "a" : "b", "t", "xyz");
  }
  TXJ_REQUIRE_OK(j->close());
  j = test::OpenOrDie(dir.path(), test::SmallOptions());
  auto topics = test::RequireOk(j->topics());
  REQUIRE(topics->size() == 2);
  CHECK(topics->at(0).name == "a");
  CHECK(topics->at(0).events == 20);
  CHECK(topics->at(1).name == "b");
  CHECK(topics->at(1).events == 10);
  CHECK(topics->at(1).bytes == 30);
}

// A writer that commits a fixed sequence and compacts, killed at random
// moments: after every reopen the rebuilt state equals the fold of exactly
// the committed prefix, and the other topic is intact.
namespace {

// Transaction i: one "kv" event; every third also one "other" event.
void AppendTxn(Transaction& tx, std::uint64_t i) {
  REQUIRE(tx.append("kv", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 37)}).ok());
  if (i % 3 == 0) REQUIRE(tx.append("other", "note", "o" + std::to_string(i)).ok());
}

std::vector<ModelEvent> Expected(std::uint64_t offsets) {
  std::vector<ModelEvent> out;
  for (std::uint64_t i = 0, off = 0; off < offsets; ++i) {
    out.push_back({off++, 0, "kv", "k" + std::to_string(i % 37), "v" + std::to_string(i), "put"});
    if (i % 3 == 0 && off < offsets) out.push_back({off++, 0, "other", "", "o" + std::to_string(i), "note"});
  }
  return out;
}

}  // namespace

TEST_CASE("writers killed during compaction leave the old or the new state, never a mix") {
  const char* env = std::getenv("TXJ_COMPACTION_CRASH_CYCLES");
  const int cycles = env ? std::atoi(env) : std::getenv("TXJ_SOAK") ? 250 : 25;
  std::mt19937_64 rng(test::Seed() ^ 0xc0ffee);
  TempDir dir;
  Options o = test::SmallOptions(Durability::kNone);
  int survived = 0;
  // Also says how far it got when a REQUIRE ends the loop early.
  struct Report {
    const int& survived;
    int cycles;
    bool done = false;
    ~Report() {
      if (!done) std::printf("compaction crash loop: FAILED: survived %d of %d cycles\n", survived, cycles);
    }
  } report{survived, cycles};
  for (int cycle = 0; cycle < cycles; ++cycle) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto j = Journal::open(dir.path(), o);
      if (!j.ok()) ::_exit(3);
      if (!(*j)->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()).ok()) ::_exit(4);
      std::uint64_t i = 0;
      for (std::uint64_t off = 0; off < (*j)->next_offset(); ++i) off += (i % 3 == 0) ? 2 : 1;
      for (;; ++i) {
        auto tx = (*j)->begin();
        if (!tx.ok()) ::_exit(5);
        AppendTxn(*tx, i);
        if (!tx->commit().ok()) ::_exit(6);
        if (i % 150 == 0 && !(*j)->compact("kv").ok()) ::_exit(7);
      }
    }
    ::usleep(static_cast<useconds_t>(5000 + rng() % 60000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    auto j = test::OpenOrDie(dir.path(), o);
    TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
    const std::uint64_t n = j->next_offset();
    const auto want = Expected(n);
    auto r = test::RequireOk(j->rebuild("kv"));
    CHECK(r->state_hash == ExpectedHash(want, "kv"));
    std::vector<ModelEvent> other;
    for (const auto& m : want) {
      if (m.topic == "other") other.push_back(m);
    }
    auto got = ReadTopic(*j, "other", 0);
    REQUIRE(got.size() == other.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      CHECK(got[k].offset == other[k].offset);
      CHECK(got[k].payload == other[k].payload);
    }
    survived = cycle + 1;
  }
  report.done = true;
  std::printf("compaction crash loop (seed %llu): survived %d of %d cycles\n",
              static_cast<unsigned long long>(test::Seed()), survived, cycles);
}

TEST_CASE("compacting a topic whose start retention removed says so and what it needs") {
  // A journal of 100 updates over 7 keys, its topic compacted first or not.
  auto make = [](const std::string& path, bool compact_first) {
    auto j = test::OpenOrDie(path, test::SmallOptions());
    REQUIRE(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()).ok());
    for (int i = 0; i < 100; ++i) {
      auto tx = j->begin();
      REQUIRE(tx.ok());
      REQUIRE(tx->append("kv", "put", std::to_string(i), {.key = "k" + std::to_string(i % 7)}).ok());
      REQUIRE(tx->commit().ok());
    }
    if (compact_first) REQUIRE(j->compact("kv").ok());
    REQUIRE(j->apply_retention(50).ok());
    return j;
  };
  TempDir dir;
  auto j = make(dir.path(), false);
  for (auto r : {j->compact("kv").status(), j->rebuild("kv").status()}) {
    INFO(r.ToString());
    CHECK(r.code() == Code::kTruncated);
    CHECK(r.message().find("topic kv before offset 50 was removed by retention") != std::string::npos);
    CHECK(r.message().find("snapshot") != std::string::npos);
  }
  // A topic compacted before retention passed its start folds as before.
  TempDir dir2;
  auto k = make(dir2.path(), true);
  TXJ_CHECK_OK(k->compact("kv"));
  TXJ_CHECK_OK(k->rebuild("kv"));
}

// Waits (polling, no time limit asserted) until `done` holds; false after
// about a minute, so a broken policy fails the test instead of hanging it.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 6000; ++i) {
    if (done()) return true;
    usleep(10'000);
  }
  return false;
}

TEST_CASE_FIXTURE(test::FreshJournal, "a compaction policy compacts its topic by itself after as many events, and leaves other topics alone") {
  TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>(), {.every_events = 50}));
  TXJ_REQUIRE_OK(j->register_compactor("other", std::make_shared<LatestByKeyCompactor>()));
  for (int i = 0; i < 120; ++i) {
    auto tx = j->begin();
    TXJ_REQUIRE_OK(tx->append("kv", "put", std::to_string(i), {.key = "k" + std::to_string(i % 5)}));
    TXJ_REQUIRE_OK(tx->append("other", "put", std::to_string(i), {.key = "o"}));
    TXJ_REQUIRE_OK(tx->commit());
  }
  REQUIRE(Eventually([&] {
    auto s = j->snapshots("kv");
    return s.ok() && !s->empty();
  }));
  CHECK(j->automatic_compaction_status().ok());
  auto other = test::RequireOk(j->snapshots("other"));
  CHECK(other->empty());
  auto r = test::RequireOk(j->rebuild("kv"));
  CHECK(r->from_snapshot > 0);
}

TEST_CASE_FIXTURE(test::FreshJournal, "a failed automatic compaction is reported with its topic and changes nothing") {
  TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>(), {.every_events = 10}));
  CHECK(j->automatic_compaction_status().ok());
  for (int i = 0; i < 30; ++i) {
    auto tx = j->begin();
    TXJ_REQUIRE_OK(tx->append("kv", "put", "no key"));  // latest-by-key refuses events without a key
    TXJ_REQUIRE_OK(tx->commit());
  }
  REQUIRE(Eventually([&] { return !j->automatic_compaction_status().ok(); }));
  const Status s = j->automatic_compaction_status();
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("automatic compaction of topic kv") != std::string::npos);
  auto snaps = test::RequireOk(j->snapshots("kv"));
  CHECK(snaps->empty());
  CHECK(j->next_offset() == 30);
}

TEST_CASE("a damaged record after a gap is corruption to a cursor and to compaction, never an early end that hides the rest") {
  TempDir dir;
  auto open = [&] {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions(Durability::kCommit));
    REQUIRE(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()).ok());
    return j;
  };
  {
    auto j = open();
    for (int i = 0; i < 40; ++i) {  // each durable commit leaves a gap before the next transaction
      auto tx = test::RequireOk(j->begin());
      TXJ_REQUIRE_OK(tx->append("kv", "put", std::string(200, 'v'), {.key = "k" + std::to_string(i % 5)}));
      TXJ_REQUIRE_OK(tx->commit());
    }
    TXJ_REQUIRE_OK(j->close());
  }
  // The third record of the first segment that starts a page after a gap.
  std::string seg;
  std::uint64_t prev_end = 0, target = 0;
  int found = 0;
  auto walk = WalkJournal(dir.path(), [&](const RawRecord& r) {
    if (seg.empty()) seg = std::string(r.segment);
    if (r.segment == seg && found < 3 && r.file_offset % 4096 == 0 && prev_end != 0 && prev_end < r.file_offset &&
        ++found == 3) {
      target = r.file_offset;
    }
    prev_end = r.file_offset + r.length;
  });
  TXJ_REQUIRE_OK(walk);
  REQUIRE(target != 0);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(target + 8));  // inside the header, past the checksum
    f.put('\x7f');
    REQUIRE(f.good());
  }
  const std::string before = test::ReadFile(seg);
  auto damaged = WalkJournal(dir.path());
  CHECK((damaged.ok() ? damaged->damaged() : true));
  auto j = open();
  // A cursor reads the transactions before the damage, then reports it.
  auto c = test::RequireOk(j->open_cursor(0));
  int read = 0;
  Status last;
  for (;;) {
    auto e = c->next();
    if (!e.ok()) {
      last = e.status();
      break;
    }
    if (!e->has_value()) break;
    ++read;
  }
  MESSAGE("cursor: ", read, " events, then ", last.ToString());
  CHECK(read == 3);
  CHECK(last.code() == Code::kCorruption);
  CHECK(last.ToString().find(seg) != std::string::npos);
  {
    auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
    auto rc = test::RequireOk(ro->open_cursor(0));
    int ro_read = 0;
    Result<std::optional<Event>> e = rc->next();
    for (; e.ok() && e->has_value(); e = rc->next()) ++ro_read;
    CHECK(ro_read == 3);
    CHECK(e.status().code() == Code::kCorruption);
  }
  // Compaction folds through a cursor: it stops at the same place and
  // writes neither a snapshot nor a segment.
  auto snap = j->compact("kv");
  REQUIRE_FALSE(snap.ok());
  CHECK(snap.status().code() == Code::kCorruption);
  CHECK(test::RequireOk(j->snapshots("kv"))->empty());
  CHECK(test::ReadFile(seg) == before);
}
