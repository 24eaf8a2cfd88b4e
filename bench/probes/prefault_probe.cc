// Probe (not part of the build): what the first writes into a sparse file
// cost the writing thread through a shared mapping, 256 MiB in 4 KiB
// copies: cold (each write faults, reading a hole as a page of zeros),
// after MADV_POPULATE_READ, after fallocate, after MADV_POPULATE_WRITE (the
// preparation timed apart: another thread could do it ahead of the writer).
//   g++ -O2 -std=c++20 bench/probes/prefault_probe.cc -o /tmp/prefault_probe
//   /tmp/prefault_probe /var/tmp
// Figures and what they suggest: docs/performance.md, eighth session.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
int main(int argc, char** argv) {
  const size_t size = 256ull << 20;
  const char* dir = argc > 1 ? argv[1] : "/var/tmp";
  std::string modes[] = {"cold", "populate-read", "fallocate", "populate-write", "cold"};
  static char buf[4096];
  memset(buf, 'x', sizeof buf);
  for (auto& m : modes) {
    std::string path = std::string(dir) + "/pf.seg";
    unlink(path.c_str());
    int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (ftruncate(fd, size) != 0) return 1;
    if (m == "fallocate" && fallocate(fd, 0, 0, size) != 0) return 2;
    char* p = static_cast<char*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    auto t0 = std::chrono::steady_clock::now();
    if (m == "populate-read" && madvise(p, size, MADV_POPULATE_READ) != 0) perror("populate-read");
    if (m == "populate-write" && madvise(p, size, MADV_POPULATE_WRITE) != 0) perror("populate-write");
    auto t1 = std::chrono::steady_clock::now();
    for (size_t off = 0; off < size; off += sizeof buf) memcpy(p + off, buf, sizeof buf);
    auto t2 = std::chrono::steady_clock::now();
    printf("%-15s prepare %7.1f ms  writes %7.1f ms (%.2f GB/s)\n", m.c_str(),
           std::chrono::duration<double, std::milli>(t1 - t0).count(),
           std::chrono::duration<double, std::milli>(t2 - t1).count(),
           size / 1e9 / std::chrono::duration<double>(t2 - t1).count());
    munmap(p, size);
    close(fd);
    unlink(path.c_str());
  }
}
