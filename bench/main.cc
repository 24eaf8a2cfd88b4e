// journal-bench: txjournal side by side with LMDB, SQLite, RocksDB, plain
// pwrite + fdatasync and the memory-copy limit, in one run, interleaved.
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "engine.h"
#include "stats.h"
#include "txjournal/journal.h"
#include "txjournal/version.h"

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace bench {
namespace {

struct Config {
  bool quick = false;
  int reps = 3;
  double seconds = 1.0;  // per measurement
  std::string dir, out = "bench-out";
  std::set<std::string> workloads;
};

double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void Progress(const std::string& s) {
  std::fprintf(stderr, "\r\033[K%s", s.c_str());
  std::fflush(stderr);
}

std::string Fresh(const Config& c, const std::string& name) {
  static int n = 0;
  std::string d = c.dir + "/" + name + "-" + std::to_string(n++);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Events per second for one engine and shape: as many transactions as fit
// in the time budget (a warm-up first).
std::optional<double> Throughput(Engine& e, const Config& c, const Shape& s, std::string* why) {
  const std::string dir = Fresh(c, "append");
  if (!e.Open(dir, s)) {
    *why = e.error.empty() ? "cannot run this shape" : e.error;
    return std::nullopt;
  }
  const std::string payload(s.payload, 'x');
  for (int i = 0; i < 20; ++i) e.Commit(payload);
  std::uint64_t txns = 0;
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration<double>(c.seconds);
  while (Clock::now() < until) {
    for (int k = 0; k < 16; ++k) {
      if (!e.Commit(payload)) {
        *why = "commit failed";
        e.Close();
        return std::nullopt;
      }
      ++txns;
    }
  }
  const double secs = Secs(Clock::now() - t0);
  e.Close();
  fs::remove_all(dir);
  return static_cast<double>(txns * s.per_txn) / secs;
}

json Append(const Config& c, std::vector<std::unique_ptr<Engine>>& engines) {
  std::vector<Shape> shapes;
  if (c.quick) {
    shapes = {{100, 100, false, false}, {100, 100, true, false}, {100, 1, true, false}, {100, 100, false, true}};
  } else {
    for (std::size_t p : {64, 256, 4096}) {
      for (std::size_t n : {1, 100}) {
        for (bool d : {false, true}) shapes.push_back({p, n, d, false});
      }
    }
    shapes.push_back({100, 100, false, false});
    shapes.push_back({100, 100, true, false});
    shapes.push_back({100, 1, true, false});
    shapes.push_back({100, 100, false, true});
    shapes.push_back({256, 100, true, true});
  }
  json out = json::array();
  for (const auto& s : shapes) {
    std::map<std::string, std::vector<double>> samples;
    std::map<std::string, std::string> skipped;
    for (int r = 0; r < c.reps; ++r) {
      for (auto& e : engines) {  // interleaved: each repetition runs every engine
        if (skipped.count(e->name())) continue;
        if (s.nested && e->name() != "txjournal") continue;
        Progress("append " + std::to_string(s.payload) + "B x" + std::to_string(s.per_txn) +
                 (s.durable ? " durable" : "") + (s.nested ? " nested" : "") + ": " + e->name() + " rep " +
                 std::to_string(r + 1));
        std::string why;
        auto v = Throughput(*e, c, s, &why);
        if (v) {
          samples[e->name()].push_back(*v);
        } else {
          skipped[e->name()] = why;
        }
      }
    }
    json row{{"payload", s.payload}, {"per_txn", s.per_txn}, {"durable", s.durable}, {"nested", s.nested}};
    json eng = json::object();
    for (auto& [n, v] : samples) {
      eng[n] = {{"median", Median(v)}, {"min", Min(v)}, {"max", Max(v)}, {"samples", v}};
    }
    for (auto& [n, why] : skipped) eng[n] = {{"skipped", why}};
    row["events_per_second"] = eng;
    out.push_back(row);
  }
  return out;
}

// Latency of durable one-event commits, one writer.
json Latency(const Config& c, std::vector<std::unique_ptr<Engine>>& engines) {
  json out = json::object();
  const int n = c.quick ? 300 : 3000;
  for (auto& e : engines) {
    if (e->name() == "memcpy-limit") continue;
    Progress("durable commit latency: " + e->name());
    const std::string dir = Fresh(c, "lat");
    Shape s{100, 1, true, false};
    if (!e->Open(dir, s)) continue;
    const std::string payload(100, 'x');
    for (int i = 0; i < 20; ++i) e->Commit(payload);
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      if (!e->Commit(payload)) break;
      us.push_back(Secs(Clock::now() - t0) * 1e6);
    }
    e->Close();
    fs::remove_all(dir);
    out[e->name()] = {{"p50_us", Quantile(us, 0.5)}, {"p99_us", Quantile(us, 0.99)}, {"p999_us", Quantile(us, 0.999)},
                      {"max_us", Max(us)}, {"samples_us", us}};
  }
  return out;
}

// Group commit: threads each committing one event at a time, durably.
json Group(const Config& c) {
  json out = json::array();
  for (int threads : {1, 2, 4, 8}) {
    std::vector<double> rates;
    std::vector<double> lat;
    for (int r = 0; r < c.reps; ++r) {
      Progress("group commit: " + std::to_string(threads) + " threads, rep " + std::to_string(r + 1));
      const std::string dir = Fresh(c, "group");
      txj::Options o;
      o.durability = txj::Durability::kCommit;
      auto j = txj::Journal::open(dir, o);
      if (!j.ok()) continue;
      std::atomic<std::uint64_t> commits{0};
      std::atomic<bool> stop{false};
      std::mutex lat_mu;
      std::vector<std::thread> ts;
      const auto t0 = Clock::now();
      for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
          std::vector<double> mine;
          while (!stop.load()) {
            auto s = Clock::now();
            auto tx = (*j)->begin();
            if (!tx.ok() || !tx->append("bench", "e", std::string(100, 'x')).ok() || !tx->commit().ok()) break;
            mine.push_back(Secs(Clock::now() - s) * 1e6);
            ++commits;
          }
          std::lock_guard<std::mutex> l(lat_mu);
          lat.insert(lat.end(), mine.begin(), mine.end());
        });
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(c.seconds));
      stop = true;
      for (auto& t : ts) t.join();
      rates.push_back(static_cast<double>(commits.load()) / Secs(Clock::now() - t0));
      (void)(*j)->close();
      fs::remove_all(dir);
    }
    out.push_back({{"threads", threads}, {"commits_per_second", Median(rates)}, {"min", Min(rates)},
                   {"max", Max(rates)}, {"p50_us", Quantile(lat, 0.5)}, {"p99_us", Quantile(lat, 0.99)}});
  }
  return out;
}

