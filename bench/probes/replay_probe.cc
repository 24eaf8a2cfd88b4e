// Probe (not part of the build): replay of the harness's replay journal
// (2 M events of 100 B, 100 per transaction, ten topics) through next(),
// next_batch(256) or a one-topic filter, N passes over one journal written
// once, each pass timed in wall and thread CPU time (the CPU-time rate is
// the steadier figure on a shared machine). For perf record / perf stat:
//   g++ -O2 -g -std=c++20 -Iinclude bench/probes/replay_probe.cc -Lbuild-rel/lib
//       -ltxjournal -Wl,-rpath,$PWD/build-rel/lib -o /tmp/replay_probe
//   (after ninja -C build-rel lib/libtxjournal.so.0.1.0)
//   /tmp/replay_probe /var/tmp/replay-probe write
//   /tmp/replay_probe /var/tmp/replay-probe batch 8    # or next, topic
//   perf record -e cpu-clock -g /tmp/replay_probe /var/tmp/replay-probe batch 20
//   /tmp/replay_probe /var/tmp/replay-fresh harness 3   # as journal-bench: write,
//       then in the writer's process an untimed batch pass, next, topic, batch
// "harness-settled": the same, with sync() and a 2 s pause between writing
// and reading (the journal's background sealer has synced and remapped
// read-only every retired segment before the passes start); "harness-reopen":
// the journal closed and opened again between writing and reading.
// Figures: docs/performance.md (tenth session, replay).
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "txjournal/journal.h"

namespace {

double CpuNow() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

long MinorFaults() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void WriteInto(txj::Journal& j) {
  std::string p(100, '\0');
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>('a' + (i * 7919) % 26);
  for (std::uint64_t i = 0; i < 2000000; i += 100) {
    auto tx = j.begin();
    for (int k = 0; k < 100; ++k) (void)tx->append("topic-" + std::to_string(k % 10), "e", p);
    (void)tx->commit();
  }
}

int Write(const std::string& dir) {
  txj::Options o;
  o.durability = txj::Durability::kNone;
  auto j = txj::Journal::open(dir, o);
  if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
  WriteInto(**j);
  return (*j)->close().ok() ? 0 : 1;
}

// One pass from offset 0 in `mode` (next, batch, topic), timed; false on
// an error.
bool Pass(txj::Journal& j, const std::string& mode, const std::string& label) {
  std::vector<txj::Event> buf(256);
  auto cur = j.open_cursor(0, mode == "topic" ? txj::Filter::for_topics({"topic-3"}) : txj::Filter::all());
  if (!cur.ok()) return std::fprintf(stderr, "%s\n", cur.status().message().c_str()), false;
  const auto w0 = std::chrono::steady_clock::now();
  const double c0 = CpuNow();
  const long f0 = MinorFaults();
  std::uint64_t got = 0, sum = 0;
  if (mode == "batch") {
    for (;;) {
      auto k = cur->next_batch(buf);
      if (!k.ok()) return std::fprintf(stderr, "%s\n", k.status().message().c_str()), false;
      if (*k == 0) break;
      for (std::size_t i = 0; i < *k; ++i) sum += buf[i].payload.size();
      got += *k;
    }
  } else {
    for (;;) {
      auto e = cur->next();
      if (!e.ok()) return std::fprintf(stderr, "%s\n", e.status().message().c_str()), false;
      if (!e->has_value()) break;
      sum += (*e)->payload.size();
      ++got;
    }
  }
  const double cpu = CpuNow() - c0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  const double scanned = mode == "topic" ? 2000000.0 : static_cast<double>(got);
  std::printf("%-6s %-11s %8llu events, wall %5.1f M/s, cpu %5.1f M/s, %5.1f ns/event cpu, %5ld minor faults (%llu B)\n",
              mode.c_str(), label.c_str(), static_cast<unsigned long long>(got), scanned / wall / 1e6,
              scanned / cpu / 1e6, cpu / scanned * 1e9, MinorFaults() - f0, static_cast<unsigned long long>(sum));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return std::fprintf(stderr, "usage: %s DIR write|next|batch|topic|harness [PASSES]\n", argv[0]), 2;
  const std::string dir = argv[1], mode = argv[2];
  if (mode == "write") return Write(dir);
  const int passes = argc > 3 ? std::atoi(argv[3]) : 4;
  txj::Options o;
  o.durability = txj::Durability::kNone;
  if (mode.rfind("harness", 0) == 0) {
    // As journal-bench's replay workload: a fresh journal written, then
    // read in the writer's process (untimed batch pass first).
    for (int rep = 0; rep < passes; ++rep) {
      std::filesystem::remove_all(dir);
      auto j = txj::Journal::open(dir, o);
      if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
      WriteInto(**j);
      if (mode == "harness-settled") {
        sync();
        sleep(2);
      } else if (mode == "harness-reopen") {
        if (!(*j)->close().ok()) return 1;
        j = txj::Journal::open(dir, o);
        if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
      }
      const std::string r = "rep " + std::to_string(rep);
      if (!Pass(**j, "batch", r + " warm") || !Pass(**j, "next", r) || !Pass(**j, "topic", r) ||
          !Pass(**j, "batch", r)) {
        return 1;
      }
      if (!(*j)->close().ok()) return 1;
    }
    std::filesystem::remove_all(dir);
    return 0;
  }
  auto j = txj::Journal::open(dir, o);
  if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
  for (int pass = 0; pass < passes; ++pass) {
    if (!Pass(**j, mode, "pass " + std::to_string(pass))) return 1;
  }
  return (*j)->close().ok() ? 0 : 1;
}
