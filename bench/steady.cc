// journal-bench's steady workload: appending to a journal that has been
// running for a while, its old segments retired by retention behind the
// writer, beside a fresh journal of the same segment size, interleaved.
//
// A fresh journal writes into new files; a long-running one, with retention,
// is what most users run. The difference between the two rows is what the
// segment lifecycle costs or saves in steady state (today: retention's own
// work; with recycled segments, the reuse of retired files and pages).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "stats.h"
#include "txjournal/journal.h"

namespace bench {

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr std::uint64_t kSegmentSize = 4ull << 20;  // small: a warm-up crosses several rolls in well under a second
constexpr std::size_t kPayload = 100, kPerTxn = 100;
// Events one segment holds, about (the record size of a 100-byte event in
// transactions of 100 is 161 bytes, docs/format.md).
constexpr std::uint64_t kEventsPerSegment = kSegmentSize / 161;
constexpr std::uint64_t kKeepSegments = 2;  // retention keeps about this many segments' worth of events
constexpr std::uint64_t kWarmupSegments = 6;  // a steady journal has retired this many before it is timed

// Blocks the files under `dir` hold, in bytes.
std::uint64_t HeldBytes(const std::string& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) n += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return n;
}

// Bytes this process caused to be written to storage (/proc/self/io
// write_bytes; counted when pages are dirtied, through a mapping too), or -1.
double WriteBytes() {
  std::ifstream f("/proc/self/io");
  std::string k;
  double v;
  while (f >> k >> v) {
    if (k == "write_bytes:") return v;
  }
  return -1;
}

// Writes back every dirty page of the file system under `dir`.
void SyncFs(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::syncfs(fd);
  ::close(fd);
}

struct Run {
  double rate = 0;          // events per second, until every byte is written back (close, syncfs)
  double device_bytes_per_event = -1;
  double held_mib = 0;      // space the journal holds at the end
  std::uint64_t retained_from = 0;  // first retained offset at the end (0: no retention)
  double retention_share = 0;  // of the timed part, the share spent in apply_retention
};

// One journal: `steady` writes kWarmupSegments segments' worth with
// retention before the timed part; the timed part applies retention once per
// segment's worth of events (its cost counts). Returns false with `why`.
bool RunOnce(const std::string& dir, bool durable, bool steady, double seconds, Run* out, std::string* why) {
  txj::Options o;
  o.durability = durable ? txj::Durability::kCommit : txj::Durability::kNone;
  o.segment_size = kSegmentSize;
  auto opened = txj::Journal::open(dir, o);
  if (!opened.ok()) {
    *why = opened.status().ToString();
    return false;
  }
  auto j = std::move(opened).value();
  const std::string payload(kPayload, 'x');
  std::uint64_t next = 0, retained = 0, last_retention = 0;
  Clock::duration in_retention{0};
  auto commit = [&]() -> bool {
    auto tx = j->begin();
    if (!tx.ok()) return (*why = tx.status().ToString(), false);
    for (std::size_t i = 0; i < kPerTxn; ++i) {
      if (txj::Status s = tx->append("bench", "event", payload); !s.ok()) return (*why = s.ToString(), false);
    }
    auto info = tx->commit();
    if (!info.ok()) return (*why = info.status().ToString(), false);
    next = info->first_offset + info->count;
    if (steady && next >= last_retention + kEventsPerSegment && next > kKeepSegments * kEventsPerSegment) {
      retained = next - kKeepSegments * kEventsPerSegment;
      const auto t = Clock::now();
      if (txj::Status s = j->apply_retention(retained); !s.ok()) return (*why = s.ToString(), false);
      in_retention += Clock::now() - t;
      last_retention = next;
    }
    return true;
  };
  bool ok = true;
  if (steady) {
    while (ok && next < kWarmupSegments * kEventsPerSegment) ok = commit();
  } else {
    for (int i = 0; ok && i < 20; ++i) ok = commit();
  }
  const std::uint64_t from = next;
  in_retention = Clock::duration{0};
  SyncFs(dir);  // what the warm-up left dirty is not the timed part's
  const double bytes0 = WriteBytes();
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::duration<double>(seconds);
  while (ok && Clock::now() < until) {
    for (int k = 0; ok && k < 8; ++k) ok = commit();
  }
  // Sustained, not buffered: the timed part ends when everything written is
  // on the device (for kNone, a fresh journal's figure otherwise counts only
  // the page cache, while retention's syncs write back as they go).
  out->held_mib = static_cast<double>(HeldBytes(dir)) / (1 << 20);
  if (txj::Status s = j->close(); ok && !s.ok()) {
    *why = s.ToString();
    ok = false;
  }
  SyncFs(dir);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double bytes1 = WriteBytes();
  out->rate = static_cast<double>(next - from) / secs;
  if (bytes0 >= 0 && bytes1 >= bytes0 && next > from) out->device_bytes_per_event = (bytes1 - bytes0) / static_cast<double>(next - from);
  out->retained_from = retained;
  out->retention_share = std::chrono::duration<double>(in_retention).count() / secs;
  return ok;
}

}  // namespace

// The steady workload (see the top of this file). `dir` is created and
// removed. Errors are reported in the rows ("error"), never thrown.
json Steady(const std::string& dir, int reps, double seconds) {
  json out = json::array();
  for (bool durable : {false, true}) {
    std::map<bool, std::vector<double>> rate, held, share, bytes;
    std::string error;
    for (int r = 0; r < reps && error.empty(); ++r) {
      for (bool steady : {false, true}) {  // interleaved
        const std::string d = dir + "/steady-" + std::to_string(r) + (steady ? "-s" : "-f");
        std::error_code ec;
        fs::remove_all(d, ec);
        fs::create_directories(dir, ec);
        Run run;
        std::string why;
        if (!RunOnce(d, durable, steady, seconds, &run, &why)) {
          error = std::string(steady ? "steady" : "fresh") + " journal: " + why;
        } else {
          rate[steady].push_back(run.rate);
          held[steady].push_back(run.held_mib);
          share[steady].push_back(run.retention_share);
          if (run.device_bytes_per_event >= 0) bytes[steady].push_back(run.device_bytes_per_event);
        }
        fs::remove_all(d, ec);
      }
    }
    json row{{"payload", kPayload}, {"per_txn", kPerTxn}, {"durable", durable},
             {"segment_mib", kSegmentSize >> 20}, {"keep_segments", kKeepSegments}};
    if (!error.empty()) row["error"] = error;
    for (bool steady : {false, true}) {
      const char* k = steady ? "steady" : "fresh";
      if (rate[steady].empty()) continue;
      row[k] = {{"events_per_second", {{"median", Median(rate[steady])}, {"min", Min(rate[steady])},
                                       {"max", Max(rate[steady])}}},
                {"held_mib", Median(held[steady])}};
      if (steady) row[k]["retention_share"] = Median(share[steady]);
      if (!bytes[steady].empty()) row[k]["device_bytes_per_event"] = Median(bytes[steady]);
    }
    if (!rate[false].empty() && !rate[true].empty()) {
      row["steady_over_fresh"] = Median(rate[true]) / Median(rate[false]);
    }
    out.push_back(row);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return out;
}

}  // namespace bench