// Replay: the committed view through a cursor (checksums verified) against
// an LMDB cursor scan of the same events; and one topic out of ten.
json Replay(const Config& c) {
  const std::uint64_t n = c.quick ? 300000 : 2000000;
  json out = json::object();
  std::vector<double> txj_rate, lmdb_rate, filtered_rate;
  for (int r = 0; r < c.reps; ++r) {
    Progress("replay: rep " + std::to_string(r + 1));
    const std::string dir = Fresh(c, "replay");
    {
      txj::Options o;
      o.durability = txj::Durability::kNone;
      auto j = txj::Journal::open(dir + "/txj", o);
      const std::string p(100, 'x');
      for (std::uint64_t i = 0; i < n; i += 100) {
        auto tx = (*j)->begin();
        for (int k = 0; k < 100; ++k) (void)tx->append("topic-" + std::to_string(k % 10), "e", p);
        (void)tx->commit();
      }
      for (int pass = 0; pass < 2; ++pass) {
        auto t0 = Clock::now();
        auto cur = (*j)->open_cursor(0, pass == 0 ? txj::Filter::all() : txj::Filter::for_topics({"topic-3"}));
        std::uint64_t got = 0;
        for (;;) {
          auto e = cur->next();
          if (!e.ok() || !e->has_value()) break;
          ++got;
        }
        const double rate = static_cast<double>(pass == 0 ? got : n) / Secs(Clock::now() - t0);
        (pass == 0 ? txj_rate : filtered_rate).push_back(rate);
      }
      (void)(*j)->close();
    }
    {
      auto engines = MakeEngines();
      for (auto& e : engines) {
        if (e->name() != "lmdb") continue;
        Shape s{100, 100, false, false};
        fs::create_directories(dir + "/lmdb");
        if (!e->Open(dir + "/lmdb", s)) continue;
        const std::string p(100, 'x');
        for (std::uint64_t i = 0; i < n; i += 100) e->Commit(p);
        auto t0 = Clock::now();
        std::uint64_t got = e->Scan();
        lmdb_rate.push_back(static_cast<double>(got) / Secs(Clock::now() - t0));
        e->Close();
      }
    }
    fs::remove_all(dir);
  }
  out["txjournal_events_per_second"] = Median(txj_rate);
  out["txjournal_bytes_per_second"] = Median(txj_rate) * 100;
  out["txjournal_one_topic_of_ten_scanned_events_per_second"] = Median(filtered_rate);
  out["lmdb_cursor_events_per_second"] = Median(lmdb_rate);
  out["samples"] = {{"txjournal", txj_rate}, {"filtered", filtered_rate}, {"lmdb", lmdb_rate}};
  return out;
}

