// Large records without durability (lib/journal/writer.cc, StartStaging):
// a transaction is written through the shared mapping until its first record
// of JournalState::kStageRecordMin bytes or more; from there to its end it is
// built in the staging buffer and reaches the file with pwrite. Readers must
// not see a difference.
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

// Counts the writes of at least 2 KiB (records; the manifest and head page
// writes are smaller) and the bytes they carry.
class CountingFs final : public test::ForwardingFileSystem {
 public:
  int PWrite(int fd, const void* d, std::size_t n, std::uint64_t o) override {
    if (n >= 2048) {
      large_writes.fetch_add(1);
      large_bytes.fetch_add(n);
    }
    return base_->PWrite(fd, d, n, o);
  }
  std::atomic<std::uint64_t> large_writes{0}, large_bytes{0};
};

struct Written {
  std::string topic, type, payload;
};

// Commits `payload_sizes` as one transaction and records what a reader must
// see.
void Commit(Journal& j, const std::vector<std::size_t>& payload_sizes, std::vector<Written>* model, char fill) {
  auto tx = j.begin();
  TXJ_REQUIRE_OK(tx);
  for (std::size_t n : payload_sizes) {
    Written w{"t" + std::to_string(n % 3), "e", std::string(n, fill)};
    TXJ_REQUIRE_OK(tx->append(w.topic, w.type, w.payload));
    model->push_back(std::move(w));
  }
  TXJ_REQUIRE_OK(tx->commit());
}

void CheckView(Journal& j, const std::vector<Written>& model) {
  auto got = test::ReadAllEvents(j);
  REQUIRE(got.size() == model.size());
  for (std::size_t i = 0; i < model.size(); ++i) {
    INFO("event ", i);
    CHECK(got[i].offset == i);
    CHECK(got[i].topic == model[i].topic);
    CHECK(got[i].payload == model[i].payload);
  }
}

}  // namespace

TEST_CASE("without durability small records go through the mapping and a large record's transaction through pwrite") {
  TempDir dir;
  auto fs = std::make_shared<CountingFs>();
  Options o = test::SmallOptions(Durability::kNone);
  o.file_system = fs;
  auto j = test::OpenOrDie(dir.path(), o);
  // Opening writes a head page and a manifest: count from here.
  const std::uint64_t at_open = fs->large_writes.load(), bytes_at_open = fs->large_bytes.load();
  std::vector<Written> model;
  Commit(*j, {100, 200, 300}, &model, 'a');
  CHECK(fs->large_writes.load() == at_open);
  // Small, then large, then small again: the large record and what follows
  // it in the transaction reach the file in one write at the commit.
  Commit(*j, {100, 5000, 100, 100}, &model, 'b');
  CHECK(fs->large_writes.load() == at_open + 1);
  CHECK(fs->large_bytes.load() - bytes_at_open >= 5000 + 200);
  // The next small transaction is back in the mapping.
  Commit(*j, {50, 60}, &model, 'c');
  CHECK(fs->large_writes.load() == at_open + 1);
  CheckView(*j, model);
  TXJ_REQUIRE_OK(j->close());
  j.reset();
  auto again = test::OpenOrDie(dir.path(), o);
  CHECK(again->recovery_report().repairs.empty());
  CheckView(*again, model);
}

TEST_CASE("random mixes of small and large records, rollbacks and segment rolls without durability read back exactly") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  Options o = test::SmallOptions(Durability::kNone);  // 64 KiB segments: a roll every few transactions
  auto j = test::OpenOrDie(dir.path(), o);
  auto reader = j->open_cursor(0);
  TXJ_REQUIRE_OK(reader);
  std::vector<Written> model;
  std::size_t read = 0;
  for (int t = 0; t < 300; ++t) {
    std::vector<std::size_t> sizes(1 + rng() % 6);
    for (auto& n : sizes) n = (rng() % 4 == 0) ? 2000 + rng() % 9000 : 1 + rng() % 400;
    if (rng() % 5 == 0) {  // rolled back: nothing of it is seen
      auto tx = j->begin();
      TXJ_REQUIRE_OK(tx);
      for (std::size_t n : sizes) TXJ_REQUIRE_OK(tx->append("t", "e", std::string(n, 'r')));
      TXJ_REQUIRE_OK(tx->rollback());
    } else {
      Commit(*j, sizes, &model, static_cast<char>('a' + t % 26));
    }
    // A reader that follows the writer sees each commit as it lands.
    for (;;) {
      auto e = reader->next();
      TXJ_REQUIRE_OK(e);
      if (!e->has_value()) break;
      REQUIRE(read < model.size());
      CHECK((**e).offset == read);
      CHECK((**e).payload == model[read].payload);
      ++read;
    }
    REQUIRE(read == model.size());
  }
  CHECK(j->visible_lsn() > 10 * o.segment_size);  // across more than ten segments
  TXJ_REQUIRE_OK(j->close());
  j.reset();
  auto again = test::OpenOrDie(dir.path(), o);
  CHECK(again->recovery_report().repairs.empty());
  CheckView(*again, model);
}
