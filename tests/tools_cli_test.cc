// The command-line tools from the outside: output that cannot be written,
// numbers out of range, unusable input, faithful copies of compacted
// journals, damaged snapshots, journal-compact's JSON, journal-mirror's
// connection policy. In-process through the tool functions, and as child
// processes through the built binaries (../tools from build/tests).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <streambuf>

#include "test_util.h"
#include "tool_run.h"
#include "tool_util.h"
#include "txjournal/compactor.h"
#include "txjournal/replication.h"

using namespace txj;
using namespace txj::test;
using namespace txj::tools;

namespace {

// Runs `cmd` through /bin/sh with stdout and stderr to files of `dir`
// (unless cmd redirects them itself); returns the exit status.
Run Sh(const TempDir& dir, const std::string& cmd, bool redirect_stdout = true) {
  const std::string o = dir.sub("sh.out"), e = dir.sub("sh.err");
  std::filesystem::remove(o);
  std::string full = cmd + (redirect_stdout ? " > " + o : std::string()) + " 2> " + e;
  int rc = std::system(full.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ReadFile(o), ReadFile(e)};
}

const std::string kTools = "../tools/";

// A loopback TCP port that was free a moment ago (bound to port 0, then
// closed).
int FreeLoopbackPort() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(s);
  return ntohs(addr.sin_port);
}

std::string SimpleOps() {
  return "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"t\",\"type\":\"put\",\"key\":\"k\",\"data\":\"1\"}\n"
         "{\"op\":\"event\",\"topic\":\"o\",\"type\":\"put\",\"data\":\"2\"}\n{\"op\":\"commit\"}\n";
}

// A journal of several topics; "acct" is compacted in between.
void WriteTopics(const std::string& dir, int txns, std::mt19937_64& rng, bool compact_at_end) {
  auto j = test::OpenOrDie(dir, test::SmallOptions());
  TXJ_REQUIRE_OK(j->register_compactor("acct", std::make_shared<LatestByKeyCompactor>()));
  const char* topics[] = {"acct", "orders", "audit", "stock"};
  for (int i = 0; i < txns; ++i) {
    auto tx = test::RequireOk(j->begin());
    const bool only_acct = rng() % 3 == 0;
    const int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) {
      const std::string topic = only_acct ? "acct" : topics[rng() % 4];
      REQUIRE(tx->append(topic, rng() % 17 == 0 ? "tombstone" : "put", "v" + std::to_string(i) + "." + std::to_string(k),
                         {.key = "k" + std::to_string(rng() % 9)})
                  .ok());
    }
    if (rng() % 3 == 0) {  // a sub-transaction, sometimes with one inside, sometimes rolled back
      auto sub = test::RequireOk(tx->begin());
      REQUIRE(sub->append(only_acct ? "acct" : topics[rng() % 4], "put", std::string(rng() % 200, 's'),
                          {.key = "s" + std::to_string(rng() % 5)})
                  .ok());
      if (rng() % 2) {
        auto inner = test::RequireOk(sub->begin());
        REQUIRE(inner->append("acct", "put", "inner", {.key = "i"}).ok());
        test::CommitOrRollBack(*inner, rng() % 3 == 0);
      }
      REQUIRE(sub->append(topics[rng() % 4], "put", "after", {.key = "a"}).ok());
      test::CommitOrRollBack(*sub, rng() % 4 == 0);
    }
    test::CommitOrRollBack(*tx, rng() % 10 == 0);
    if (i == txns / 2) TXJ_REQUIRE_OK(j->compact("acct"));
  }
  if (compact_at_end) TXJ_REQUIRE_OK(j->compact("acct"));
  TXJ_REQUIRE_OK(j->close());
}

std::uint64_t NextTxnIdAfterCommit(const std::string& dir, std::uint64_t* first_offset) {
  auto j = test::OpenOrDie(dir, test::SmallOptions());
  auto tx = j->begin();
  REQUIRE(tx.ok());
  REQUIRE(tx->append("orders", "put", "new").ok());
  auto info = tx->commit();
  REQUIRE(info.ok());
  *first_offset = info->first_offset;
  REQUIRE(j->close().ok());
  return info->txn_id;
}

