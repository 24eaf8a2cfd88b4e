#ifndef TXJ_TEST_NO_MAIN
#define DOCTEST_CONFIG_IMPLEMENT
#endif
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "test_util.h"

namespace txj::test {

std::uint64_t Seed() {
  static const std::uint64_t seed = [] {
    const char* s = std::getenv("TXJ_TEST_SEED");
    return s ? std::strtoull(s, nullptr, 0) : 20261122ull;
  }();
  return seed;
}

int Scaled(int n) {
  static const int percent = [] {
    const char* s = std::getenv("TXJ_TEST_SCALE");
    const int p = s ? std::atoi(s) : 100;
    return p > 0 ? p : 100;
  }();
  return std::max(1, static_cast<int>(static_cast<long long>(n) * percent / 100));
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TMPDIR");
  std::string root = base ? base : "/tmp";
  path_ = root + "/txj-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  if (!std::getenv("TXJ_KEEP_TEST_DIRS")) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

std::unique_ptr<Journal> OpenOrDie(const std::string& dir, const Options& o) {
  auto j = Journal::open(dir, o);
  INFO("open ", dir, ": ", (j.ok() ? std::string("ok") : j.status().ToString()));
  REQUIRE(j.ok());
  return std::move(j).value();
}

}  // namespace txj::test

#ifndef TXJ_TEST_NO_MAIN
int main(int argc, char** argv) {
  std::printf("txjournal tests: seed %llu (set TXJ_TEST_SEED to change), scale %d%%\n",
              static_cast<unsigned long long>(txj::test::Seed()), txj::test::Scaled(100));
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  return ctx.run();
}
#endif  // TXJ_TEST_NO_MAIN
