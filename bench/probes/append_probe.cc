// Probe (not part of the build): the harness's append shape (kNone, events
// of SIZE bytes, 100 per transaction, topic "bench", type "event"), N
// transactions into a fresh journal, for callgrind's instruction counts
// per event (run with two values of N and take the difference):
//   g++ -O2 -g -std=c++20 -Iinclude bench/probes/append_probe.cc -Lbuild-rel/lib
//       -ltxjournal -Wl,-rpath,$PWD/build-rel/lib -o /tmp/append_probe
//   valgrind --tool=callgrind /tmp/append_probe /var/tmp/append-probe 100 2000
// Figures: docs/performance.md (twenty-third session).
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "txjournal/journal.h"

int main(int argc, char** argv) {
  if (argc < 4) return std::fprintf(stderr, "usage: %s DIR SIZE TRANSACTIONS\n", argv[0]), 2;
  const std::string dir = argv[1];
  const std::size_t size = std::strtoul(argv[2], nullptr, 10);
  const long txns = std::strtol(argv[3], nullptr, 10);
  std::filesystem::remove_all(dir);
  std::string p(size, '\0');
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>('a' + (i * 7919) % 26);
  txj::Options o;
  o.durability = txj::Durability::kNone;
  auto j = txj::Journal::open(dir, o);
  if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
  timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  const auto w0 = std::chrono::steady_clock::now();
  for (long t = 0; t < txns; ++t) {
    auto tx = (*j)->begin();
    if (!tx.ok()) return std::fprintf(stderr, "%s\n", tx.status().message().c_str()), 1;
    for (int k = 0; k < 100; ++k) {
      if (txj::Status s = tx->append("bench", "event", p); !s.ok())
        return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
    }
    if (auto c = tx->commit(); !c.ok()) return std::fprintf(stderr, "%s\n", c.status().message().c_str()), 1;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  const double cpu = (c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9;
  const double n = txns * 100.0;
  std::printf("%.0f events: %.2f M events/s wall, %.1f ns/event wall, %.1f ns/event writer CPU\n", n, n / wall / 1e6,
              wall / n * 1e9, cpu / n * 1e9);
  return (*j)->close().ok() ? 0 : 1;
}