// A stream buffer that refuses every write, as a full disk does.
struct FullBuf : std::streambuf {
  int overflow(int) override {
    errno = ENOSPC;
    return traits_type::eof();
  }
  std::streamsize xsputn(const char*, std::streamsize) override {
    errno = ENOSPC;
    return 0;
  }
};

}  // namespace

// ---- item 4: faithful copies ----

TEST_CASE("a raw dump of a journal with compaction and retention loads back to the same offsets, ids and states") {
  const std::uint64_t seed = test::Seed();
  std::mt19937_64 rng(seed);
  TempDir dir;
  const std::string a = dir.sub("a"), b = dir.sub("b");
  WriteTopics(a, 700, rng, true);
  {
    auto j = test::OpenOrDie(a, test::SmallOptions());
    TXJ_REQUIRE_OK(j->apply_retention(j->next_offset() / 4));
    TXJ_REQUIRE_OK(j->register_compactor("acct", std::make_shared<LatestByKeyCompactor>()));
    for (int i = 0; i < 20; ++i) {
      auto tx = j->begin();
      REQUIRE(tx->append("orders", "put", "late" + std::to_string(i), {.key = "k"}).ok());
      REQUIRE(tx->append("acct", "put", "late" + std::to_string(i), {.key = "k" + std::to_string(i % 3)}).ok());
      TXJ_REQUIRE_OK(tx->commit());
    }
    TXJ_REQUIRE_OK(j->close());
  }
  auto raw = Dump({a, "--raw", "--format", "jsonl"});
  INFO(raw.err);
  REQUIRE(raw.code == kDumpOk);
  // The copy carries what compaction and retention left behind.
  CHECK(raw.out.find("{\"op\":\"journal\"") == 0);
  {
    int top_gaps_with_ids = 0, inner_gaps = 0;
    std::istringstream lines(raw.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("{\"op\":\"gap\"") != 0) continue;
      auto g = nlohmann::json::parse(line);
      if (!g.contains("last_txn_id")) {
        ++inner_gaps;
      } else if (g["last_txn_id"].get<std::uint64_t>() > 0) {
        ++top_gaps_with_ids;
      }
    }
    CHECK(top_gaps_with_ids > 0);  // whole transactions compacted away
    CHECK(inner_gaps > 0);         // events compacted out of transactions that keep others
  }
  CHECK(raw.out.find("\"op\":\"snapshot\"") != std::string::npos);
  CHECK(raw.out.find("{\"op\":\"compacted\",\"topic\":\"acct\"") != std::string::npos);
  CHECK(raw.out.find("{\"op\":\"retention\"") != std::string::npos);
  auto l = Load({b, "--durability", "none"}, raw.out);
  INFO(l.err);
  REQUIRE(l.code == kLoadOk);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    CHECK(e.path().filename().string().find(".loading") == std::string::npos);  // built aside, renamed into place
  }
  // The same committed view: every event at the same offset, in the same transaction.
  auto va = Dump({a, "--format", "jsonl"}), vb = Dump({b, "--format", "jsonl"});
  CHECK(va.code == kDumpOk);
  CHECK(vb.code == kDumpOk);
  CHECK(va.out.size() > 1000);
  CHECK(va.out == vb.out);
  for (const char* t : {"orders", "audit", "stock", "acct"}) {
    CAPTURE(t);
    CHECK(Dump({a, "--format", "jsonl", "--topic", t}).out == Dump({b, "--format", "jsonl", "--topic", t}).out);
  }
  auto ha = Dump({a, "--state", "acct", "--state-hash"}), hb = Dump({b, "--state", "acct", "--state-hash"});
  CHECK(ha.code == kDumpOk);
  CHECK(ha.out.size() == 33);
  CHECK(ha.out == hb.out);
  CHECK(Dump({b, "--verify"}).code == kDumpOk);
  // The copy goes on as the source does: same next transaction id and offset.
  std::uint64_t fa = 0, fb = 0;
  CHECK(NextTxnIdAfterCommit(a, &fa) == NextTxnIdAfterCommit(b, &fb));
  CHECK(fa == fb);
  MESSAGE("seed ", seed);
}

