// journal-bench: txjournal side by side with LMDB, SQLite, RocksDB, plain
// pwrite + fdatasync and the limits of writing the same records into memory,
// in one run, interleaved.
#include <fcntl.h>
#include <signal.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "bench_build.h"
#include "bench_git.h"
#include "engine.h"
#include "record_model.h"
#include "stats.h"
#include "txjournal/journal.h"
#include "txjournal/version.h"

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace bench {
// bench/replication.cc
nlohmann::ordered_json Replication(const std::string& dir, int reps, double seconds, bool quick);
// bench/steady.cc
nlohmann::ordered_json Steady(const std::string& dir, int reps, double seconds);
namespace {

struct Config {
  bool quick = false;
  int reps = 3;
  double seconds = 1.0;  // per measurement
  std::string dir, out = "bench-out";
  std::set<std::string> workloads;
  // The roll workload.
  double roll_rate = 1e6;              // appends per second, on a schedule fixed in advance
  std::uint64_t roll_segment_mib = 16;  // small, so that the rolls happen within seconds
  bool roll_default_segment = false;    // also run with the default 64 MiB segments
  int roll_count = 8;                   // segment rolls to cross, at least
  std::vector<Shape> shapes;            // --shapes: the append workload's shapes (empty: the default set)
  bool replay_no_settle = false;        // replay: time right after writing (no syncfs first)
};

// "PAYLOADxN" with an optional "s" (durable) and "n" (nested), e.g. 100x1s.
std::optional<Shape> ParseShape(const std::string& text) {
  Shape s;
  std::size_t x = text.find('x');
  if (x == std::string::npos || x == 0) return std::nullopt;
  std::size_t end = x + 1;
  while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
  if (end == x + 1) return std::nullopt;
  try {
    s.payload = std::stoul(text.substr(0, x));
    s.per_txn = std::stoul(text.substr(x + 1, end - x - 1));
  } catch (...) {
    return std::nullopt;
  }
  for (std::size_t i = end; i < text.size(); ++i) {
    if (text[i] == 's') s.durable = true;
    else if (text[i] == 'n') s.nested = true;
    else return std::nullopt;
  }
  if (s.payload == 0 || s.per_txn == 0) return std::nullopt;
  return s;
}

double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A progress line on stderr, redrawn in place, only when stderr is a
// terminal: nothing of it reaches a pipe or a log file.
bool g_progress = false;
Clock::time_point g_start;
// With `done` of `total` steps of a workload (started at `since`), an
// estimate of the time left in it, from the pace so far.
void Progress(const std::string& s, std::size_t done = 0, std::size_t total = 0,
              Clock::time_point since = Clock::time_point()) {
  if (!g_progress) return;
  if (s.empty()) {
    std::fprintf(stderr, "\r\033[K");
  } else {
    std::string eta;
    if (total > 0 && done > 0 && done <= total) {
      const double left = Secs(Clock::now() - since) / static_cast<double>(done) * static_cast<double>(total - done);
      eta = " (" + std::to_string(done) + "/" + std::to_string(total) + ", about " +
            std::to_string(static_cast<long>(left + 0.5)) + " s left in this workload)";
    }
    std::fprintf(stderr, "\r\033[K[%4.0f s] %s%s", Secs(Clock::now() - g_start), s.c_str(), eta.c_str());
  }
  std::fflush(stderr);
}

std::string Fresh(const Config& c, const std::string& name) {
  static int n = 0;
  std::string d = c.dir + "/" + name + "-" + std::to_string(n++);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Bytes this process sent (or will send) to storage, from /proc/self/io:
// write_bytes counts a page when it becomes dirty (through write(2) or a
// store into a shared mapping), cancelled_write_bytes the dirty pages that
// were dropped unwritten (truncated or unlinked). File-system metadata and
// its journal are not included.
// Alongside, the sectors written to the device under the journals, from
// /proc/diskstats: exact for the device, but counting every process's
// writes and the file system's metadata and journal, so meaningful only on
// an otherwise idle machine.
std::string g_disk;  // the block device (or partition) under --dir, for /proc/diskstats
struct Io {
  bool ok = false;
  std::uint64_t write = 0, cancelled = 0;
  std::uint64_t disk = 0;  // bytes the device under --dir was sent, all processes
  bool disk_ok = false;
};
Io ReadIo() {
  Io io;
  if (!g_disk.empty()) {
    std::ifstream d("/proc/diskstats");
    for (std::string l; std::getline(d, l);) {
      std::istringstream is(l);
      std::string ma, mi, name;
      std::uint64_t f[7];
      is >> ma >> mi >> name;
      if (name != g_disk) continue;
      for (auto& x : f) is >> x;  // reads, merged, sectors read, ms reading, writes, merged, sectors written
      if (is) {
        io.disk = f[6] * 512;
        io.disk_ok = true;
      }
    }
  }
  std::ifstream f("/proc/self/io");
  std::string k;
  std::uint64_t v;
  while (f >> k >> v) {
    if (k == "write_bytes:") {
      io.write = v;
      io.ok = true;
    } else if (k == "cancelled_write_bytes:") {
      io.cancelled = v;
    }
  }
  return io;
}
// Device bytes between two readings, -1 when /proc/self/io is not there.
double DeviceBytes(const Io& a, const Io& b) {
  if (!a.ok || !b.ok) return -1;
  const double w = static_cast<double>(b.write - a.write), x = static_cast<double>(b.cancelled - a.cancelled);
  return std::max(0.0, w - x);
}
// syncfs(2) of the file system holding `dir`: the measured store's write-back
// is finished (and so counted) before the next measurement starts.
void SyncFs(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)::syncfs(fd);
    ::close(fd);
  }
}
double DiskBytes(const Io& a, const Io& b) {
  return a.disk_ok && b.disk_ok ? static_cast<double>(b.disk - a.disk) : -1;
}
// Payload bytes: pseudo-random from a fixed seed, so that no engine gains by
// compressing them (RocksDB compresses its tables by default).
std::string Payload(std::size_t n) {
  std::string p(n, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& ch : p) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ch = static_cast<char>(x >> 32);
  }
  return p;
}
json Stat3(const std::vector<double>& v) { return {{"median", Median(v)}, {"min", Min(v)}, {"max", Max(v)}}; }

struct Measured {
  double rate = 0;                 // events per second
  double device_bytes_per_event = -1;
  double syncs_per_txn = -1;       // fdatasync calls per transaction, -1 if the engine cannot tell
  double disk_bytes_per_event = -1;  // device-wide (/proc/diskstats)
};

// Events per second for one engine and shape: as many transactions as fit
// in the time budget (a warm-up first). Device bytes: from before Open (after
// it for baselines whose Open only sets up) to after Close and a syncfs,
// divided by every event written, warm-up included.
std::optional<Measured> Throughput(Engine& e, const Config& c, const Shape& s, std::string* why) {
  const std::string dir = Fresh(c, "append");
  Io io0 = ReadIo();
  if (!e.Open(dir, s)) {
    *why = e.error.empty() ? "cannot run this shape" : e.error;
    (void)e.Close();  // what failed first is the reason
    fs::remove_all(dir);
    return std::nullopt;
  }
  if (e.OpenWritesAreSetup()) io0 = ReadIo();
  const std::string payload = Payload(s.payload);
  const int warmup = 20;
  for (int i = 0; i < warmup; ++i) {
    if (!e.Commit(payload)) {
      *why = "commit failed: " + e.error;
      (void)e.Close();
      fs::remove_all(dir);
      return std::nullopt;
    }
  }
  const std::int64_t sync0 = e.DataSyncs();
  std::uint64_t txns = 0;
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration<double>(c.seconds);
  while (Clock::now() < until) {
    for (int k = 0; k < 16; ++k) {
      if (!e.Commit(payload)) {
        *why = "commit failed: " + e.error;
        (void)e.Close();
        fs::remove_all(dir);
        return std::nullopt;
      }
      ++txns;
    }
  }
  const double secs = Secs(Clock::now() - t0);
  const std::int64_t sync1 = e.DataSyncs();
  if (!e.Close()) {
    *why = "close failed: " + e.error;
    fs::remove_all(dir);
    return std::nullopt;
  }
  SyncFs(dir);
  const Io io1 = ReadIo();
  fs::remove_all(dir);
  Measured m;
  m.rate = static_cast<double>(txns * s.per_txn) / secs;
  const double bytes = DeviceBytes(io0, io1);
  const double events = static_cast<double>((txns + warmup) * s.per_txn);
  if (e.HasDeviceBytes() && bytes >= 0) m.device_bytes_per_event = bytes / events;
  if (e.HasDeviceBytes() && DiskBytes(io0, io1) >= 0) m.disk_bytes_per_event = DiskBytes(io0, io1) / events;
  if (sync0 >= 0 && txns > 0) m.syncs_per_txn = static_cast<double>(sync1 - sync0) / static_cast<double>(txns);
  return m;
}

