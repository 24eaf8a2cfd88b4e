// journal-dump and journal-load, in-process and as binaries.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "checksum.h"
#include "dump_tool.h"
#include "format.h"
#include "manifest.h"
#include "load_tool.h"
#include "test_util.h"
#include "tool_run.h"
#include "txjournal/walk.h"
#include "txjournal/compactor.h"

using namespace txj;
using namespace txj::test;
using namespace txj::tools;

namespace {

std::string Ops() {
  return R"({"op":"begin"}
{"op":"event","topic":"orders","type":"created","key":"o-1","data":"first"}
{"op":"begin"}
{"op":"event","topic":"stock","type":"reserved","data":"kept"}
{"op":"begin"}
{"op":"event","topic":"audit","type":"note","data":"nested deeper"}
{"op":"commit"}
{"op":"commit"}
{"op":"begin"}
{"op":"event","topic":"stock","type":"reserved","data":"dropped"}
{"op":"rollback"}
{"op":"event","topic":"orders","type":"paid","key":"o-1","data_b64":"AP8BAg=="}
{"op":"commit"}
{"op":"begin"}
{"op":"event","topic":"orders","type":"created","data":"never"}
{"op":"rollback"}
{"op":"begin"}
{"op":"event","topic":"orders","type":"created","key":"o-2","data":"second","ts":12345}
{"op":"commit"}
)";
}

std::string SegmentPath(const std::string& dir, int index) {
  std::vector<std::string> segs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") segs.push_back(e.path());
  }
  std::sort(segs.begin(), segs.end());
  return index < static_cast<int>(segs.size()) ? segs[static_cast<std::size_t>(index)] : "";
}

void Poke(const std::string& path, std::uint64_t offset, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

}  // namespace

TEST_CASE("journal-load writes nested transactions and prints one line per top-level commit") {
  TempDir dir;
  auto r = Load({dir.path(), "--durability", "none"}, Ops());
  INFO(r.err);
  REQUIRE(r.code == kLoadOk);
  CHECK(r.out ==
        "{\"committed\":1,\"first_offset\":0,\"count\":4,\"lsn\":" + r.out.substr(r.out.find("lsn\":") + 5, r.out.find('}') - r.out.find("lsn\":") - 5) +
            "}\n" + r.out.substr(r.out.find('\n') + 1));
  auto d = Dump({dir.path(), "--format", "jsonl"});
  REQUIRE(d.code == kDumpOk);
  std::istringstream lines(d.out);
  std::vector<std::string> got;
  for (std::string l; std::getline(lines, l);) got.push_back(l);
  REQUIRE(got.size() == 5);
  CHECK(got[0].find("\"offset\":0") != std::string::npos);
  CHECK(got[0].find("\"key\":\"o-1\"") != std::string::npos);
  CHECK(got[2].find("\"data\":\"nested deeper\"") != std::string::npos);
  CHECK(got[3].find("\"data_b64\":\"AP8BAg==\"") != std::string::npos);  // not UTF-8
  CHECK(got[4].find("\"ts\":12345") != std::string::npos);
  CHECK(got[4].find("\"offset\":4") != std::string::npos);
  CHECK(d.out.find("never") == std::string::npos);
  CHECK(d.out.find("dropped") == std::string::npos);
}

TEST_CASE("a raw dump loaded into a new journal gives the same committed events") {
  TempDir dir;
  REQUIRE(Load({dir.sub("a"), "--durability", "none"}, Ops()).code == kLoadOk);
  auto raw = Dump({dir.sub("a"), "--raw", "--format", "jsonl"});
  REQUIRE(raw.code == kDumpOk);
  auto l = Load({dir.sub("b"), "--durability", "none"}, raw.out);
  INFO(l.err);
  REQUIRE(l.code == kLoadOk);
  CHECK(Dump({dir.sub("a"), "--format", "jsonl"}).out == Dump({dir.sub("b"), "--format", "jsonl"}).out);
}