TEST_CASE("a copy that is cut short, altered, or loaded into a journal that holds data is refused") {
  std::mt19937_64 rng(test::Seed());
  TempDir dir;
  WriteTopics(dir.sub("a"), 200, rng, true);
  auto raw = Dump({dir.sub("a"), "--raw", "--format", "jsonl"});
  REQUIRE(raw.code == kDumpOk);
  SUBCASE("cut short") {
    std::string cut = raw.out.substr(0, raw.out.rfind("{\"op\":\"end\""));
    auto l = Load({dir.sub("b"), "--durability", "none"}, cut);
    CHECK(l.code == kLoadBadInput);
    CHECK(l.err.find("incomplete") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.sub("b")));  // refused whole: nothing written
    // Into an existing empty directory, what was loaded stays, and the message says so.
    std::filesystem::create_directories(dir.sub("c"));
    auto c = Load({dir.sub("c"), "--durability", "none"}, cut);
    CHECK(c.code == kLoadBadInput);
    CHECK(c.err.find("holds an incomplete copy") != std::string::npos);
  }
  SUBCASE("into a journal that holds data") {
    auto l = Load({dir.sub("a"), "--durability", "none"}, raw.out);
    CHECK(l.code == kLoadJournal);
    CHECK(l.err.find("new, empty journal") != std::string::npos);
  }
  SUBCASE("offsets that cannot be reproduced") {
    std::string bad = raw.out;
    const auto p = bad.find("\"first_offset\":");
    REQUIRE(p != std::string::npos);
    bad.insert(p + 15, "9");
    auto l = Load({dir.sub("b"), "--durability", "none"}, bad);
    CHECK(l.code == kLoadBadInput);
    CHECK(l.err.find("cannot be reproduced") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.sub("b")));
  }
}

// ---- item 14: the committed view after compaction ----

TEST_CASE("a plain dump after compacting one topic prints the other topics and names the snapshot") {
  TempDir dir;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    TXJ_REQUIRE_OK(j->register_compactor("t", std::make_shared<LatestByKeyCompactor>()));
    for (int i = 0; i < 400; ++i) {
      test::CommitOne(*j, i % 3 ? "t" : "o", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 5)});
    }
    TXJ_REQUIRE_OK(j->compact("t"));
    test::CommitOne(*j, "t", "put", "after", {.key = "k"});
    TXJ_REQUIRE_OK(j->close());
  }
  auto d = Dump({dir.path(), "--time=none"});
  INFO(d.err);
  CHECK(d.code == kDumpOk);
  CHECK(d.out.find("0  txn 1  o  put  key=k0  v0\n") == 0);
  CHECK(d.out.find("399  txn 400  o  put") != std::string::npos);
  CHECK(d.out.find("400  txn 401  t  put  key=k  after\n") != std::string::npos);
  CHECK(d.out.find("  t  put  key=k1  v1\n") == std::string::npos);  // compacted
  CHECK(d.err.find("snapshots/") != std::string::npos);
  CHECK(d.err.find("topic t below offset 400") != std::string::npos);
  auto only_t = Dump({dir.path(), "--time=none", "--topic", "t"});
  CHECK(only_t.code == kDumpOk);
  CHECK(only_t.out == "400  txn 401  t  put  key=k  after\n");
}

// ---- item 18: snapshots are part of what is verified ----

TEST_CASE("verify, snapshots and raw report a damaged or missing snapshot as damage") {
  TempDir dir;
  std::string snap;
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    TXJ_REQUIRE_OK(j->register_compactor("t", std::make_shared<LatestByKeyCompactor>()));
    for (int i = 0; i < 300; ++i) {
      test::CommitOne(*j, "t", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 5)});
    }
    auto s = test::RequireOk(j->compact("t"));
    snap = s->file;
    TXJ_REQUIRE_OK(j->close());
  }
  REQUIRE(Dump({dir.path(), "--verify"}).code == kDumpOk);
  REQUIRE(Dump({dir.path(), "--snapshots"}).code == kDumpOk);
  SUBCASE("damaged") {
    std::fstream f(snap, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('\x7f');
    f.close();
    auto v = Dump({dir.path(), "--verify"});
    CHECK(v.code == kDumpDamaged);
    CHECK(v.err.find(snap) != std::string::npos);
    CHECK(Dump({dir.path(), "--snapshots"}).code == kDumpDamaged);
    CHECK(Dump({dir.path(), "--raw", "--format", "jsonl"}).code == kDumpDamaged);
  }
  SUBCASE("missing") {
    std::filesystem::remove(snap);
    auto v = Dump({dir.path(), "--verify"});
    CHECK(v.code == kDumpDamaged);
    CHECK(v.err.find("no sound snapshot covers it") != std::string::npos);
    auto s = Dump({dir.path(), "--snapshots"});
    CHECK(s.code == kDumpDamaged);
    CHECK(s.err.find("topic t below offset 300") != std::string::npos);
    auto raw = Dump({dir.path(), "--raw", "--format", "jsonl"});
    CHECK(raw.code == kDumpDamaged);
    CHECK(raw.out.find("\"op\":\"end\"") == std::string::npos);  // not a complete copy
  }
}

