// Durable (kCommit) journals write zeros ahead of their writer in the
// background, so that a commit's sync overwrites blocks already written
// instead of committing new file-system metadata with every commit. These
// tests check that the zeros get there, and that they never land on bytes
// the writer wrote, however the two race.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Where the first hole at or after `from` begins (the file size if none).
std::uint64_t FirstHole(const std::string& path, std::uint64_t from) {
  int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  const off_t h = ::lseek(fd, static_cast<off_t>(from), SEEK_HOLE);
  ::close(fd);
  REQUIRE(h >= 0);
  return static_cast<std::uint64_t>(h);
}

std::vector<std::string> ReadPayloads(Journal& j) {
  std::vector<std::string> out;
  auto c = j.open_cursor(0);
  REQUIRE(c.ok());
  for (;;) {
    auto e = c->next();
    INFO((e.ok() ? std::string("ok") : e.status().ToString()));
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    out.emplace_back((**e).payload);
  }
  return out;
}

}  // namespace

TEST_CASE("a durable journal has the blocks ahead of its writer written before its commits reach them") {
  TempDir dir;
  Options o;
  o.durability = Durability::kCommit;
  o.segment_size = 16ull << 20;
  auto j = test::OpenOrDie(dir.path(), o);
  {
    auto tx = j->begin();
    TXJ_REQUIRE_OK(tx);
    TXJ_REQUIRE_OK(tx->append("t", "x", "one event"));
    TXJ_REQUIRE_OK(tx->commit());
  }
  auto segs = SegmentFiles(dir.path());
  REQUIRE(segs.size() >= 1);
  // The background thread fills about 2 MiB past the writer; wait until it
  // has (the deadline only bounds a hang, it asserts no speed).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::uint64_t hole = FirstHole(segs[0], 0);
  while (hole < (2u << 20) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    hole = FirstHole(segs[0], 0);
  }
  INFO("first hole at byte ", hole, " of ", segs[0]);
  CHECK(hole >= (2u << 20));
  // ... and not the whole segment: a small journal stays small.
  CHECK(hole < o.segment_size);
  TXJ_CHECK_OK(j->close());
}

TEST_CASE("commits that overtake the zeros written ahead of them keep every byte, across rolls and a reopen") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  Options o;
  o.durability = Durability::kCommit;
  o.segment_size = 1ull << 20;  // rolls every few transactions
  std::vector<std::string> expected;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    for (int t = 0; t < 120; ++t) {
      auto tx = j->begin();
      TXJ_REQUIRE_OK(tx);
      // From one small event to ~300 KiB (more than a fill chunk), so the
      // writer sometimes runs into the zeros being written.
      const int events = std::uniform_int_distribution<int>(1, 6)(rng);
      std::vector<std::string> mine;
      for (int e = 0; e < events; ++e) {
        const std::size_t size = rng() % 4 == 0 ? std::uniform_int_distribution<std::size_t>(1, 60000)(rng)
                                                : std::uniform_int_distribution<std::size_t>(1, 300)(rng);
        std::string p(size, '\0');
        for (auto& ch : p) ch = static_cast<char>('a' + rng() % 26);
        TXJ_REQUIRE_OK(tx->append("t", "x", p));
        mine.push_back(std::move(p));
      }
      if (rng() % 5 == 0) {
        TXJ_REQUIRE_OK(tx->rollback());
      } else {
        TXJ_REQUIRE_OK(tx->commit());
        expected.insert(expected.end(), mine.begin(), mine.end());
      }
    }
    const auto got = ReadPayloads(*j);
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("event ", i);
      CHECK(got[i] == expected[i]);
    }
    TXJ_CHECK_OK(j->close());
  }
  auto j = test::OpenOrDie(dir.path(), o);
  const auto got = ReadPayloads(*j);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("event ", i, " after reopening");
    CHECK(got[i] == expected[i]);
  }
}