json Append(const Config& c, std::vector<std::unique_ptr<Engine>>& engines) {
  std::vector<Shape> shapes = c.shapes;
  if (!shapes.empty()) {
  } else if (c.quick) {
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
  const auto since = Clock::now();
  const std::size_t steps = shapes.size() * static_cast<std::size_t>(c.reps) * engines.size();
  std::size_t step = 0;
  for (const auto& s : shapes) {
    std::map<std::string, std::vector<double>> rate, bytes, disk, syncs;
    std::map<std::string, std::string> skipped;
    for (int r = 0; r < c.reps; ++r) {
      for (auto& e : engines) {  // interleaved: each repetition runs every engine
        if (skipped.count(e->name())) continue;
        if (s.nested && e->name() != "txjournal") continue;
        Progress("append " + std::to_string(s.payload) + "B x" + std::to_string(s.per_txn) +
                 (s.durable ? " durable" : "") + (s.nested ? " nested" : "") + ": " + e->name() + ", repetition " +
                 std::to_string(r + 1) + " of " + std::to_string(c.reps), step, steps, since);
        ++step;
        std::string why;
        auto v = Throughput(*e, c, s, &why);
        if (v) {
          rate[e->name()].push_back(v->rate);
          if (v->device_bytes_per_event >= 0) bytes[e->name()].push_back(v->device_bytes_per_event);
          if (v->syncs_per_txn >= 0) syncs[e->name()].push_back(v->syncs_per_txn);
          if (v->disk_bytes_per_event >= 0) disk[e->name()].push_back(v->disk_bytes_per_event);
        } else {
          skipped[e->name()] = why;
        }
      }
    }
    json row{{"payload", s.payload}, {"per_txn", s.per_txn}, {"durable", s.durable}, {"nested", s.nested}};
    if (!s.nested) row["record_bytes_per_event"] = model::BytesPerEvent(s.payload, s.per_txn);
    json eng = json::object(), dev = json::object(), dw = json::object(), sy = json::object();
    for (auto& [n, v] : rate) {
      eng[n] = Stat3(v);
      eng[n]["samples"] = v;
    }
    for (auto& [n, why] : skipped) eng[n] = {{"skipped", why}};
    for (auto& [n, v] : bytes) dev[n] = Stat3(v);
    for (auto& [n, v] : syncs) sy[n] = Median(v);
    for (auto& [n, v] : disk) dw[n] = Stat3(v);
    row["events_per_second"] = eng;
    row["device_bytes_per_event"] = dev;
    row["fdatasync_per_txn"] = sy;
    row["device_wide_bytes_per_event"] = dw;
    out.push_back(row);
  }
  return out;
}

// Latency of durable one-event commits, one writer.
json Latency(const Config& c, std::vector<std::unique_ptr<Engine>>& engines) {
  json out = json::object();
  const int n = c.quick ? 300 : 3000;
  for (auto& e : engines) {
    if (e->name().rfind("limit-", 0) == 0) continue;
    Progress("durable commit latency: " + e->name());
    const std::string dir = Fresh(c, "lat");
    Shape s{100, 1, true, false};
    Io io0 = ReadIo();
    if (!e->Open(dir, s)) {
      (void)e->Close();
      fs::remove_all(dir);
      continue;
    }
    if (e->OpenWritesAreSetup()) io0 = ReadIo();
    const std::string payload = Payload(100);
    int commits = 0;
    for (int i = 0; i < 20; ++i) commits += e->Commit(payload) ? 1 : 0;
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      if (!e->Commit(payload)) break;
      us.push_back(Secs(Clock::now() - t0) * 1e6);
      ++commits;
    }
    if (!e->Close()) std::fprintf(stderr, "journal-bench: %s: close failed: %s\n", e->name().c_str(), e->error.c_str());
    SyncFs(dir);
    const Io io1 = ReadIo();
    const double bytes = DeviceBytes(io0, io1), disk = DiskBytes(io0, io1);
    fs::remove_all(dir);
    out[e->name()] = {{"p50_us", Quantile(us, 0.5)}, {"p99_us", Quantile(us, 0.99)}, {"p999_us", Quantile(us, 0.999)},
                      {"max_us", Max(us)},
                      {"device_bytes_per_event", bytes >= 0 && commits > 0 ? bytes / commits : -1.0},
                      {"device_wide_bytes_per_event", disk >= 0 && commits > 0 ? disk / commits : -1.0},
                      {"samples_us", us}};
  }
  return out;
}

// Group commit: threads each committing one event at a time, durably. The
// journal's file system counts its fdatasync calls.
json Group(const Config& c) {
  json out = json::array();
  const auto since = Clock::now();
  std::size_t step = 0;
  for (int threads : {1, 2, 4, 8}) {
    std::vector<double> rates, per_sync, bytes, disk;
    std::vector<double> lat;
    for (int r = 0; r < c.reps; ++r) {
      Progress("group commit: " + std::to_string(threads) + " threads, repetition " + std::to_string(r + 1) + " of " +
                   std::to_string(c.reps),
               step, 4 * static_cast<std::size_t>(c.reps), since);
      ++step;
      const std::string dir = Fresh(c, "group");
      const Io io0 = ReadIo();
      txj::Options o;
      o.durability = txj::Durability::kCommit;
      auto counting = std::make_shared<CountingFileSystem>();
      o.file_system = counting;
      auto j = txj::Journal::open(dir, o);
      if (!j.ok()) continue;
      std::atomic<std::uint64_t> commits{0};
      std::atomic<bool> stop{false};
      std::mutex lat_mu;
      std::vector<std::thread> ts;
      const std::uint64_t syncs0 = counting->data_syncs();
      const auto t0 = Clock::now();
      for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&] {
          std::vector<double> mine;
          const std::string payload = Payload(100);
          while (!stop.load()) {
            auto s = Clock::now();
            auto tx = (*j)->begin();
            if (!tx.ok() || !tx->append("bench", "event", payload).ok() || !tx->commit().ok()) break;
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
      const double secs = Secs(Clock::now() - t0);
      const std::uint64_t syncs = counting->data_syncs() - syncs0;
      rates.push_back(static_cast<double>(commits.load()) / secs);
      if (syncs > 0) per_sync.push_back(static_cast<double>(commits.load()) / static_cast<double>(syncs));
      (void)(*j)->close();
      SyncFs(dir);
      const Io io1 = ReadIo();
      const double b = DeviceBytes(io0, io1), dw = DiskBytes(io0, io1);
      if (b >= 0 && commits.load() > 0) bytes.push_back(b / static_cast<double>(commits.load()));
      if (dw >= 0 && commits.load() > 0) disk.push_back(dw / static_cast<double>(commits.load()));
      fs::remove_all(dir);
    }
    out.push_back({{"threads", threads}, {"commits_per_second", Median(rates)}, {"min", Min(rates)},
                   {"max", Max(rates)}, {"commits_per_fdatasync", Median(per_sync)},
                   {"device_bytes_per_event", bytes.empty() ? -1.0 : Median(bytes)},
                   {"device_wide_bytes_per_event", disk.empty() ? -1.0 : Median(disk)}, {"p50_us", Quantile(lat, 0.5)},
                   {"p99_us", Quantile(lat, 0.99)}, {"samples", rates}});
  }
  return out;
}

// Calls `op` at the send times t0 + i * period, fixed before the run: it
// waits (spinning) for each send time unless already late. Latency is
// completion minus send time, so a stall is charged to every call queued
// behind it (no coordinated omission); service time is completion minus the
// start of the call, for comparison. Ends when `stop(i, seconds)` (asked
// every 1024 calls) says so, when `op` fails, or after `deadline`.
struct ScheduledRun {
  std::vector<std::int64_t> latency_ns, service_ns;
  double seconds = 0;
  std::string failure;
};
template <class Op, class Stop>
ScheduledRun RunOnSchedule(Clock::duration period, Clock::duration deadline, std::size_t expected, Op op, Stop stop) {
  ScheduledRun r;
  // Written once before the clock starts: a first touch of the vectors'
  // pages inside the loop (a page fault every 512 calls) would be charged
  // to the calls around it.
  r.latency_ns.assign(expected, 0);
  r.service_ns.assign(expected, 0);
  r.latency_ns.clear();
  r.service_ns.clear();
  const auto t0 = Clock::now() + std::chrono::milliseconds(1);
  Clock::time_point done = t0;
  for (std::uint64_t i = 0;; ++i) {
    const auto due = t0 + period * static_cast<std::int64_t>(i);
    while (Clock::now() < due) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    const auto start = Clock::now();
    if (!op()) {
      r.failure = "call " + std::to_string(i) + " failed";
      break;
    }
    done = Clock::now();
    r.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(done - due).count());
    r.service_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(done - start).count());
    if ((i & 1023) == 1023 && stop(i + 1, Secs(done - t0))) break;
    if (done - t0 > deadline) {
      r.failure = "did not finish within " + std::to_string(Secs(deadline)) + " s";
      break;
    }
  }
  r.seconds = Secs(done - t0);
  return r;
}

// Quantiles of `ns` (sorted here) in microseconds, and the curve for the
// plot: quantile q at 0.1 steps of "nines" (-log10(1 - q)) up to the last
// one the samples resolve, then the maximum.
json LatencySummary(std::vector<std::int64_t>& ns, bool curve) {
  if (ns.empty()) return json::object();
  std::sort(ns.begin(), ns.end());
  auto q = [&](double p) {
    return static_cast<double>(ns[static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1))]) / 1e3;
  };
  json s{{"p50_us", q(0.5)},     {"p99_us", q(0.99)}, {"p999_us", q(0.999)},
         {"p9999_us", q(0.9999)}, {"max_us", static_cast<double>(ns.back()) / 1e3}};
  s["over_1ms"] = ns.end() - std::upper_bound(ns.begin(), ns.end(), std::int64_t{1000000});
  if (curve) {
    json c = json::array();
    const double top = std::log10(static_cast<double>(ns.size()));
    for (double x = 0; x <= top; x += 0.1) c.push_back({1 - std::pow(10, -x), q(1 - std::pow(10, -x))});
    c.push_back({1.0, s["max_us"]});
    s["quantiles_us"] = c;
  }
  return s;
}