// ---- item 17 ----

TEST_CASE("a raw dump refuses --from and --to instead of ignoring them") {
  TempDir dir;
  REQUIRE(Load({dir.path(), "--durability", "none"}, SimpleOps()).code == kLoadOk);
  for (const char* opt : {"--from", "--to"}) {
    auto r = Dump({dir.path(), "--raw", opt, "1"});
    CHECK(r.code == kDumpUsage);
    CHECK(r.err.find("--raw") != std::string::npos);
    CHECK(r.out.empty());
  }
  CHECK(Dump({dir.path(), "--raw", "--txn", "1"}).code == kDumpOk);
}

// ---- item 15 ----

TEST_CASE("negative and overflowing numbers are refused with the option named") {
  TempDir dir;
  REQUIRE(Load({dir.path(), "--durability", "none"}, SimpleOps()).code == kLoadOk);
  for (auto args : std::vector<std::vector<std::string>>{{"--from", "-1"},
                                                         {"--to", "-5"},
                                                         {"--from", "18446744073709551616"},
                                                         {"--to", "1e3"},
                                                         {"--txn", "-1"},
                                                         {"--txn", " 1"},
                                                         {"--from", "0x10"}}) {
    CAPTURE(args[0] + " " + args[1]);
    args.insert(args.begin(), dir.path());
    auto r = Dump(args);
    CHECK(r.code == kDumpUsage);
    CHECK(r.err.find(args[1]) != std::string::npos);
    CHECK(r.out.empty());
  }
  CHECK(Dump({dir.path(), "--from", "18446744073709551615"}).code == kDumpOk);
  for (const char* size : {"-18446744073709486080", "1000", "65537", "18446744073709551616", "2199023259648"}) {
    CAPTURE(size);
    auto r = Load({dir.sub(std::string("s") + size), "--segment-size", size}, SimpleOps());
    CHECK(r.code == kLoadUsage);
    CHECK(r.err.find("--segment-size") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.sub(std::string("s") + size)));
  }
  auto c = Sh(dir, kTools + "journal-compact " + dir.path() + " --retain-from -1");
  CHECK(c.code == 2);
  CHECK(c.err.find("--retain-from") != std::string::npos);
}

TEST_CASE("nesting deeper than the journal allows is malformed input, not a journal failure") {
  TempDir dir;
  std::string in;
  for (int i = 0; i < 65537; ++i) in += "{\"op\":\"begin\"}\n";
  auto r = Load({dir.path(), "--durability", "none"}, in);
  CHECK(r.code == kLoadBadInput);
  CHECK(r.err.find("65535") != std::string::npos);
}

// ---- item 16 ----

TEST_CASE("load refuses a directory, a missing file and a closed standard input as its input") {
  TempDir dir;
  std::filesystem::create_directories(dir.sub("somedir"));
  auto d = Load({dir.sub("j"), dir.sub("somedir")}, "");
  CHECK(d.code == kLoadUsage);
  CHECK(d.err.find("directory") != std::string::npos);
  auto m = Load({dir.sub("j"), dir.sub("missing.jsonl")}, "");
  CHECK(m.code == kLoadUsage);
  CHECK(m.err.find("No such file") != std::string::npos);
  auto c = Sh(dir, kTools + "journal-load " + dir.sub("k") + " <&-");
  CHECK(c.code == 2);
  CHECK(c.err.find("standard input is closed") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.sub("k")));  // not even created
}

