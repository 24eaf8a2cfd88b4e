// Probe (not part of the build): what a cursor opened in the middle of a
// segment pays for the names records before it (format 5, docs/format.md
// "Names"). Writes 400 000 events of 100 B (ten topics, 100 per
// transaction) into one 64 MiB segment, then times each cursor's
// open_cursor() plus first next() at offsets 0, 200 000 and 390 000:
//   writer: in the writer's process, through the writer's journal;
//   reader-1, reader-2: a read-only journal opened on the same directory
//       (its own segments: the first cursor at each offset reads the
//       segment back, the second finds what the first left);
//   reopen: the journal closed and opened again (recovery), then cursors.
//   g++ -O2 -g -std=c++20 -Iinclude bench/probes/mid_open_probe.cc -Lbuild-rel/lib
//       -ltxjournal -Wl,-rpath,$PWD/build-rel/lib -o /tmp/mid_open_probe
//   /tmp/mid_open_probe /var/tmp/mid-open-probe
//   /tmp/mid_open_probe /var/tmp/mid-open-probe reopen   # only the reopened
//       writer, on the journal a full run left (a process of its own)
// Figures: docs/performance.md (twenty-seventh and twenty-eighth sessions).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "txjournal/journal.h"

namespace {

using Clock = std::chrono::steady_clock;

long MinorFaults() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

void Time(const char* what, txj::Journal& j) {
  for (std::uint64_t off : {0ull, 200000ull, 390000ull}) {
    const long f0 = MinorFaults();
    const auto t0 = Clock::now();
    auto c = j.open_cursor(off);
    if (!c.ok()) {
      std::fprintf(stderr, "open_cursor(%llu): %s\n", static_cast<unsigned long long>(off),
                   c.status().message().c_str());
      std::exit(1);
    }
    auto e = c->next();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!e.ok() || !*e || (*e)->offset != off) {
      std::fprintf(stderr, "next() at %llu: %s\n", static_cast<unsigned long long>(off),
                   e.ok() ? "wrong event" : e.status().message().c_str());
      std::exit(1);
    }
    std::printf("%-9s offset %6llu: %8.3f ms, %5ld minor faults\n", what, static_cast<unsigned long long>(off), ms,
                MinorFaults() - f0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) return std::fprintf(stderr, "usage: %s DIR [reopen]\n", argv[0]), 2;
  const std::string dir = argv[1];
  txj::Options o;
  o.durability = txj::Durability::kNone;
  if (argc == 3) {  // only the reopened writer, on the journal a full run left
    auto j = txj::Journal::open(dir, o);
    if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
    Time("reopen", **j);
    return (*j)->close().ok() ? 0 : 1;
  }
  std::filesystem::remove_all(dir);
  auto j = txj::Journal::open(dir, o);
  if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
  std::string p(100, 'x');
  for (std::uint64_t i = 0; i < 400000; i += 100) {
    auto tx = (*j)->begin();
    for (int k = 0; k < 100; ++k) (void)tx->append("topic-" + std::to_string(k % 10), "e", p);
    if (!tx->commit().ok()) return 1;
  }
  if (!(*j)->sync().ok()) return 1;
  Time("writer", **j);
  {
    txj::Options r;
    r.read_only = true;
    auto rj = txj::Journal::open(dir, r);
    if (!rj.ok()) return std::fprintf(stderr, "%s\n", rj.status().message().c_str()), 1;
    Time("reader-1", **rj);
    Time("reader-2", **rj);
  }
  if (!(*j)->close().ok()) return 1;
  j = txj::Journal::open(dir, o);
  if (!j.ok()) return std::fprintf(stderr, "%s\n", j.status().message().c_str()), 1;
  Time("reopen", **j);
  return 0;
}