TEST_CASE("dump filters by topic, type, offsets and transaction") {
  TempDir dir;
  REQUIRE(Load({dir.path(), "--durability", "none"}, Ops()).code == kLoadOk);
  auto count = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
  CHECK(count(Dump({dir.path(), "--topic", "orders"}).out) == 3);
  CHECK(count(Dump({dir.path(), "--topic", "orders", "--topic", "audit"}).out) == 4);
  CHECK(count(Dump({dir.path(), "--type", "created"}).out) == 2);
  CHECK(count(Dump({dir.path(), "--from", "1", "--to", "3"}).out) == 2);
  CHECK(count(Dump({dir.path(), "--txn", "3"}).out) == 1);
  CHECK(count(Dump({dir.path(), "--txn", "1"}).out) == 4);
  CHECK(Dump({dir.path(), "--format", "xml"}).code == kDumpUsage);
  CHECK(Dump({}).code == kDumpUsage);
  CHECK(Dump({dir.sub("nothing-here")}).code == kDumpUnreadable);
}

TEST_CASE("a malformed line is an error naming its line, and nothing of the open transaction is visible") {
  TempDir dir;
  const std::string in = "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"t\",\"data\":\"x\"}\n{\"op\":\"commit\"}\n"
                         "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"t\",\"data\":\"y\"}\n{\"op\":\"event\",\"topic\":\n";
  auto r = Load({dir.path(), "--durability", "none"}, in);
  CHECK(r.code == kLoadBadInput);
  CHECK(r.err.find("line 6") != std::string::npos);
  CHECK(r.err.find("rolled back") != std::string::npos);
  auto d = Dump({dir.path()});
  CHECK(d.out.find("x") != std::string::npos);
  CHECK(d.out.find("  y") == std::string::npos);
  CHECK(Load({dir.path()}, "{\"op\":\"event\",\"topic\":\"t\"}\n").err.find("outside a transaction") != std::string::npos);
  CHECK(Load({dir.path()}, "{\"op\":\"commit\"}\n").code == kLoadBadInput);
  CHECK(Load({dir.path()}, "{\"op\":\"jump\"}\n").code == kLoadBadInput);
  CHECK(Load({dir.path()}, "{\"op\":\"begin\"}\n").code == kLoadBadInput);  // input ends inside it
  CHECK(Load({dir.path()}, "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"t\",\"data_b64\":\"!!\"}\n").code ==
        kLoadBadInput);
}

TEST_CASE("verify passes a sound journal and reports what a crash leaves without calling it damage") {
  TempDir dir;
  REQUIRE(Load({dir.path(), "--durability", "none"}, Ops()).code == kLoadOk);
  auto v = Dump({dir.path(), "--verify", "--stats"});
  CHECK(v.code == kDumpOk);
  CHECK(v.out.find("\"committed_transactions\": 2") != std::string::npos);
  CHECK(v.out.find("\"rolled_back_transactions\": 1") != std::string::npos);
  // Garbage after the end, where the writer had not synced: a torn tail.
  auto stats = Dump({dir.path(), "--stats", "--format", "jsonl"});
  auto pos = stats.out.find("\"end_lsn\":");
  const std::uint64_t end = std::stoull(stats.out.substr(pos + 10));
  Poke(SegmentPath(dir.path(), 0), end, std::string("\x13\x37torn-record-bytes", 19));
  auto t = Dump({dir.path(), "--verify"});
  CHECK(t.code == kDumpOk);
  CHECK(t.err.find("tail:") != std::string::npos);
  CHECK(Dump({dir.path()}).code == kDumpOk);
  // The next writable open cuts it, and then the journal is clean again.
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  CHECK(!j->recovery_report().repairs.empty());
  TXJ_REQUIRE_OK(j->close());
  CHECK(Dump({dir.path(), "--verify"}).err.find("tail:") == std::string::npos);
}