// ---- item 3 ----

TEST_CASE("every tool reports output it cannot write and exits 4") {
  TempDir dir;
  std::ofstream(dir.sub("ops.jsonl")) << SimpleOps();
  REQUIRE(Sh(dir, kTools + "journal-load " + dir.sub("j") + " " + dir.sub("ops.jsonl")).code == 0);
  for (const std::string& args : {std::string(" --raw --format jsonl"), std::string(""), std::string(" --stats"),
                                  std::string(" --state t")}) {
    CAPTURE(args);
    auto full = Sh(dir, kTools + "journal-dump " + dir.sub("j") + args + " > /dev/full", false);
    CHECK(full.code == 4);
    CHECK(full.err.find("write error: No space left on device") != std::string::npos);
    auto closed = Sh(dir, kTools + "journal-dump " + dir.sub("j") + args + " >&-", false);
    CHECK(closed.code == 4);
    CHECK(closed.err.find("write error") != std::string::npos);
  }
  auto load = Sh(dir, kTools + "journal-load " + dir.sub("j2") + " " + dir.sub("ops.jsonl") + " > /dev/full", false);
  CHECK(load.code == 4);
  CHECK(load.err.find("write error") != std::string::npos);
  auto load_closed = Sh(dir, kTools + "journal-load " + dir.sub("j3") + " " + dir.sub("ops.jsonl") + " >&-", false);
  CHECK(load_closed.code == 4);
  // The journal never received the tool's output.
  CHECK(Dump({dir.sub("j3"), "--verify"}).code == kDumpOk);
  auto compact = Sh(dir, kTools + "journal-compact " + dir.sub("j") + " --topic t > /dev/full", false);
  CHECK(compact.code == 4);
  CHECK(compact.err.find("write error") != std::string::npos);
  auto demo = Sh(dir, kTools + "journal-demo " + dir.sub("demo") + " > /dev/full", false);
  CHECK(demo.code == 4);
  CHECK(demo.err.find("write error") != std::string::npos);
  // In-process: a stream that fails.
  FullBuf buf;
  std::ostream bad(&buf);
  std::ostringstream err;
  CHECK(RunDump({dir.sub("j"), "--format", "jsonl"}, bad, err) == kDumpWriteError);
  CHECK(err.str().find("write error") != std::string::npos);
}

// ---- item 20 ----

TEST_CASE("journal-compact prints valid JSON for a topic with a quote and a tab") {
  TempDir dir;
  const std::string topic = "we\"ird\\topic";  // stored events: quote and backslash
  {
    auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
    test::CommitOne(*j, topic, "put", "v", {.key = "k"});
    TXJ_REQUIRE_OK(j->close());
  }
  auto r = Sh(dir, kTools + "journal-compact " + dir.path() + " --topic 'we\"ird\\topic' --retain-from 0");
  INFO(r.err);
  REQUIRE(r.code == 0);
  // A name with a tab (compaction of a topic that has no events yet).
  auto tab = Sh(dir, kTools + "journal-compact " + dir.path() + " --topic 'tab\there'");
  INFO(tab.err);
  REQUIRE(tab.code == 0);
  std::istringstream lines(r.out + tab.out);
  std::vector<std::string> topics;
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    nlohmann::json j;
    REQUIRE_NOTHROW(j = nlohmann::json::parse(line));
    if (j.contains("topic")) topics.push_back(j["topic"].get<std::string>());
  }
  CHECK(n == 3);
  CHECK(topics == std::vector<std::string>{topic, "tab\there"});
}

// ---- item 12 ----

TEST_CASE("journal-mirror refuses a missing --server and creates nothing") {
  TempDir dir;
  auto r = Sh(dir, kTools + "journal-mirror " + dir.sub("m"));
  CHECK(r.code == 2);
  CHECK(r.err.find("--server") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.sub("m")));
  CHECK(Sh(dir, kTools + "journal-mirror " + dir.sub("m") + " --server nats://127.0.0.1:1 --connect-attempts -3").code ==
        2);
}

