// The internal open the fuzz harnesses use (journal_state.h:
// OpenWithoutCatalog with without_threads): a writable journal without its
// catalog and without background threads still rolls into new segments,
// and what it committed reads back after a normal reopen.
#include <dirent.h>

#include <string>

#include "journal_state.h"
#include "test_util.h"
#include "txjournal/journal.h"

using namespace txj;
using txj::test::TempDir;

namespace {

// Threads of this process now.
int Threads() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

}  // namespace

TEST_CASE("a journal opened without background threads starts none, rolls into new segments itself, and reads back") {
  TempDir t;
  const std::string dir = t.sub("j");
  Options o;
  o.segment_size = 64 * 1024;
  o.durability = Durability::kNone;
  const int before = Threads();
  auto j = internal::OpenWithoutCatalog(dir, o, /*without_threads=*/true);
  REQUIRE(j.ok());
  CHECK(Threads() == before);
  // About 4 segments of events: every roll creates the next segment on the
  // writer's thread (no background thread prepares it).
  const std::string payload(1000, 'x');
  std::uint64_t events = 0;
  for (int txn = 0; txn < 25; ++txn) {
    auto tx = (*j)->begin();
    REQUIRE(tx.ok());
    for (int i = 0; i < 10; ++i, ++events) REQUIRE(tx->append("t", "e", payload).ok());
    REQUIRE(tx->commit().ok());
  }
  CHECK(Threads() == before);
  CHECK((*j)->next_offset() == events);
  REQUIRE((*j)->close().ok());
  j->reset();
  std::size_t segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) segments += e.path().extension() == ".seg";
  CHECK(segments >= 4);
  auto back = Journal::open(dir, o);
  REQUIRE(back.ok());
  CHECK((*back)->recovery_report().repairs.empty());
  CHECK((*back)->next_offset() == events);
  auto cur = (*back)->open_cursor(0, Filter::all());
  REQUIRE(cur.ok());
  std::uint64_t read = 0;
  for (auto e = cur->next(); e.ok() && e->has_value(); e = cur->next()) ++read;
  CHECK(read == events);
}