TEST_CASE("verify names the file and byte offset of damaged data") {
  auto make = [](const std::string& d) {
    auto j = test::OpenOrDie(d, test::SmallOptions());
    for (int i = 0; i < 600; ++i) {  // several 64 KiB segments
      test::CommitOne(*j, "t", "e", std::string(200, 'a' + i % 26));
    }
    REQUIRE(j->close().ok());
  };
  // Each damage returns the path the report must name.
  struct Damage {
    const char* what;
    std::function<std::string(const std::string& dir)> apply;
    bool in_data;  // a reader of the data meets it too: it names the byte, and a plain dump fails
  };
  const Damage damages[] = {
      {"a bit flip in committed data",
       [](const std::string& d) {
         Poke(SegmentPath(d, 0), 4096 + 1000, "\xff");
         return SegmentPath(d, 0);
       },
       true},
      {"a truncated segment",
       [](const std::string& d) {
         std::filesystem::resize_file(SegmentPath(d, 1), 10000);
         return SegmentPath(d, 1);
       },
       false},
      {"a missing middle segment",
       [](const std::string& d) {
         std::filesystem::remove(SegmentPath(d, 1));
         return SegmentPath(d, 1);
       },
       false},
      {"a garbage file named like a segment",
       [](const std::string& d) {
         std::ofstream(d + "/00000000ffff0000.seg") << "this is not a segment";
         return std::string("00000000ffff0000.seg");
       },
       false},
  };
  for (const Damage& damage : damages) {
    INFO(damage.what);
    TempDir dir;
    make(dir.path());
    const std::string named = damage.apply(dir.path());
    auto v = Dump({dir.path(), "--verify"});
    CHECK(v.code == kDumpDamaged);
    CHECK(v.err.find(named) != std::string::npos);
    if (damage.in_data) {
      CHECK(v.err.find("byte") != std::string::npos);
      CHECK(Dump({dir.path()}).code == kDumpDamaged);
    }
  }
}

TEST_CASE("no damaged input makes dump crash or answer outside its exit codes") {
  const std::uint64_t seed = test::Seed();
  std::mt19937_64 rng(seed);
  TempDir base;
  {
    auto j = test::OpenOrDie(base.path(), test::SmallOptions());
    for (int i = 0; i < 400; ++i) {
      auto tx = j->begin();
      REQUIRE(tx->append("t" + std::to_string(i % 3), "e", std::string(rng() % 300, 'q'), {.key = "k"}).ok());
      auto sub = tx->begin();
      REQUIRE(sub->append("s", "e", "x").ok());
      if (i % 4 == 0) {
        REQUIRE(sub->rollback().ok());
      } else {
        REQUIRE(sub->commit().ok());
      }
      REQUIRE(tx->commit().ok());
    }
    REQUIRE(j->close().ok());
  }
  for (int iter = 0; iter < 60; ++iter) {
    TempDir dir;
    std::filesystem::copy(base.path(), dir.path(), std::filesystem::copy_options::recursive |
                                                       std::filesystem::copy_options::overwrite_existing);
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    const std::string f = files[rng() % files.size()];
    const auto size = std::filesystem::file_size(f);
    switch (rng() % 3) {
      case 0:
        for (int k = 0; k < 1 + static_cast<int>(rng() % 8); ++k) {
          Poke(f, size ? rng() % size : 0, std::string(1, static_cast<char>(rng())));
        }
        break;
      case 1:
        if (size) Poke(f, rng() % size, std::string(1 + rng() % 4096, '\0'));
        break;
      case 2: std::filesystem::resize_file(f, size ? rng() % size : 0); break;
    }
    for (const auto& args : std::vector<std::vector<std::string>>{
             {dir.path()}, {dir.path(), "--raw"}, {dir.path(), "--verify", "--stats"}}) {
      auto r = Dump(args);
      CAPTURE(f);
      CHECK((r.code == kDumpOk || r.code == kDumpDamaged || r.code == kDumpUnreadable));
    }
  }
  MESSAGE("seed ", seed);
}