TEST_CASE("journal-mirror reports an unreachable server at once, retries a bounded number of times and creates nothing") {
  const int port = FreeLoopbackPort();  // nobody listens on it
  TempDir dir;
  const std::string server = " --server nats://127.0.0.1:" + std::to_string(port);
  auto once = Sh(dir, kTools + "journal-mirror " + dir.sub("m") + server + " --once");
  CHECK(once.code == 3);
  const bool without_nats = once.err.find("without NATS") != std::string::npos;
  if (!without_nats) {
    CHECK(once.err.find("cannot reach NATS at nats://127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CHECK(once.err.find("1 of 1 attempts") != std::string::npos);
  }
  CHECK(!std::filesystem::exists(dir.sub("m")));
  auto follow = Sh(dir, kTools + "journal-mirror " + dir.sub("m") + server + " --connect-attempts 3 --retry-wait-ms 5");
  CHECK(follow.code == 3);
  if (!without_nats) {
    CHECK(follow.err.find("retrying in 5 ms (attempt 1 of 3)") != std::string::npos);
    CHECK(follow.err.find("retrying in 10 ms (attempt 2 of 3)") != std::string::npos);
    CHECK(follow.err.find("3 of 3 attempts") != std::string::npos);
  }
  CHECK(!std::filesystem::exists(dir.sub("m")));
}

TEST_CASE("journal-mirror --once rebuilds the journal from an existing stream") {
  std::string server_bin;
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (server_bin.empty() && ::access(p, X_OK) == 0) server_bin = p;
  }
  TempDir dir;
  if (server_bin.empty()) {
    MESSAGE("skipped: nats-server is not installed");
    return;
  }
  const int port = FreeLoopbackPort();
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  std::fflush(nullptr);  // the child must not write out what this process buffered
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    ::execl(server_bin.c_str(), server_bin.c_str(), "-a", "127.0.0.1", "-p", std::to_string(port).c_str(), "-js",
            "-sd", dir.sub("nats").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  {
    auto src = test::OpenOrDie(dir.sub("src"), test::SmallOptions());
    for (int i = 0; i < 50; ++i) {
      test::CommitOne(*src, "orders", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 4)});
    }
    ReplicationOptions ro;
    ro.servers = {url};
    ro.retry_wait = std::chrono::milliseconds(20);
    auto rep = Replicator::open(*src, ro);
    if (rep.status().code() == Code::kNotSupported) {
      MESSAGE("skipped: built without NATS");
      return;
    }
    TXJ_REQUIRE_OK(rep);
    std::stop_source stop;
    std::thread t([&] { (void)(*rep)->run(stop.get_token()); });
    for (int i = 0; i < 800 && (*rep)->stats().next_offset < src->next_offset(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    stop.request_stop();
    t.join();
    REQUIRE((*rep)->stats().next_offset == src->next_offset());
    TXJ_REQUIRE_OK(src->close());
  }
  auto r = Sh(dir, kTools + "journal-mirror " + dir.sub("m") + " --server " + url + " --once");
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(r.out == "{\"applied_transactions\":50,\"next_offset\":50}\n");
  CHECK(Dump({dir.sub("m"), "--format", "jsonl"}).out == Dump({dir.sub("src"), "--format", "jsonl"}).out);
}

// ---- item 22 (tool side) ----

TEST_CASE("the tools pass the library's message about a symlinked journal file through") {
  TempDir dir;
  std::ofstream(dir.sub("ops.jsonl")) << SimpleOps();
  REQUIRE(Load({dir.sub("j"), dir.sub("ops.jsonl"), "--durability", "none"}, "").code == kLoadOk);
  std::filesystem::rename(dir.sub("j") + "/JOURNAL", dir.sub("JOURNAL.real"));
  std::filesystem::create_symlink(dir.sub("JOURNAL.real"), dir.sub("j") + "/JOURNAL");
  auto d = Dump({dir.sub("j")});
  CHECK((d.code == kDumpUnreadable || d.code == kDumpDamaged));
  CHECK(d.err.find("JOURNAL") != std::string::npos);
  auto l = Load({dir.sub("j"), dir.sub("ops.jsonl")}, "");
  CHECK(l.code == kLoadJournal);
  CHECK(l.err.find("JOURNAL") != std::string::npos);
}