// The roll workload's schedule for `n` calls driving limit-prefaulted (the
// same records into prefaulted memory): what the schedule, the clock and
// this machine's scheduling cost with no journal at all.
void RollBaseline(const Config& c, Clock::duration period, std::chrono::seconds deadline, std::size_t n,
                  const std::string& payload, std::vector<std::int64_t>* lat, std::string* failure) {
  for (auto& e : MakeEngines()) {
    if (e->name() != "limit-prefaulted") continue;
    const std::string bdir = Fresh(c, "roll-baseline");
    if (e->Open(bdir, Shape{100, 1, false, false})) {
      ScheduledRun base = RunOnSchedule(
          period, deadline, n, [&] { return e->Commit(payload); }, [&](std::uint64_t i, double) { return i >= n; });
      if (!base.failure.empty()) *failure = base.failure;
      lat->insert(lat->end(), base.latency_ns.begin(), base.latency_ns.end());
    } else {
      *failure = e->error;
    }
    if (!e->Close() && failure->empty()) *failure = "close failed: " + e->error;
    fs::remove_all(bdir);
  }
}

// CPU time the hypervisor gave to others while this guest's vCPUs wanted
// to run ("steal" in /proc/stat, all CPUs), in milliseconds (10 ms ticks
// on most kernels); -1 where the kernel does not say. A stall of a thread
// that the guest's scheduler never took off its CPU shows up here.
double StealMs() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  std::uint64_t v[8] = {};
  f >> cpu;
  for (auto& x : v) f >> x;  // user nice system idle iowait irq softirq steal
  if (!f || cpu != "cpu") return -1;
  return static_cast<double>(v[7]) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The roll row's latencies: corrected for coordinated omission (pooled and
// per repetition), the service times, and the no-journal baseline's.
void AddRollLatencies(json& row, std::vector<std::int64_t>& lat, std::vector<std::int64_t>& service,
                      std::vector<std::int64_t>& base_lat, const std::string& base_failure,
                      const std::vector<double>& rep_p9999_us, const std::vector<double>& rep_max_us) {
  const json summary = LatencySummary(lat, true);
  for (auto& [k, v] : summary.items()) row[k] = v;
  row["per_repetition"] = {{"p9999_us", rep_p9999_us}, {"max_us", rep_max_us}};
  // Without the correction: how long each append call took once started.
  // A gap between these and the corrected figures is queueing behind
  // stalls, or a writer slower than the rate.
  row["service_time"] = LatencySummary(service, false);
  row["baseline_limit_prefaulted"] = LatencySummary(base_lat, true);
  if (!base_failure.empty()) row["baseline_limit_prefaulted"]["failed"] = base_failure;
}

// Appends at a fixed rate across segment rolls. Each append is one event of
// 100 B in its own transaction (begin, append, commit) under kNone: the
// event is visible to readers when it returns. The run ends once
// `roll_count` rolls have happened and a quarter of the next segment is
// written, and not before `seconds`. After each repetition, the same
// schedule drives limit-prefaulted (the same records into prefaulted
// memory) for as many calls: what the schedule, the clock and this
// machine's scheduling cost with no journal at all.
json Roll(const Config& c) {
  std::vector<std::uint64_t> sizes{c.quick ? (4ull << 20) : (c.roll_segment_mib << 20)};
  if (c.roll_default_segment && sizes[0] != (64ull << 20)) sizes.push_back(64ull << 20);
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / c.roll_rate));
  const auto deadline = std::chrono::seconds(c.quick ? 10 : 120);
  const std::string payload = Payload(100);
  json out = json::array();
  for (std::uint64_t seg : sizes) {
    std::vector<std::int64_t> lat, service, base_lat;  // all repetitions pooled
    std::vector<double> rep_max_us, rep_p9999_us, bytes, disk, achieved, rep_steal_ms, base_steal_ms;
    std::uint64_t min_rolls = ~0ull, syncs_on_run = 0;
    std::string failure, base_failure;
    for (int r = 0; r < c.reps && failure.empty(); ++r) {
      Progress("roll workload: " + std::to_string(seg >> 20) + " MiB segments, repetition " + std::to_string(r + 1) +
               " of " + std::to_string(c.reps));
      const std::string dir = Fresh(c, "roll");
      const Io io0 = ReadIo();
      txj::Options o;
      o.durability = txj::Durability::kNone;
      o.segment_size = seg;
      auto counting = std::make_shared<CountingFileSystem>();
      o.file_system = counting;
      auto j = txj::Journal::open(dir, o);
      if (!j.ok()) {
        failure = j.status().ToString();
        break;
      }
      auto append = [&] {
        auto tx = (*j)->begin();
        return tx.ok() && tx->append("bench", "event", payload).ok() && tx->commit().ok();
      };
      for (int i = 0; i < 1000 && failure.empty(); ++i) {  // warm-up, off the schedule
        if (!append()) failure = "warm-up append failed";
      }
      const std::uint64_t start_lsn = (*j)->visible_lsn();
      const std::uint64_t end_lsn = (start_lsn / seg + static_cast<std::uint64_t>(c.roll_count)) * seg + seg / 4;
      const std::uint64_t syncs0 = counting->data_syncs();
      const double steal0 = StealMs();
      // Room for every call of the run, which ends at the later of end_lsn
      // and c.seconds: growing the vectors inside the timed loop (a copy of
      // megabytes) stalled one call by 7 ms in every run.
      const double calls =
          std::max(static_cast<double>(end_lsn - start_lsn) / static_cast<double>(model::BytesPerEvent(100, 1)),
                   c.roll_rate * c.seconds);
      ScheduledRun run = RunOnSchedule(
          period, deadline, static_cast<std::size_t>(calls * 1.05) + 4096, append,
          [&](std::uint64_t, double secs) { return (*j)->visible_lsn() >= end_lsn && secs >= c.seconds; });
      if (!run.failure.empty() && failure.empty()) failure = "txjournal: " + run.failure;
      rep_steal_ms.push_back(steal0 < 0 ? -1.0 : StealMs() - steal0);
      const std::uint64_t end = (*j)->visible_lsn();
      syncs_on_run += counting->data_syncs() - syncs0;
      (void)(*j)->close();
      SyncFs(dir);
      const Io io1 = ReadIo();
      const double b = DeviceBytes(io0, io1), dw = DiskBytes(io0, io1);
      fs::remove_all(dir);
      const std::size_t n = run.latency_ns.size();
      min_rolls = std::min(min_rolls, end / seg - start_lsn / seg);
      if (b >= 0 && n > 0) bytes.push_back(b / static_cast<double>(n + 1000));
      if (dw >= 0 && n > 0) disk.push_back(dw / static_cast<double>(n + 1000));
      if (run.seconds > 0) achieved.push_back(static_cast<double>(n) / run.seconds);
      {
        std::vector<std::int64_t> sorted = run.latency_ns;
        json one = LatencySummary(sorted, false);
        if (one.contains("max_us")) {
          rep_max_us.push_back(one["max_us"]);
          rep_p9999_us.push_back(one["p9999_us"]);
        }
      }
      lat.insert(lat.end(), run.latency_ns.begin(), run.latency_ns.end());
      service.insert(service.end(), run.service_ns.begin(), run.service_ns.end());

      // The same schedule, as many calls, no journal.
      if (n > 0) {
        const double b0 = StealMs();
        RollBaseline(c, period, deadline, n, payload, &base_lat, &base_failure);
        base_steal_ms.push_back(b0 < 0 ? -1.0 : StealMs() - b0);
      }
    }
    json row{{"segment_size", seg}, {"rate_per_second", c.roll_rate}, {"payload", 100}, {"per_txn", 1},
             {"durability", "none"}};
    if (!failure.empty()) row["failed"] = failure;
    if (!lat.empty()) {
      row["appends"] = lat.size();
      row["rolls_at_least"] = min_rolls;
      row["achieved_per_second"] = Median(achieved);
      AddRollLatencies(row, lat, service, base_lat, base_failure, rep_p9999_us, rep_max_us);
      // The machine's share: time the hypervisor ran something else while
      // this guest wanted its vCPUs, during each repetition and during the
      // no-journal baseline after it.
      row["per_repetition"]["steal_ms"] = rep_steal_ms;
      row["per_repetition"]["baseline_steal_ms"] = base_steal_ms;
      row["record_bytes_per_event"] = model::BytesPerEvent(100, 1);
      row["device_bytes_per_event"] = bytes.empty() ? -1.0 : Median(bytes);
      row["device_wide_bytes_per_event"] = disk.empty() ? -1.0 : Median(disk);
      row["fdatasync_calls_during_run"] = syncs_on_run;
    }
    out.push_back(row);
  }
  return out;
}

// Waits until everything written to the file system holding `dir` is on
// the disk (syncfs): a replay timed right after 320 MB were written (or
// after an earlier workload deleted its files: this machine's ext4 discards
// freed blocks) otherwise shares the cores with the kernel's write-back and
// the journal's sealing of its last segments, and its samples spread 2x.
void Settle(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::syncfs(fd);
  ::close(fd);
}