// Commit to wake-up of a blocked cursor, in this process and in another.
json Tail(const Config& c) {
  const int n = c.quick ? 200 : 2000;
  json out = json::object();
  for (bool other : {false, true}) {
    Progress(std::string("tail latency, ") + (other ? "other process" : "same process"));
    const std::string dir = Fresh(c, "tail");
    txj::Options o;
    o.durability = txj::Durability::kNone;
    auto j = txj::Journal::open(dir, o);
    if (!j.ok()) continue;
    int fds[2];
    if (::pipe(fds) != 0) continue;
    auto reader = [&, dir](bool in_child) {
      std::unique_ptr<txj::Journal> ro;
      txj::Journal* jr = j->get();
      if (in_child) {
        txj::Options r;
        r.read_only = true;
        auto x = txj::Journal::open(dir, r);
        if (!x.ok()) ::_exit(2);
        ro = std::move(x).value();
        jr = ro.get();
      }
      auto cur = jr->open_cursor(0);
      for (int i = 0; i < n; ++i) {
        auto e = cur->wait_next(Clock::now() + std::chrono::seconds(10));
        if (!e.ok()) break;
        std::int64_t sent;
        std::memcpy(&sent, e->payload.data(), 8);
        double us = static_cast<double>(Clock::now().time_since_epoch().count() - sent) / 1e3;
        (void)!::write(fds[1], &us, sizeof us);
      }
    };
    pid_t pid = -1;
    std::thread t;
    if (other) {
      pid = ::fork();
      if (pid == 0) {
        reader(true);
        ::_exit(0);
      }
    } else {
      t = std::thread([&] { reader(false); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 0; i < n; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      auto tx = (*j)->begin();
      std::int64_t now = Clock::now().time_since_epoch().count();
      (void)tx->append("t", "e", std::string(reinterpret_cast<const char*>(&now), 8));
      (void)tx->commit();
    }
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      double v;
      if (::read(fds[0], &v, sizeof v) != sizeof v) break;
      us.push_back(v);
    }
    if (other) {
      ::waitpid(pid, nullptr, 0);
    } else {
      t.join();
    }
    ::close(fds[0]);
    ::close(fds[1]);
    (void)(*j)->close();
    fs::remove_all(dir);
    out[other ? "other_process" : "same_process"] = {
        {"p50_us", Quantile(us, 0.5)}, {"p99_us", Quantile(us, 0.99)}, {"max_us", Max(us)}, {"samples", us.size()}};
  }
  return out;
}

// Open time after a crash, against journal size.
json OpenTime(const Config& c) {
  json out = json::array();
  // An open's cost depends on where the tail falls in the active segment
  // (its unwritten rest is checked and prefaulted), so both journals end
  // halfway into a segment: 1.5 and 16.5 segments of the default 64 MiB.
  std::vector<std::uint64_t> sizes = c.quick ? std::vector<std::uint64_t>{16ull << 20, 64ull << 20}
                                             : std::vector<std::uint64_t>{96ull << 20, 1056ull << 20};
  for (auto size : sizes) {
    Progress("open after a crash: " + std::to_string(size >> 20) + " MiB");
    const std::string dir = Fresh(c, "open");
    pid_t pid = ::fork();
    if (pid == 0) {
      txj::Options o;
      o.durability = txj::Durability::kNone;
      auto j = txj::Journal::open(dir, o);
      if (!j.ok()) ::_exit(2);
      const std::string p(1000, 'x');
      while ((*j)->visible_lsn() < size) {  // LSNs count the bytes of the segments
        auto tx = (*j)->begin();
        for (int k = 0; k < 100; ++k) (void)tx->append("t", "e", p);
        (void)tx->commit();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // let checkpoints happen, as in a live system
      ::raise(SIGKILL);
    }
    ::waitpid(pid, nullptr, 0);
    std::vector<double> ms;
    std::uint64_t scanned = 0;
    for (int r = 0; r < c.reps; ++r) {
      auto t0 = Clock::now();
      auto j = txj::Journal::open(dir);
      ms.push_back(Secs(Clock::now() - t0) * 1e3);
      if (j.ok()) {
        scanned = (*j)->recovery_report().scanned_bytes;
        (void)(*j)->close();
      }
    }
    out.push_back({{"size_bytes", size}, {"open_ms_median", Median(ms)}, {"open_ms_max", Max(ms)},
                   {"scanned_bytes_first_open", scanned}});
    fs::remove_all(dir);
  }
  return out;
}

json Compaction(const Config& c) {
  Progress("compaction");
  const std::string dir = Fresh(c, "compact");
  txj::Options o;
  o.durability = txj::Durability::kNone;
  o.segment_size = 4 << 20;
  auto j = txj::Journal::open(dir, o);
  if (!j.ok()) return {{"skipped", j.status().ToString()}};
  (void)(*j)->register_compactor("kv", std::make_shared<txj::LatestByKeyCompactor>());
  const int updates = c.quick ? 100000 : 1000000, keys = 1000;
  for (int i = 0; i < updates; i += 100) {
    auto tx = (*j)->begin();
    for (int k = 0; k < 100; ++k) {
      (void)tx->append("kv", "put", std::string(100, 'v'), {.key = "key-" + std::to_string((i + k) % keys)});
    }
    (void)tx->commit();
  }
  (void)(*j)->sync();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // full segments get sealed
  auto du = [&] {
    std::uint64_t b = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      struct stat st;
      if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) b += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
    return b;
  };
  const std::uint64_t before = du();
  auto t0 = Clock::now();
  auto snap = (*j)->compact("kv");
  const double secs = Secs(Clock::now() - t0);
  const std::uint64_t after = du();
  (void)(*j)->close();
  fs::remove_all(dir);
  return {{"updates", updates}, {"keys", keys}, {"compact_seconds", secs}, {"disk_bytes_before", before},
          {"disk_bytes_after", after}, {"ok", snap.ok()}};
}

json Machine(const Config& c) {
  json m;
  m["cpus"] = std::thread::hardware_concurrency();
  std::ifstream ci("/proc/cpuinfo");
  for (std::string l; std::getline(ci, l);) {
    if (l.rfind("model name", 0) == 0) {
      m["cpu"] = l.substr(l.find(':') + 2);
      break;
    }
  }
  struct utsname u;
  if (::uname(&u) == 0) m["kernel"] = std::string(u.sysname) + " " + u.release;
  struct statfs sf;
  if (::statfs(c.dir.c_str(), &sf) == 0) {
    m["filesystem_magic"] = sf.f_type;
    m["filesystem"] = sf.f_type == 0xEF53 ? "ext4" : sf.f_type == 0x01021994 ? "tmpfs" : sf.f_type == 0x58465342 ? "xfs" : "other";
  }
#ifdef NDEBUG
  m["build"] = "release";
#else
  m["build"] = "debug assertions on";
#endif
  m["txjournal"] = txj::kVersionString;
  return m;
}

double Get(const json& append, std::size_t payload, std::size_t per_txn, bool durable, bool nested, const char* eng) {
  for (const auto& row : append) {
    if (row["payload"] == payload && row["per_txn"] == per_txn && row["durable"] == durable && row["nested"] == nested &&
        row["events_per_second"].contains(eng) && row["events_per_second"][eng].contains("median")) {
      return row["events_per_second"][eng]["median"].get<double>();
    }
  }
  return 0;
}

json Targets(const json& r) {
  json t = json::array();
  auto add = [&](const std::string& what, double ratio, double need) {
    t.push_back({{"target", what}, {"ratio", ratio}, {"needed", need}, {"met", ratio >= need}});
  };
  if (r.contains("append")) {
    const json& a = r["append"];
    double txj = Get(a, 100, 100, false, false, "txjournal"), mem = Get(a, 100, 100, false, false, "memcpy-limit");
    if (mem > 0) add("append 100 B x100, no durability, vs memcpy limit", txj / mem, 0.5);
    double txjd = Get(a, 100, 100, true, false, "txjournal"), pw = Get(a, 100, 100, true, false, "pwrite+fdatasync");
    if (pw > 0) add("durable 100 x 100 B commits vs pwrite+fdatasync", txjd / pw, 0.9);
    double txj1 = Get(a, 100, 1, true, false, "txjournal"), pw1 = Get(a, 100, 1, true, false, "pwrite+fdatasync");
    if (pw1 > 0) add("one event per durable commit vs fdatasync per record", txj1 / pw1, 0.8);
  }
  if (r.contains("group") && r["group"].size() == 4) {
    double one = r["group"][0]["commits_per_second"], eight = r["group"][3]["commits_per_second"];
    if (one > 0) add("group commit, 8 threads vs 1", eight / one, 4.0);
  }
  if (r.contains("replay")) {
    double l = r["replay"]["lmdb_cursor_events_per_second"], x = r["replay"]["txjournal_events_per_second"];
    if (l > 0) add("replay with checksums vs LMDB cursor scan", x / l, 1.0);
  }
  if (r.contains("open") && r["open"].size() == 2) {
    double small = r["open"][0]["open_ms_median"], big = r["open"][1]["open_ms_median"];
    if (big > 0) add("open after a crash: small journal time / large journal time (flat = 1)", small / big, 0.5);
  }
  return t;
}

void PrintTable(const json& r) {
  std::printf("\n== append throughput (events/s, median of %s) ==\n", "repetitions");
  if (r.contains("append")) {
    std::printf("%-22s", "shape");
    std::vector<std::string> names = {"txjournal", "memcpy-limit", "pwrite+fdatasync", "lmdb", "sqlite-wal", "rocksdb-wal"};
    for (auto& n : names) std::printf("%18s", n.c_str());
    std::printf("\n");
    for (const auto& row : r["append"]) {
      char shape[64];
      std::snprintf(shape, sizeof shape, "%zuB x%zu%s%s", row["payload"].get<std::size_t>(),
                    row["per_txn"].get<std::size_t>(), row["durable"].get<bool>() ? " sync" : "",
                    row["nested"].get<bool>() ? " nested" : "");
      std::printf("%-22s", shape);
      for (auto& n : names) {
        const json& e = row["events_per_second"];
        if (e.contains(n) && e[n].contains("median")) {
          std::printf("%18.0f", e[n]["median"].get<double>());
        } else {
          std::printf("%18s", "-");
        }
      }
      std::printf("\n");
    }
  }
  if (r.contains("latency")) {
    std::printf("\n== durable commit latency, 1 event (us) ==\n%-20s%10s%10s%10s%10s\n", "engine", "p50", "p99", "p99.9", "max");
    for (auto& [n, v] : r["latency"].items()) {
      std::printf("%-20s%10.0f%10.0f%10.0f%10.0f\n", n.c_str(), v["p50_us"].get<double>(), v["p99_us"].get<double>(),
                  v["p999_us"].get<double>(), v["max_us"].get<double>());
    }
  }
  if (r.contains("group")) {
    std::printf("\n== group commit (txjournal, durable, 1 event per commit) ==\n");
    for (const auto& g : r["group"]) {
      std::printf("%d threads: %10.0f commits/s  p50 %6.0f us  p99 %6.0f us\n", g["threads"].get<int>(),
                  g["commits_per_second"].get<double>(), g["p50_us"].get<double>(), g["p99_us"].get<double>());
    }
  }
  if (r.contains("replay")) std::printf("\n== replay ==\n%s\n", r["replay"].dump().substr(0, 400).c_str());
  if (r.contains("tail")) std::printf("\n== tail latency ==\n%s\n", r["tail"].dump().c_str());
  if (r.contains("open")) std::printf("\n== open after a crash ==\n%s\n", r["open"].dump().c_str());
  if (r.contains("compaction")) std::printf("\n== compaction ==\n%s\n", r["compaction"].dump().c_str());
  if (r.contains("targets")) {
    std::printf("\n== targets (ratios measured in this run) ==\n");
    for (const auto& t : r["targets"]) {
      std::printf("%-75s %6.2f (need %.2f) %s\n", t["target"].get<std::string>().c_str(), t["ratio"].get<double>(),
                  t["needed"].get<double>(), t["met"].get<bool>() ? "met" : "MISSED");
    }
  }
}

void WriteCsvAndPlots(const Config& c, const json& r) {
  std::ofstream csv(c.out + "/append.csv");
  csv << "payload,per_txn,durable,nested,engine,median,min,max\n";
  if (r.contains("append")) {
    for (const auto& row : r["append"]) {
      for (auto& [n, v] : row["events_per_second"].items()) {
        if (!v.contains("median")) continue;
        csv << row["payload"] << "," << row["per_txn"] << "," << (row["durable"].get<bool>() ? 1 : 0) << ","
            << (row["nested"].get<bool>() ? 1 : 0) << "," << n
            << "," << v["median"] << "," << v["min"] << "," << v["max"] << "\n";
      }
    }
  }
  csv.close();
  if (r.contains("latency")) {
    for (auto& [n, v] : r["latency"].items()) {
      std::ofstream f(c.out + "/latency-" + n + ".dat");
      std::vector<double> s = v["samples_us"];
      std::sort(s.begin(), s.end());
      const std::size_t step = std::max<std::size_t>(1, s.size() / 500);  // keeps the SVG small
      for (std::size_t i = 0; i < s.size(); i += step) {
        f << s[i] << " " << static_cast<double>(i + 1) / static_cast<double>(s.size()) << "\n";
      }
      if (!s.empty()) f << s.back() << " 1\n";
    }
  }
  if (::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    std::fprintf(stderr, "gnuplot not found: plots skipped\n");
    return;
  }
  std::ofstream gp(c.out + "/plots.gp");
  gp << "set terminal svg size 900,500 dynamic\nset datafile separator ','\n"
     << "set output '" << c.out << "/throughput.svg'\nset logscale xy\nset xlabel 'payload bytes'\n"
     << "set ylabel 'events/s (100 per txn, no sync)'\nset key outside\n"
     << "plot for [e in 'txjournal memcpy-limit pwrite+fdatasync lmdb sqlite-wal rocksdb-wal'] '" << c.out
     << "/append.csv' using ($3==0 && $2==100 && $4==0 && strcol(5) eq e ? $1 : 1/0):6 with linespoints title e\n"
     << "set datafile separator whitespace\nunset logscale\nset logscale x\nset output '" << c.out
     << "/latency.svg'\nset xlabel 'durable commit latency (us)'\nset ylabel 'fraction of commits'\nplot ";
  bool first = true;
  if (r.contains("latency")) {
    for (auto& [n, v] : r["latency"].items()) {
      gp << (first ? "" : ", ") << "'" << c.out << "/latency-" << n << ".dat' using 1:2 with lines title '" << n << "'";
      first = false;
    }
  }
  gp << "\n";
  gp.close();
  if (::system(("gnuplot " + c.out + "/plots.gp 2> " + c.out + "/gnuplot.log").c_str()) != 0) {
    std::fprintf(stderr, "gnuplot failed: see %s/gnuplot.log\n", c.out.c_str());
  }
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  CLI::App app{"journal-bench: txjournal side by side with LMDB, SQLite, RocksDB, pwrite+fdatasync and the "
               "memory-copy limit, in one run, interleaved. Compare the ratios, not absolute numbers."};
  Config c;
  std::string workloads = "append,latency,group,replay,tail,open,compaction";
  app.add_flag("--quick", c.quick, "finish in under a minute (smoke test; no speed is checked)");
  app.add_option("--workloads", workloads, "comma-separated: append,latency,group,replay,tail,open,compaction")->capture_default_str();
  app.add_option("--repetitions", c.reps, "repetitions per measurement")->capture_default_str();
  app.add_option("--duration", c.seconds, "seconds per throughput measurement")->capture_default_str();
  app.add_option("--dir", c.dir, "where journals are written (a real disk, not tmpfs); default /var/tmp/journal-bench");
  app.add_option("--out", c.out, "output directory for JSON, CSV and plots")->capture_default_str();
  bool list = false;
  app.add_flag("--list", list, "list workloads and engines");
  CLI11_PARSE(app, argc, argv);
  if (list) {
    std::printf("workloads: append latency group replay tail open compaction\nengines:");
    for (auto& e : MakeEngines()) std::printf(" %s", e->name().c_str());
    std::printf("\n");
    return 0;
  }
  if (c.quick) {
    c.reps = std::min(c.reps, 1);
    c.seconds = std::min(c.seconds, 0.3);
  }
  if (c.dir.empty()) c.dir = "/var/tmp/journal-bench-" + std::to_string(::getpid());
  fs::create_directories(c.dir);
  fs::create_directories(c.out);
  struct statfs sf;
  if (::statfs(c.dir.c_str(), &sf) == 0 && sf.f_type == 0x01021994) {
    std::fprintf(stderr, "warning: %s is tmpfs: sync costs are not a disk's\n", c.dir.c_str());
  }
  std::stringstream ws(workloads);
  for (std::string w; std::getline(ws, w, ',');) c.workloads.insert(w);
  json r;
  r["schema_version"] = 1;
  r["machine"] = Machine(c);
  r["settings"] = {{"quick", c.quick}, {"repetitions", c.reps}, {"seconds", c.seconds}, {"dir", c.dir},
                   {"durability_off", "txjournal kNone, LMDB MDB_NOSYNC, SQLite synchronous=OFF, RocksDB sync=false, no fdatasync"},
                   {"durability_on", "txjournal kCommit, LMDB synced, SQLite synchronous=FULL, RocksDB sync=true, fdatasync per transaction"}};
  auto engines = MakeEngines();
  if (c.workloads.count("append")) r["append"] = Append(c, engines);
  if (c.workloads.count("latency")) r["latency"] = Latency(c, engines);
  if (c.workloads.count("group")) r["group"] = Group(c);
  if (c.workloads.count("replay")) r["replay"] = Replay(c);
  if (c.workloads.count("tail")) r["tail"] = Tail(c);
  if (c.workloads.count("open")) r["open"] = OpenTime(c);
  if (c.workloads.count("compaction")) r["compaction"] = Compaction(c);
  r["targets"] = Targets(r);
  Progress("");
  std::ofstream(c.out + "/results.json") << r.dump(1) << "\n";
  WriteCsvAndPlots(c, r);
  PrintTable(r);
  std::printf("\nwritten: %s/results.json, append.csv, throughput.svg, latency.svg\n", c.out.c_str());
  fs::remove_all(c.dir);
  return 0;
}