TEST_CASE("the built binaries run and document their exit codes") {
  TempDir dir;
  std::ofstream(dir.sub("ops.jsonl")) << Ops();
  auto sh = [&](const std::string& cmd) {
    int rc = std::system((cmd + " > " + dir.sub("out.txt") + " 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  CHECK(sh("../tools/journal-load " + dir.sub("j") + " " + dir.sub("ops.jsonl")) == 0);
  CHECK(sh("../tools/journal-dump --verify " + dir.sub("j")) == 0);
  CHECK(sh("../tools/journal-dump --help") == 0);
  CHECK(test::ReadFile(dir.sub("out.txt")).find("Exit status") != std::string::npos);
  CHECK(sh("../tools/journal-dump --bogus " + dir.sub("j")) == 2);
}

TEST_CASE("dump lists snapshots and prints a topic's rebuilt state and its hash") {
  TempDir dir;
  std::string full_hash;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    TXJ_REQUIRE_OK(j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()));
    for (int i = 0; i < 300; ++i) {
      auto tx = j->begin();
      REQUIRE(tx->append("kv", i % 50 == 49 ? "tombstone" : "put", "v" + std::to_string(i),
                         {.key = "k" + std::to_string(i % 7)}).ok());
      REQUIRE(tx->commit().ok());
    }
    auto snap = test::RequireOk(j->compact("kv"));
    test::CommitOne(*j, "kv", "put", "after", {.key = "k-new"});
    auto r = test::RequireOk(j->rebuild("kv"));
    full_hash = r->state_hash;
    TXJ_REQUIRE_OK(j->close());
  }
  auto s = Dump({dir.path(), "--snapshots", "--format", "jsonl"});
  CHECK(s.code == kDumpOk);
  CHECK(s.out.find("\"compactor\":\"latest-by-key\"") != std::string::npos);
  CHECK(s.out.find("\"covered_offset\":300") != std::string::npos);
  auto h = Dump({dir.path(), "--state", "kv", "--state-hash"});
  CHECK(h.code == kDumpOk);
  CHECK(h.out == full_hash + "\n");
  auto st = Dump({dir.path(), "--state", "kv"});
  CHECK(st.out.find("{\"key\":\"k-new\",\"data\":\"after\"}") != std::string::npos);
  CHECK(Dump({dir.path(), "--state-hash"}).code == kDumpUsage);
}

TEST_CASE("journal-dump prints an event whose topic is not UTF-8 (damage the checksum does not catch) instead of aborting") {
  test::TempDir dir;
  const std::string jdir = dir.sub("j");
  {
    auto j = test::OpenOrDie(jdir, test::SmallOptions());
    test::CommitOne(*j, "topic", "type", "payload");
    TXJ_REQUIRE_OK(j->close());
  }
  // Find the names record the event names its topic by (format 5), put
  // two bytes that are not UTF-8 in the topic, and give it a valid checksum
  // again (as a foreign writer could).
  std::string file;
  std::uint64_t offset = 0, lsn = 0, length = 0;
  auto walk = WalkJournal(jdir, [&](const RawRecord& r) {
    if (r.type == RecordType::kNames) {
      file = std::string(r.segment);
      offset = r.file_offset;
      lsn = r.lsn;
      length = r.length;
    }
  });
  TXJ_REQUIRE_OK(walk);
  REQUIRE(!file.empty());
  internal::ManifestData m;
  TXJ_REQUIRE_OK(internal::ReadManifest(*DefaultFileSystem(), jdir, &m));
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  std::string rec(length, '\0');
  f.seekg(static_cast<std::streamoff>(offset));
  f.read(rec.data(), static_cast<std::streamsize>(length));
  const std::size_t topic_at = format::kRecordHeaderSize + sizeof(format::NamesBody);
  REQUIRE(rec.substr(topic_at, 5) == "topic");
  rec[topic_at] = static_cast<char>(0xff);
  rec[topic_at + 1] = static_cast<char>(0xfe);
  const std::uint64_t sum = internal::RecordChecksum(rec.data(), static_cast<std::uint32_t>(length), m.salt(), lsn);
  std::memcpy(rec.data(), &sum, 8);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(rec.data(), static_cast<std::streamsize>(length));
  f.close();
  for (const auto& mode : std::vector<std::vector<std::string>>{{"--format", "jsonl"}, {"--raw", "--format", "jsonl"}}) {
    auto args = mode;
    args.push_back(jdir);
    Run r = Dump(args);
    INFO("mode ", mode.size(), " err: ", r.err);
    if (mode.size() == 3) {
      CHECK(r.out.find("\"topic_b64\"") != std::string::npos);  // --raw prints every verifying record
    } else {
      // The commit marker's running hash still has the old checksum: the
      // committed view reports that damage, with the damaged exit code.
      CHECK(r.code == kDumpDamaged);
    }
  }
}