// Replay: the committed view through a cursor (checksums verified) against
// an LMDB cursor scan of the same events; and one topic out of ten. Both
// sides settle (Settle) after writing, then read once untimed, then time.
json Replay(const Config& c) {
  const std::uint64_t n = c.quick ? 300000 : 2000000;
  json out = json::object();
  std::vector<double> txj_rate, lmdb_rate, filtered_rate, batch_rate;
  for (int r = 0; r < c.reps; ++r) {
    Progress("replay: rep " + std::to_string(r + 1));
    const std::string dir = Fresh(c, "replay");
    {
      txj::Options o;
      o.durability = txj::Durability::kNone;
      auto j = txj::Journal::open(dir + "/txj", o);
      const std::string p = Payload(100);
      for (std::uint64_t i = 0; i < n; i += 100) {
        auto tx = (*j)->begin();
        for (int k = 0; k < 100; ++k) (void)tx->append("topic-" + std::to_string(k % 10), "e", p);
        (void)tx->commit();
      }
      if (!c.replay_no_settle) Settle(dir);
      // Pass 0: every event through next(); 1: one topic of ten; 2: every
      // event through next_batch() (256 at a time). An untimed pass first,
      // as for LMDB below: both sides then read pages their process has
      // mapped (the journal remaps sealed segments read-only, so its first
      // pass would otherwise pay page faults the LMDB scan does not).
      {
        auto warm = (*j)->open_cursor(0);
        std::vector<txj::Event> buf(256);
        while (warm.ok()) {
          auto k = warm->next_batch(buf);
          if (!k.ok() || *k == 0) break;
        }
      }
      for (int pass = 0; pass < 3; ++pass) {
        auto t0 = Clock::now();
        auto cur = (*j)->open_cursor(0, pass == 1 ? txj::Filter::for_topics({"topic-3"}) : txj::Filter::all());
        std::uint64_t got = 0;
        if (pass == 2) {
          std::vector<txj::Event> buf(256);
          for (;;) {
            auto k = cur->next_batch(buf);
            if (!k.ok() || *k == 0) break;
            got += *k;
          }
        } else {
          for (;;) {
            auto e = cur->next();
            if (!e.ok() || !e->has_value()) break;
            ++got;
          }
        }
        const double rate = static_cast<double>(pass == 1 ? n : got) / Secs(Clock::now() - t0);
        (pass == 0 ? txj_rate : pass == 1 ? filtered_rate : batch_rate).push_back(rate);
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
        const std::string p = Payload(100);
        for (std::uint64_t i = 0; i < n; i += 100) e->Commit(p);
        if (!c.replay_no_settle) Settle(dir);
        (void)e->Scan();  // untimed, as for the journal above
        auto t0 = Clock::now();
        std::uint64_t got = e->Scan();
        lmdb_rate.push_back(static_cast<double>(got) / Secs(Clock::now() - t0));
        if (!e->Close())
          std::fprintf(stderr, "journal-bench: %s: close failed: %s\n", e->name().c_str(), e->error.c_str());
      }
    }
    fs::remove_all(dir);
  }
  out["txjournal_events_per_second"] = Median(txj_rate);
  out["txjournal_bytes_per_second"] = Median(txj_rate) * 100;
  out["txjournal_one_topic_of_ten_scanned_events_per_second"] = Median(filtered_rate);
  out["txjournal_batch_events_per_second"] = Median(batch_rate);
  out["lmdb_cursor_events_per_second"] = Median(lmdb_rate);
  out["samples"] = {{"txjournal", txj_rate}, {"filtered", filtered_rate}, {"batch", batch_rate}, {"lmdb", lmdb_rate}};
  out["warm"] = c.replay_no_settle ? "one untimed full pass first on both sides"
                                   : "syncfs after writing, then one untimed full pass, on both sides";
  return out;
}

// Quantiles of the tail workload's wake-up delays, in microseconds.
json WakeUpSummary(const std::vector<double>& us) {
  return {{"p50_us", Quantile(us, 0.5)}, {"p99_us", Quantile(us, 0.99)}, {"max_us", Max(us)}, {"samples", us.size()}};
}

// The machine's floor for the futex rows below: the same schedule (a
// write every 300 us) with no journal, a bare futex word in a shared page.
// A child process sleeps in FUTEX_WAIT; the parent stores the time and a
// new sequence number, then FUTEX_WAKEs it. The child's delay from the
// stored time to its return from the wait is what a woken cursor in
// another process cannot beat.
json BareFutexWake(int n) {
  Progress("tail latency, other process, a bare futex (no journal)");
  struct Shared {
    std::atomic<std::uint32_t> seq;
    std::atomic<std::int64_t> sent;
  };
  void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return json::object();
  auto* sh = new (mem) Shared{};
  int fds[2];
  if (::pipe(fds) != 0) {
    ::munmap(mem, 4096);
    return json::object();
  }
  auto* word = reinterpret_cast<std::uint32_t*>(&sh->seq);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // One sample per wake-up; a child that fell behind by more than one
    // write skips the ones it missed (the count stays the parent's).
    ::close(fds[0]);
    std::uint32_t seen = 0;
    while (seen < static_cast<std::uint32_t>(n)) {
      while (sh->seq.load(std::memory_order_acquire) == seen) {
        ::syscall(SYS_futex, word, FUTEX_WAIT, seen, nullptr, nullptr, 0);
      }
      seen = sh->seq.load(std::memory_order_acquire);
      const std::int64_t at = Clock::now().time_since_epoch().count();
      double us = static_cast<double>(at - sh->sent.load(std::memory_order_relaxed)) / 1e3;
      (void)!::write(fds[1], &us, sizeof us);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::vector<double> us;
  if (pid > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 0; i < n; ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      sh->sent.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      sh->seq.fetch_add(1, std::memory_order_release);
      ::syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }
    double v;
    while (::read(fds[0], &v, sizeof v) == sizeof v) us.push_back(v);  // to the child's exit
    ::waitpid(pid, nullptr, 0);
  }
  ::close(fds[0]);
  ::munmap(mem, 4096);
  return WakeUpSummary(us);
}

// Commit to wake-up of a blocked cursor, in this process and in another.
json Tail(const Config& c) {
  const int n = c.quick ? 200 : 2000;
  json out = json::object();
  // Without spinning (the cursor sleeps on the head page's futex) and with
  // Cursor::set_spin (it busy-polls the head page for up to 1 ms first).
  for (int variant = 0; variant < 4; ++variant) {
    const bool other = variant % 2 == 1;
    const bool spin = variant >= 2;
    Progress(std::string("tail latency, ") + (other ? "other process" : "same process") + (spin ? ", spinning" : ""));
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
      if (spin) cur->set_spin(std::chrono::milliseconds(1));
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
    out[std::string(other ? "other_process" : "same_process") + (spin ? "_spin" : "")] = WakeUpSummary(us);
  }
  out["other_process_bare_futex"] = BareFutexWake(n);
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
      const std::string p = Payload(1000);
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

// Disk space held by a new journal holding one committed event (default
// options), after close: allocated blocks of every file in its directory.
json Footprint(const Config& c) {
  Progress("footprint of a one-event journal");
  const std::string dir = Fresh(c, "footprint");
  const Io io0 = ReadIo();
  {
    auto j = txj::Journal::open(dir);
    if (!j.ok()) return {{"skipped", j.status().ToString()}};
    auto tx = (*j)->begin();
    if (!tx.ok() || !tx->append("bench", "event", Payload(100)).ok() || !tx->commit().ok()) {
      return {{"skipped", "append failed"}};
    }
    (void)(*j)->close();
  }
  SyncFs(dir);
  const double written = DeviceBytes(io0, ReadIo());
  std::uint64_t allocated = 0, apparent = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st;
    if (e.is_regular_file() && ::stat(e.path().c_str(), &st) == 0) {
      allocated += static_cast<std::uint64_t>(st.st_blocks) * 512;
      apparent += static_cast<std::uint64_t>(st.st_size);
    }
  }
  fs::remove_all(dir);
  return {{"allocated_bytes", allocated}, {"apparent_bytes", apparent}, {"device_bytes_written", written}};
}

std::string ReadLine(const fs::path& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

// The device and file system under `dir`: the mount from
// /proc/self/mountinfo, the block device from /sys/dev/block (its parent
// disk for a partition), whether it is rotational, its model if the driver
// gives one.
json Disk(const std::string& dir) {
  json d;
  std::error_code ec;
  const fs::path real = fs::canonical(dir, ec);
  d["dir"] = ec ? dir : real.string();
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return d;
  const std::string mm = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  d["device_number"] = mm;
  std::ifstream mi("/proc/self/mountinfo");
  std::size_t best = 0;
  for (std::string l; std::getline(mi, l);) {
    std::istringstream is(l);
    std::string id, parent, dev, root, point, opts;
    is >> id >> parent >> dev >> root >> point >> opts;
    if (dev != mm) continue;
    const std::string rs = d["dir"].get<std::string>();
    if (rs.rfind(point, 0) != 0 || point.size() < best) continue;
    best = point.size();
    std::string w, type, source, super;
    while (is >> w && w != "-") {
    }
    is >> type >> source >> super;
    d["mount_point"] = point;
    d["filesystem"] = type;
    d["source"] = source;
    d["mount_options"] = opts + (super.empty() ? "" : "," + super);
  }
  fs::path sys = fs::canonical("/sys/dev/block/" + mm, ec);
  if (!ec) {
    g_disk = sys.filename().string();
    d["diskstats_name"] = g_disk;
    if (fs::exists(sys / "partition")) sys = sys.parent_path();
    d["block_device"] = sys.filename().string();
    const std::string rot = ReadLine(sys / "queue" / "rotational");
    if (!rot.empty()) d["rotational"] = rot == "1";
    const std::string size = ReadLine(sys / "size");
    if (!size.empty()) d["size_bytes"] = std::stoull(size) * 512;
    const std::string vendor = ReadLine(sys / "device" / "vendor"), model = ReadLine(sys / "device" / "model");
    if (!vendor.empty()) d["vendor"] = vendor == "0x1af4" ? "0x1af4 (virtio)" : vendor;
    if (!model.empty()) d["model"] = model;
    const std::string sched = ReadLine(sys / "queue" / "scheduler");
    if (!sched.empty()) d["scheduler"] = sched;
  }
  return d;
}

json Machine(const Config& c, const std::string& date) {
  json m;
  m["date_utc"] = date;
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
  m["load_average_at_start"] = ReadLine("/proc/loadavg");
  m["disk"] = Disk(c.dir);
  json b;
  b["git_commit"] = BENCH_GIT_COMMIT;
  b["compiler"] = BENCH_COMPILER;
  b["compiler_version"] = __VERSION__;
  b["buildtype"] = BENCH_BUILDTYPE;
  b["flags"] = BENCH_FLAGS;
#ifdef NDEBUG
  b["assertions"] = false;
#else
  b["assertions"] = true;
#endif
  m["build"] = b;
  json v;
  v["txjournal"] = txj::kVersionString;
  for (auto& [name, ver] : LibraryVersions()) v[name] = ver;
  m["libraries"] = v;
  return m;
}

double Get(const json& append, std::size_t payload, std::size_t per_txn, bool durable, bool nested, const char* eng,
           const char* what = "events_per_second") {
  for (const auto& row : append) {
    if (row["payload"] == payload && row["per_txn"] == per_txn && row["durable"] == durable && row["nested"] == nested &&
        row.contains(what) && row[what].contains(eng) && row[what][eng].contains("median")) {
      return row[what][eng]["median"].get<double>();
    }
  }
  return 0;
}

// The targets of issue 14, each measured in this run (rows whose inputs were
// not measured are left out).
json Targets(const json& r) {
  json t = json::array();
  auto add = [&](const std::string& what, double value, bool at_least, double need) {
    if (!(value > 0) || !std::isfinite(value)) return;
    char n[32];
    std::snprintf(n, sizeof n, "%s %g", at_least ? ">=" : "<=", need);
    t.push_back({{"target", what}, {"value", value}, {"needed", n},
                 {"met", at_least ? value >= need : value <= need}});
  };
  auto ratio = [](double a, double b) { return a > 0 && b > 0 ? a / b : 0.0; };
  if (r.contains("append")) {
    const json& a = r["append"];
    const double txj = Get(a, 100, 100, false, false, "txjournal");
    add("append 100 B x100, no durability / limit-prefaulted", ratio(txj, Get(a, 100, 100, false, false, "limit-prefaulted")), true, 0.5);
    add("append 100 B x100, no durability / limit-fresh-pages", ratio(txj, Get(a, 100, 100, false, false, "limit-fresh-pages")), true, 0.5);
    const std::pair<std::size_t, double> vs_lmdb[] = {{100, 5}, {64, 5}, {256, 4}, {4096, 2}};
    for (auto [p, need] : vs_lmdb) {
      add("append " + std::to_string(p) + " B x100, no durability / LMDB",
          ratio(Get(a, p, 100, false, false, "txjournal"), Get(a, p, 100, false, false, "lmdb")), true, need);
    }
    for (std::size_t p : {64, 100, 256, 4096}) {
      add("durable " + std::to_string(p) + " B x100 commits / pwrite-zero-filled",
          ratio(Get(a, p, 100, true, false, "txjournal"), Get(a, p, 100, true, false, "pwrite-zero-filled")), true, 0.9);
    }
    add("durable 100 B x1 commits / pwrite-zero-filled (fdatasync per record)",
        ratio(Get(a, 100, 1, true, false, "txjournal"), Get(a, 100, 1, true, false, "pwrite-zero-filled")), true, 0.95);
    // The same targets for a journal whose segments are reused files: blocks
    // written and pages cached before the clock starts, as the baselines'
    // (txjournal-reused, bench/engines.cc).
    add("append 100 B x100, no durability, reused journal / limit-prefaulted",
        ratio(Get(a, 100, 100, false, false, "txjournal-reused"), Get(a, 100, 100, false, false, "limit-prefaulted")),
        true, 0.5);
    for (std::size_t p : {64, 100, 256, 4096}) {
      add("durable " + std::to_string(p) + " B x100 commits, reused journal / pwrite-zero-filled",
          ratio(Get(a, p, 100, true, false, "txjournal-reused"), Get(a, p, 100, true, false, "pwrite-zero-filled")),
          true, 0.9);
    }
    add("durable 100 B x1 commits, reused journal / pwrite-zero-filled",
        ratio(Get(a, 100, 1, true, false, "txjournal-reused"), Get(a, 100, 1, true, false, "pwrite-zero-filled")), true,
        0.95);
    for (const auto& row : a) {
      if (row["payload"] == 100 && row["per_txn"] == 100 && row["durable"] == false && row["nested"] == false) {
        add("device bytes per event, 100 B x100, no durability / record bytes",
            ratio(Get(a, 100, 100, false, false, "txjournal", "device_bytes_per_event"),
                  row["record_bytes_per_event"].get<double>()),
            false, 1.5);
      }
    }
  }
  if (r.contains("group") && r["group"].size() == 4) {
    const double one = r["group"][0]["commits_per_second"], eight = r["group"][3]["commits_per_second"];
    add("group commit, 8 threads / 1 thread", ratio(eight, one), true, 4.0);
    add("group commit, 8 threads: commits per fdatasync", r["group"][3]["commits_per_fdatasync"].get<double>(), true, 6.0);
  }
  if (r.contains("replay")) {
    add("replay with checksums / LMDB cursor scan",
        ratio(r["replay"]["txjournal_events_per_second"], r["replay"]["lmdb_cursor_events_per_second"]), true, 1.0);
    if (r["replay"].contains("txjournal_batch_events_per_second")) {
      add("replay through next_batch / LMDB cursor scan",
          ratio(r["replay"]["txjournal_batch_events_per_second"], r["replay"]["lmdb_cursor_events_per_second"]), true,
          1.5);
    }
  }
  if (r.contains("roll")) {
    for (const auto& row : r["roll"]) {
      if (!row.contains("p9999_us")) continue;
      const std::string at = "roll workload, " + std::to_string(row["segment_size"].get<std::uint64_t>() >> 20) + " MiB segments: ";
      add(at + "p99.99 (us)", row["p9999_us"].get<double>(), false, 2.0);
      add(at + "max (us)", row["max_us"].get<double>(), false, 1000.0);
      add(at + "device bytes per event / record bytes",
          ratio(row["device_bytes_per_event"].get<double>(), row["record_bytes_per_event"].get<double>()), false, 1.5);
    }
  }
  if (r.contains("tail") && r["tail"].contains("other_process_spin")) {
    add("wake-up of a reader in another process, spinning, p50 (us)",
        r["tail"]["other_process_spin"]["p50_us"].get<double>(), false, 2.0);
  }
  if (r.contains("tail") && r["tail"].contains("other_process")) {
    add("wake-up of a reader in another process, futex, p50 (us)", r["tail"]["other_process"]["p50_us"].get<double>(),
        false, 10.0);
  }
  if (r.contains("open") && r["open"].size() == 2) {
    const double small = r["open"][0]["open_ms_median"], big = r["open"][1]["open_ms_median"];
    add("open after a crash, large journal (ms)", big, false, 50.0);
    add("open after a crash, large / small journal", ratio(big, small), false, 2.0);
  }
  if (r.contains("footprint") && r["footprint"].contains("allocated_bytes")) {
    add("disk allocated by a new journal with one event (MiB)",
        r["footprint"]["allocated_bytes"].get<double>() / (1 << 20), false, 4.0);
  }
  return t;
}

const std::vector<std::string> kEngineOrder = {
    "txjournal", "txjournal-reused", "limit-prefaulted", "limit-fresh-pages", "pwrite-zero-filled", "pwrite-fallocated",
    "lmdb",      "sqlite-wal",       "rocksdb-wal"};

void PrintAppendTable(const json& r, const char* what, const char* fmt, bool record_column) {
  std::printf("%-16s", "shape");
  if (record_column) std::printf("%9s", "records");
  for (auto& n : kEngineOrder) std::printf("%19s", n.c_str());
  std::printf("\n");
  for (const auto& row : r["append"]) {
    char shape[64];
    std::snprintf(shape, sizeof shape, "%zuB x%zu%s%s", row["payload"].get<std::size_t>(),
                  row["per_txn"].get<std::size_t>(), row["durable"].get<bool>() ? " sync" : "",
                  row["nested"].get<bool>() ? " nest" : "");
    std::printf("%-16s", shape);
    if (record_column) {
      if (row.contains("record_bytes_per_event")) {
        std::printf("%9.0f", row["record_bytes_per_event"].get<double>());
      } else {
        std::printf("%9s", "-");
      }
    }
    for (auto& n : kEngineOrder) {
      const json& e = row[what];
      if (e.contains(n) && e[n].contains("median")) {
        std::printf(fmt, e[n]["median"].get<double>());
      } else {
        std::printf("%19s", "-");
      }
    }
    std::printf("\n");
  }
}

void PrintTable(const json& r) {
  const int reps = r["settings"]["repetitions"].get<int>();
  if (r.contains("append")) {
    std::printf("\n== append throughput (events/s, median of %d) ==\n", reps);
    PrintAppendTable(r, "events_per_second", "%19.0f", false);
    std::printf("\n== device bytes written per event (/proc/self/io, median of %d; records: the bytes of txjournal's "
                "records) ==\n",
                reps);
    PrintAppendTable(r, "device_bytes_per_event", "%19.1f", true);
    std::printf("\n== txjournal fdatasync calls per transaction (durable shapes) ==\n");
    for (const auto& row : r["append"]) {
      if (!row["durable"].get<bool>() || !row["fdatasync_per_txn"].contains("txjournal")) continue;
      std::printf("%zuB x%zu%s: %.2f\n", row["payload"].get<std::size_t>(), row["per_txn"].get<std::size_t>(),
                  row["nested"].get<bool>() ? " nest" : "", row["fdatasync_per_txn"]["txjournal"].get<double>());
    }
  }
  if (r.contains("latency")) {
    std::printf("\n== durable commit latency, 1 event (us) ==\n%-20s%10s%10s%10s%10s%14s\n", "engine", "p50", "p99",
                "p99.9", "max", "dev B/event");
    for (auto& [n, v] : r["latency"].items()) {
      std::printf("%-20s%10.0f%10.0f%10.0f%10.0f%14.0f\n", n.c_str(), v["p50_us"].get<double>(),
                  v["p99_us"].get<double>(), v["p999_us"].get<double>(), v["max_us"].get<double>(),
                  v["device_bytes_per_event"].get<double>());
    }
  }
  if (r.contains("group")) {
    std::printf("\n== group commit (txjournal, durable, 1 event per commit; median of %d) ==\n", reps);
    for (const auto& g : r["group"]) {
      std::printf("%d threads: %10.0f commits/s  %5.2f commits/fdatasync  %6.0f device B/event  p50 %6.0f us  p99 %6.0f us\n",
                  g["threads"].get<int>(), g["commits_per_second"].get<double>(),
                  g["commits_per_fdatasync"].get<double>(), g["device_bytes_per_event"].get<double>(),
                  g["p50_us"].get<double>(), g["p99_us"].get<double>());
    }
  }
  if (r.contains("roll")) {
    std::printf("\n== roll workload (txjournal, kNone, 100 B, 1 event per txn, fixed schedule; latency = completion - "
                "send time, us; %d repetitions pooled) ==\n",
                reps);
    std::printf("%-10s%7s%9s%12s%11s%11s%11s%11s%11s%9s%12s\n", "segment", "rolls", "appends", "achieved/s", "p50",
                "p99", "p99.9", "p99.99", "max", ">1ms", "dev B/event");
    for (const auto& g : r["roll"]) {
      char seg[32];
      std::snprintf(seg, sizeof seg, "%llu MiB", static_cast<unsigned long long>(g["segment_size"].get<std::uint64_t>() >> 20));
      if (!g.contains("p50_us")) {
        std::printf("%-10s failed: %s\n", seg, g.value("failed", std::string("no samples")).c_str());
        continue;
      }
      std::printf("%-10s%7llu%9llu%12.0f%11.2f%11.2f%11.2f%11.2f%11.1f%9llu%12.1f\n", seg,
                  static_cast<unsigned long long>(g["rolls_at_least"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(g["appends"].get<std::uint64_t>()),
                  g["achieved_per_second"].get<double>(), g["p50_us"].get<double>(), g["p99_us"].get<double>(),
                  g["p999_us"].get<double>(), g["p9999_us"].get<double>(), g["max_us"].get<double>(),
                  static_cast<unsigned long long>(g["over_1ms"].get<std::int64_t>()),
                  g["device_bytes_per_event"].get<double>());
      const json& st = g["service_time"];
      std::printf("%-10s%7s%9s%12s%11.2f%11.2f%11.2f%11.2f%11.1f   (service time: from the start of each call, uncorrected)\n",
                  "", "", "", "", st["p50_us"].get<double>(), st["p99_us"].get<double>(), st["p999_us"].get<double>(),
                  st["p9999_us"].get<double>(), st["max_us"].get<double>());
      const json& bl = g["baseline_limit_prefaulted"];
      if (bl.contains("max_us")) {
        std::printf("%-10s%7s%9s%12s%11.2f%11.2f%11.2f%11.2f%11.1f%9llu   (limit-prefaulted on the same schedule: no journal)\n",
                    "", "", "", "", bl["p50_us"].get<double>(), bl["p99_us"].get<double>(), bl["p999_us"].get<double>(),
                    bl["p9999_us"].get<double>(), bl["max_us"].get<double>(),
                    static_cast<unsigned long long>(bl["over_1ms"].get<std::int64_t>()));
      }
      if (const json& pr = g["per_repetition"]; pr.contains("steal_ms")) {
        std::printf("%-10s hypervisor steal per repetition (ms): %s; during the baseline after each: %s\n", "",
                    pr["steal_ms"].dump().c_str(), pr["baseline_steal_ms"].dump().c_str());
      }
      if (g.contains("failed")) std::printf("  (stopped: %s)\n", g["failed"].get<std::string>().c_str());
    }
  }
  if (r.contains("steady")) {
    std::printf("\n== steady state (txjournal, 100 B x100, 4 MiB segments, retention keeping about 2 behind the writer, "
                "against a fresh journal; sustained: timed until written back; median of %d) ==\n",
                reps);
    for (const auto& g : r["steady"]) {
      const char* d = g["durable"].get<bool>() ? "durable" : "kNone";
      if (g.contains("error")) std::printf("%-8s failed: %s\n", d, g["error"].get<std::string>().c_str());
      if (!g.contains("steady_over_fresh")) continue;
      auto side = [](const json& v) {
        std::printf("%10.0f events/s %6.0f dev B/event %6.1f MiB held", v["events_per_second"]["median"].get<double>(),
                    v.value("device_bytes_per_event", -1.0), v["held_mib"].get<double>());
      };
      std::printf("%-8s fresh ", d);
      side(g["fresh"]);
      std::printf("   steady ");
      side(g["steady"]);
      std::printf("   steady/fresh %4.2f (%2.0f%% in apply_retention)\n", g["steady_over_fresh"].get<double>(),
                  100 * g["steady"]["retention_share"].get<double>());
    }
  }
  if (r.contains("replay")) std::printf("\n== replay ==\n%s\n", r["replay"].dump().substr(0, 400).c_str());
  if (r.contains("tail")) std::printf("\n== tail latency ==\n%s\n", r["tail"].dump().c_str());
  if (r.contains("tail") && r["tail"].contains("other_process") && r["tail"].contains("other_process_bare_futex") &&
      r["tail"]["other_process_bare_futex"].contains("p50_us")) {
    // Not a target of the issue: what a woken cursor adds to this machine's
    // own futex wake-up between two processes, on the same schedule.
    const double cur = r["tail"]["other_process"]["p50_us"].get<double>();
    const double bare = r["tail"]["other_process_bare_futex"]["p50_us"].get<double>();
    std::printf("other process, p50: cursor on the futex %.2f us, a bare futex %.2f us (%.2fx)\n", cur, bare,
                bare > 0 ? cur / bare : 0.0);
  }
  if (r.contains("open")) std::printf("\n== open after a crash ==\n%s\n", r["open"].dump().c_str());
  if (r.contains("compaction")) std::printf("\n== compaction ==\n%s\n", r["compaction"].dump().c_str());
  if (r.contains("footprint")) std::printf("\n== footprint of a one-event journal ==\n%s\n", r["footprint"].dump().c_str());
  if (r.contains("targets")) {
    std::printf("\n== targets (issue 14; measured in this run) ==\n");
    for (const auto& t : r["targets"]) {
      std::printf("%-72s %10.2f (need %s) %s\n", t["target"].get<std::string>().c_str(), t["value"].get<double>(),
                  t["needed"].get<std::string>().c_str(), t["met"].get<bool>() ? "met" : "MISSED");
    }
  }
}

// Colours readable on white (no yellow), one per engine, the same in every plot.
std::string Colour(const std::string& engine) {
  static const std::map<std::string, std::string> c = {
      {"txjournal", "#0072b2"},          {"limit-prefaulted", "#000000"}, {"limit-fresh-pages", "#777777"},
      {"pwrite-zero-filled", "#d55e00"}, {"pwrite-fallocated", "#a6468c"}, {"lmdb", "#009e73"},
      {"sqlite-wal", "#8c5a1e"},         {"rocksdb-wal", "#5a3ca0"}};
  auto it = c.find(engine);
  return it == c.end() ? "#333333" : it->second;
}

std::string Caption(const json& r) {
  const json& m = r["machine"];
  std::string s = m.value("cpu", std::string("?")) + ", " + std::to_string(m["cpus"].get<unsigned>()) + " CPUs, " +
                  m.value("kernel", std::string("?"));
  const json& d = m["disk"];
  s += "; " + d.value("filesystem", std::string("?")) + " on " + d.value("block_device", d.value("source", std::string("?")));
  if (d.contains("rotational")) s += d["rotational"].get<bool>() ? " (sysfs: rotational)" : " (sysfs: non-rotational)";
  const std::string commit = m["build"]["git_commit"].get<std::string>();
  s += "\\n" + m["build"]["compiler"].get<std::string>() + " " + m["build"]["buildtype"].get<std::string>() +
       ", commit " + commit.substr(0, 12) + (commit.find("dirty") != std::string::npos ? "-dirty" : "") + ", " +
       m["date_utc"].get<std::string>();
  for (auto& ch : s) {
    if (ch == '"') ch = '\'';
  }
  return s;
}

// Writes the CSV files, and the plots if gnuplot is there; returns the names
// of the files written.
// append.csv and roll.csv; returns the files written.
std::vector<std::string> WriteCsv(const Config& c, const json& r) {
  std::vector<std::string> written;
  {
    std::ofstream csv(c.out + "/append.csv");
    csv << "payload,per_txn,durable,nested,engine,median,min,max,device_bytes_per_event,record_bytes_per_event,"
           "fdatasync_per_txn\n";
    if (r.contains("append")) {
      for (const auto& row : r["append"]) {
        for (auto& [n, v] : row["events_per_second"].items()) {
          if (!v.contains("median")) continue;
          csv << row["payload"] << "," << row["per_txn"] << "," << (row["durable"].get<bool>() ? 1 : 0) << ","
              << (row["nested"].get<bool>() ? 1 : 0) << "," << n << "," << v["median"] << "," << v["min"] << ","
              << v["max"] << ",";
          if (row["device_bytes_per_event"].contains(n)) csv << row["device_bytes_per_event"][n]["median"];
          csv << ",";
          if (row.contains("record_bytes_per_event")) csv << row["record_bytes_per_event"];
          csv << ",";
          if (row["fdatasync_per_txn"].contains(n)) csv << row["fdatasync_per_txn"][n];
          csv << "\n";
        }
      }
    }
    written.push_back("append.csv");
  }
  if (r.contains("roll")) {
    std::ofstream csv(c.out + "/roll.csv");
    csv << "segment_size,rate_per_second,appends,rolls_at_least,achieved_per_second,p50_us,p99_us,p999_us,p9999_us,"
           "max_us,over_1ms,device_bytes_per_event,record_bytes_per_event\n";
    for (const auto& g : r["roll"]) {
      if (!g.contains("p50_us")) continue;
      csv << g["segment_size"] << "," << g["rate_per_second"] << "," << g["appends"] << "," << g["rolls_at_least"]
          << "," << g["achieved_per_second"] << "," << g["p50_us"] << "," << g["p99_us"] << "," << g["p999_us"] << ","
          << g["p9999_us"] << "," << g["max_us"] << "," << g["over_1ms"] << "," << g["device_bytes_per_event"]
          << "," << g["record_bytes_per_event"] << "\n";
    }
    written.push_back("roll.csv");
  }
  return written;
}

// What the plots draw, one file per series under plot-data/ (so that
// points are joined): the append series by durability, the roll series.
struct PlotSeries {
  std::string data;
  std::map<bool, std::vector<std::string>> append;  // durable -> engines with a series
  std::vector<std::string> roll;
};

PlotSeries WritePlotData(const Config& c, const json& r) {
  PlotSeries ps;
  ps.data = c.out + "/plot-data";
  const std::string& data = ps.data;
  auto& series = ps.append;
  auto& roll_series = ps.roll;
  fs::create_directories(data);
  if (r.contains("append")) {
    for (bool durable : {false, true}) {
      for (const auto& n : kEngineOrder) {
        std::map<std::size_t, json> by_payload;
        for (const auto& row : r["append"]) {
          if (row["per_txn"] == 100 && row["durable"] == durable && row["nested"] == false &&
              row["events_per_second"].contains(n) && row["events_per_second"][n].contains("median")) {
            by_payload[row["payload"].get<std::size_t>()] = row["events_per_second"][n];
          }
        }
        if (by_payload.empty()) continue;
        std::ofstream f(data + "/append-" + (durable ? "sync-" : "") + n + ".dat");
        for (auto& [p, v] : by_payload) f << p << " " << v["median"] << " " << v["min"] << " " << v["max"] << "\n";
        series[durable].push_back(n);
      }
    }
  }
  if (r.contains("latency")) {
    for (auto& [n, v] : r["latency"].items()) {
      std::ofstream f(data + "/latency-" + n + ".dat");
      std::vector<double> s = v["samples_us"];
      std::sort(s.begin(), s.end());
      const std::size_t step = std::max<std::size_t>(1, s.size() / 500);  // keeps the SVG small
      for (std::size_t i = 0; i < s.size(); i += step) {
        f << s[i] << " " << static_cast<double>(i + 1) / static_cast<double>(s.size()) << "\n";
      }
      if (!s.empty()) f << s.back() << " 1\n";
    }
  }
  if (r.contains("roll")) {
    for (const auto& g : r["roll"]) {
      if (!g.contains("quantiles_us")) continue;
      const std::string name = std::to_string(g["segment_size"].get<std::uint64_t>() >> 20) + "MiB";
      std::ofstream f(data + "/roll-" + name + ".dat");
      for (const auto& p : g["quantiles_us"]) {
        const double q = p[0].get<double>();
        // x: 1 / (1 - q), the "one in N" of the quantile; the maximum at one in the sample count.
        const double x = q < 1 ? 1 / (1 - q) : g["appends"].get<double>();
        f << x << " " << p[1] << "\n";
      }
      roll_series.push_back(name);
      if (g["baseline_limit_prefaulted"].contains("quantiles_us")) {
        std::ofstream b(data + "/roll-" + name + "-baseline.dat");
        const json& bl = g["baseline_limit_prefaulted"];
        for (const auto& p : bl["quantiles_us"]) {
          const double q = p[0].get<double>();
          b << (q < 1 ? 1 / (1 - q) : g["appends"].get<double>()) << " " << p[1] << "\n";
        }
        roll_series.push_back(name + "-baseline");
      }
    }
  }
  return ps;
}

// plots.gp, and the SVGs gnuplot draws from it (none without gnuplot).
void WritePlots(const Config& c, const json& r, const PlotSeries& ps, std::vector<std::string>& written) {
  const std::string& data = ps.data;
  const auto& series = ps.append;
  const auto& roll_series = ps.roll;
  if (::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    std::fprintf(stderr, "gnuplot not found: no plots drawn (CSV and JSON written)\n");
    return;
  }
  const std::string caption = Caption(r);
  std::ofstream gp(c.out + "/plots.gp");
  gp << "set terminal svg size 1000,620 dynamic background rgb 'white' font 'sans,12'\n"
     << "set bmargin 7\nset grid lc rgb '#dddddd'\nset key outside right top noenhanced\n"
     << "set label 1 \"" << caption << "\" at screen 0.01, screen 0.05 left font ',10' noenhanced\n";
  auto throughput = [&](bool durable) {
    if (!series.count(durable) || series.at(durable).empty()) return;
    const std::string file = durable ? "throughput-sync.svg" : "throughput.svg";
    gp << "set output '" << c.out << "/" << file << "'\n"
       << "set title \"journal-bench: append throughput, 100 events per transaction, "
       << (durable ? "durable (each engine syncs every transaction)" : "no durability") << "\\nmedian of repetitions: "
       << r["settings"]["repetitions"].get<int>() << "; bars from min to max\" noenhanced\n"
       << "set logscale xy\nset xlabel 'payload bytes per event'\nset ylabel 'events/s'\n"
       << "set xtics (64, 100, 256, 1024, 4096)\nset format y '%.0s%c'\nplot ";
    bool first = true;
    for (const auto& n : series.at(durable)) {
      gp << (first ? "" : ", ") << "'" << data << "/append-" << (durable ? "sync-" : "") << n
         << ".dat' using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 0.8 lc rgb '" << Colour(n) << "' title '" << n << "'";
      first = false;
    }
    gp << "\nunset xtics\nset xtics\nset format y\n";
    written.push_back(file);
  };
  throughput(false);
  throughput(true);
  if (r.contains("latency") && !r["latency"].empty()) {
    gp << "set output '" << c.out << "/latency.svg'\n"
       << "set title 'journal-bench: durable commit latency, one 100 B event per commit, one writer, one run' noenhanced\n"
       << "unset logscale\nset logscale x\nset xlabel 'latency (us)'\nset ylabel 'fraction of commits at or below'\nplot ";
    bool first = true;
    for (auto& [n, v] : r["latency"].items()) {
      gp << (first ? "" : ", ") << "'" << data << "/latency-" << n << ".dat' using 1:2 with lines lw 2 lc rgb '"
         << Colour(n) << "' title '" << n << "'";
      first = false;
    }
    gp << "\n";
    written.push_back("latency.svg");
  }
  if (!roll_series.empty()) {
    gp << "set output '" << c.out << "/roll-latency.svg'\n"
       << "set title \"journal-bench: txjournal append latency across segment rolls\\n"
       << r["roll"][0]["rate_per_second"].get<double>() / 1e6
       << " M events/s on a fixed schedule; 100 B, one event per transaction, kNone; repetitions pooled: "
       << r["settings"]["repetitions"].get<int>() << "\" noenhanced\n"
       << "set key inside left top box opaque\n"
       << "unset logscale\nset logscale xy\nset xlabel 'quantile'\nset ylabel 'latency from the scheduled send time (us)'\n"
       << "set xtics ('p50' 2, 'p90' 10, 'p99' 100, 'p99.9' 1000, 'p99.99' 10000, 'p99.999' 100000, 'p99.9999' 1000000)\n"
       << "plot ";
    std::size_t k = 0, colour = 0;
    const char* colours[] = {"#0072b2", "#d55e00", "#009e73"};
    for (const auto& n : roll_series) {
      const bool baseline = n.size() > 9 && n.substr(n.size() - 9) == "-baseline";
      gp << (k ? ", " : "") << "'" << data << "/roll-" << n << ".dat' using 1:2 with linespoints lw 2 "
         << (baseline ? "dt 2 pt 6" : "pt 7") << " ps 0.5 lc rgb '" << colours[colour % 3] << "' title '"
         << (baseline ? n.substr(0, n.size() - 9) + " run, no journal (same schedule)" : n + " segments, txjournal")
         << "'";
      if (baseline) ++colour;
      ++k;
    }
    gp << "\nunset xtics\nset xtics\nset key outside right top nobox\n";
    written.push_back("roll-latency.svg");
  }
  gp.close();
  if (::system(("gnuplot " + c.out + "/plots.gp 2> " + c.out + "/gnuplot.log").c_str()) != 0) {
    std::fprintf(stderr, "gnuplot failed: see %s/gnuplot.log; no plots drawn\n", c.out.c_str());
    written.erase(std::remove_if(written.begin(), written.end(),
                                 [](const std::string& f) { return f.size() > 4 && f.substr(f.size() - 4) == ".svg"; }),
                  written.end());
  }
}

std::vector<std::string> WriteCsvAndPlots(const Config& c, const json& r) {
  std::vector<std::string> written = WriteCsv(c, r);
  WritePlots(c, r, WritePlotData(c, r), written);
  return written;
}

}  // namespace
}  // namespace bench

namespace bench {

const char* const kAllWorkloads = "append,latency,group,roll,steady,replay,tail,open,compaction,footprint";

// What the command line asked for, beyond Config.
struct Args {
  std::string workloads = kAllWorkloads;
  std::string engine_filter, shape_list;
  bool list = false;
};

void AddOptions(CLI::App& app, Config& c, Args& a) {
  const std::string all = kAllWorkloads;
  app.add_flag("--quick", c.quick, "finish in under a minute (smoke test; no speed is checked)");
  app.add_option("--workloads", a.workloads, "comma-separated: " + all + " (and replication: not by default, needs nats-server)")->capture_default_str();
  app.add_option("--repetitions", c.reps, "repetitions per measurement")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--duration", c.seconds, "seconds per throughput measurement (at least; the roll workload runs until its rolls are done)")
      ->capture_default_str();
  app.add_option("--dir", c.dir, "where journals are written (a real disk, not tmpfs), in a directory journal-bench-PID made there and removed at the end; default /var/tmp");
  app.add_option("--out", c.out, "output directory for JSON, CSV and plots")->capture_default_str();
  app.add_option("--roll-rate", c.roll_rate, "roll workload: appends per second, fixed schedule")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--roll-segment-mib", c.roll_segment_mib, "roll workload: segment size in MiB (--quick: 4)")
      ->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_flag("--roll-default-segment", c.roll_default_segment,
               "roll workload: also run with the default 64 MiB segments (about 2.5 s per repetition at 1 M/s)");
  app.add_flag("--replay-no-settle", c.replay_no_settle,
               "replay workload: time right after writing, without waiting for the disk first (the harness before "
               "the tenth session)");
  app.add_option("--roll-count", c.roll_count, "roll workload: segment rolls to cross, at least")->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_flag("--list", a.list, "list workloads and engines");
  app.add_option("--engines", a.engine_filter, "comma-separated: only these engines (see --list); default all");
  app.add_option("--shapes", a.shape_list,
                 "append workload: comma-separated shapes PAYLOADxEVENTS[s][n] (s: durable, n: nested), e.g. 100x1s,4096x100; "
                 "default the full set");
}

std::set<std::string> SplitCommas(const std::string& list) {
  std::set<std::string> out;
  std::stringstream ss(list);
  for (std::string t; std::getline(ss, t, ',');) out.insert(t);
  return out;
}

// Shapes and workloads from the command line into `c`; false (after saying
// why) when one is unknown.
bool TakeShapesAndWorkloads(const Args& a, Config& c) {
  std::stringstream ss(a.shape_list);
  for (std::string t; std::getline(ss, t, ',');) {
    auto shape = ParseShape(t);
    if (!shape) {
      std::fprintf(stderr, "journal-bench: bad shape '%s' in --shapes (expected PAYLOADxEVENTS[s][n], e.g. 100x1s)\n",
                   t.c_str());
      return false;
    }
    c.shapes.push_back(*shape);
  }
  const std::string all = kAllWorkloads;
  for (const std::string& w : SplitCommas(a.workloads)) {
    if (("," + all + ",replication,").find("," + w + ",") == std::string::npos) {
      std::fprintf(stderr, "journal-bench: unknown workload '%s' in --workloads (known: %s)\n", w.c_str(), all.c_str());
      return false;
    }
    c.workloads.insert(w);
  }
  return true;
}

// Keeps only the engines asked for; false (after saying why) when one is unknown.
bool FilterEngines(const std::string& filter, std::vector<std::unique_ptr<Engine>>& engines) {
  if (filter.empty()) return true;
  const std::set<std::string> want = SplitCommas(filter);
  for (const std::string& w : want) {
    if (std::none_of(engines.begin(), engines.end(), [&](const auto& e) { return e->name() == w; })) {
      std::fprintf(stderr, "journal-bench: unknown engine '%s' in --engines (see --list)\n", w.c_str());
      return false;
    }
  }
  std::erase_if(engines, [&](const std::unique_ptr<Engine>& e) { return !want.count(e->name()); });
  return true;
}

json Settings(const Config& c, int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  json settings = {
      {"quick", c.quick}, {"repetitions", c.reps}, {"seconds", c.seconds}, {"dir", c.dir}, {"command", command},
      {"durability_off", "txjournal kNone, LMDB MDB_NOSYNC, SQLite synchronous=OFF, RocksDB sync=false, no fdatasync"},
      {"durability_on", "txjournal kCommit, LMDB synced, SQLite synchronous=FULL, RocksDB sync=true, fdatasync per transaction"},
      {"device_bytes", "write_bytes - cancelled_write_bytes of /proc/self/io, from before the store is opened "
                       "(after it for the baselines' setup) to after it is closed and syncfs(2) returned; "
                       "data pages only, not file-system metadata; divided by every event written"},
      {"device_wide_bytes", "sectors written to the device under dir (/proc/diskstats) over the same "
                            "span: every process's writes and the file system's metadata included"},
      {"record_bytes", "the bytes of txjournal's format-1 records for the shape: begin and commit markers "
                       "shared out, each event a 32 B header, 16 B body, topic and type names, payload, "
                       "8-byte alignment"}};
  if (c.workloads.count("roll")) {
    settings["roll"] = {{"rate_per_second", c.roll_rate}, {"segment_mib", c.quick ? 4 : c.roll_segment_mib},
                        {"default_segment_too", c.roll_default_segment}, {"rolls", c.roll_count}};
  }
  return settings;
}

void RunWorkloads(const Config& c, std::vector<std::unique_ptr<Engine>>& engines, json& r) {
  if (c.workloads.count("append")) r["append"] = Append(c, engines);
  if (c.workloads.count("latency")) r["latency"] = Latency(c, engines);
  if (c.workloads.count("group")) r["group"] = Group(c);
  if (c.workloads.count("roll")) r["roll"] = Roll(c);
  if (c.workloads.count("steady")) r["steady"] = Steady(c.dir + "/steady", c.reps, c.seconds);
  if (c.workloads.count("replay")) r["replay"] = Replay(c);
  if (c.workloads.count("tail")) r["tail"] = Tail(c);
  if (c.workloads.count("open")) r["open"] = OpenTime(c);
  if (c.workloads.count("compaction")) r["compaction"] = Compaction(c);
  if (c.workloads.count("footprint")) r["footprint"] = Footprint(c);
  if (c.workloads.count("replication")) r["replication"] = Replication(c.dir + "/replication", c.reps, c.seconds, c.quick);
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  CLI::App app{"journal-bench: txjournal side by side with LMDB, SQLite, RocksDB, pwrite+fdatasync and the "
               "limits of writing the same records into memory, in one run, interleaved. Compare the ratios, not "
               "absolute numbers."};
  Config c;
  Args a;
  AddOptions(app, c, a);
  CLI11_PARSE(app, argc, argv);
  if (a.list) {
    std::string names = kAllWorkloads;
    std::replace(names.begin(), names.end(), ',', ' ');
    std::printf("workloads: %s\nengines:", names.c_str());
    for (auto& e : MakeEngines()) std::printf(" %s", e->name().c_str());
    std::printf("\n");
    return 0;
  }
  if (c.quick) {
    c.reps = std::min(c.reps, 1);
    c.seconds = std::min(c.seconds, 0.3);
  }
  if (!TakeShapesAndWorkloads(a, c)) return 2;
  auto engines = MakeEngines();
  if (!FilterEngines(a.engine_filter, engines)) return 2;
  g_progress = ::isatty(STDERR_FILENO) == 1;
  g_start = Clock::now();
  // A directory of its own inside --dir: only that one is removed at the end.
  c.dir = (c.dir.empty() ? std::string("/var/tmp") : c.dir) + "/journal-bench-" + std::to_string(::getpid());
  fs::create_directories(c.dir);
  fs::create_directories(c.out);
  struct statfs sf;
  if (::statfs(c.dir.c_str(), &sf) == 0 && sf.f_type == 0x01021994) {
    std::fprintf(stderr, "warning: %s is tmpfs: sync costs are not a disk's\n", c.dir.c_str());
  }
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  json r;
  r["schema_version"] = 2;
  r["machine"] = Machine(c, date);
  r["settings"] = Settings(c, argc, argv);
  RunWorkloads(c, engines, r);
  r["targets"] = Targets(r);
  r["seconds_total"] = Secs(Clock::now() - g_start);
  Progress("");
  std::ofstream(c.out + "/results.json") << r.dump(1) << "\n";
  auto written = WriteCsvAndPlots(c, r);
  PrintTable(r);
  std::printf("\nwritten to %s/: results.json", c.out.c_str());
  for (const auto& f : written) std::printf(", %s", f.c_str());
  std::printf("\n");
  fs::remove_all(c.dir);
  return 0;
}
