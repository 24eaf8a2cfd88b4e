// Records that verify (right checksum, position, journal and writer epoch)
// but break the transaction grammar, have an unknown type or go back in
// transaction id: none of them can come from a crash, so each is
// corruption naming the file and byte offset, and a refused open changes
// no file. (Bytes that do not verify are the tail rules' business:
// recovery_test.cc.)
//
// Each case writes a journal, closes it, appends hand-made records after
// its last record (where the next writer would write) and opens it again.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "checksum.h"
#include "format.h"
#include "journal_state.h"
#include "manifest.h"
#include "name_table.h"
#include "segment.h"
#include "test_util.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"

using namespace txj;
using txj::test::ReadFile;
using txj::test::TempDir;
namespace fs = std::filesystem;
namespace fmt = txj::format;

namespace {

std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && name != "LOCK" && name != "HEAD") out[name] = ReadFile(e.path().string());
  }
  return out;
}

// A journal of three committed transactions (each with a sub-transaction,
// six events), closed. Knows where its records end and how to add records there.
class Forger {
 public:
  Forger() : dir_(tmp_.sub("j")) {
    // Two writer sessions (two transactions, then one), so that records
    // of an older session can be forged too.
    for (int session = 0; session < 2; ++session) {
      auto j = test::OpenOrDie(dir_, test::SmallOptions(Durability::kCommit));
      for (int t = 0; t < 2 - session; ++t) {
        auto tx = j->begin();
        REQUIRE(tx.ok());
        TXJ_REQUIRE_OK(tx->append("t", "e", "payload " + std::to_string(t)));
        auto sub = tx->begin();
        REQUIRE(sub.ok());
        TXJ_REQUIRE_OK(sub->append("t", "inner", "x"));
        TXJ_REQUIRE_OK(sub->commit());
        auto info = test::RequireOk(tx->commit());
        last_txn_ = info->txn_id;
      }
      TXJ_REQUIRE_OK(j->close());
    }
    auto report = WalkJournal(dir_, [&](const RawRecord& r) {
      end_lsn_ = r.lsn + fmt::AlignUp(r.length);
      file_ = std::string(r.segment);
      end_offset_ = r.file_offset + fmt::AlignUp(r.length);
      epoch_ = r.epoch;
    });
    TXJ_REQUIRE_OK(report);
    REQUIRE(!report->damaged());
    internal::ManifestData m;
    TXJ_REQUIRE_OK(internal::ReadManifest(*DefaultFileSystem(), dir_, &m));
    salt_ = m.salt();
    // Records written now carry the epoch the next writer would have: the
    // manifest's (a writer bumps it at open).
    epoch_ = static_cast<std::uint32_t>(m.epoch);
  }

  const std::string& dir() const { return dir_; }
  const std::string& file() const { return file_; }
  std::uint64_t last_txn() const { return last_txn_; }
  // Begins the transaction after the last committed one; its id.
  std::uint64_t BeginNext() {
    const std::uint64_t t = last_txn_ + 1;
    Begin(t);
    return t;
  }
  std::uint32_t epoch() const { return epoch_; }
  // Byte offset in file() of the next record Add() writes.
  std::uint64_t next_offset() const { return end_offset_; }

  // Appends a verifying record; returns its byte offset in file().
  std::uint64_t Add(std::uint8_t type, std::uint64_t txn, std::uint32_t sub, std::uint16_t depth,
                    const std::string& body, std::uint32_t epoch = 0) {
    fmt::RecordHeader h{};
    h.length = static_cast<std::uint32_t>(fmt::kRecordHeaderSize + body.size());
    h.type = type;
    h.flags = next_flags_;
    next_flags_ = 0;
    h.depth = depth;
    h.txn_id = txn;
    h.sub_id = sub;
    h.epoch = epoch ? epoch : epoch_;
    std::string rec(sizeof h, '\0');
    std::memcpy(rec.data(), &h, sizeof h);
    rec += body;
    const std::uint64_t sum = internal::RecordChecksum(rec.data(), h.length, salt_, end_lsn_);
    std::memcpy(rec.data(), &sum, 8);
    running_ = fmt::RunningHashStep(running_, sum);
    ++records_;
    std::fstream f(file_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(end_offset_));
    f.write(rec.data(), static_cast<std::streamsize>(rec.size()));
    REQUIRE(f.good());
    const std::uint64_t at = end_offset_;
    begin_lsn_ = type == static_cast<std::uint8_t>(RecordType::kBegin) ? end_lsn_ : begin_lsn_;
    end_lsn_ += fmt::AlignUp(h.length);
    end_offset_ += fmt::AlignUp(h.length);
    return at;
  }
  std::uint64_t Begin(std::uint64_t txn) {
    running_ = fmt::kRunningHashInit;
    records_ = 0;
    fmt::BeginBody b{1};
    return Add(static_cast<std::uint8_t>(RecordType::kBegin), txn, 0, 0, Bytes(b));
  }
  std::uint64_t Event(std::uint64_t txn, std::uint32_t sub = 0, std::uint16_t depth = 0) {
    fmt::EventBody b{};
    b.timestamp_ns = 1;
    b.payload_length = 1;
    b.topic_length = 1;
    b.type_length = 1;
    return Add(static_cast<std::uint8_t>(RecordType::kEvent), txn, sub, depth, Bytes(b) + "tep");
  }
  // An event whose record is `length` bytes long (a multiple of the record
  // alignment, at least a one-byte event's).
  std::uint64_t EventOfLength(std::uint64_t txn, std::uint64_t length) {
    fmt::EventBody b{};
    b.timestamp_ns = 1;
    b.payload_length = static_cast<std::uint32_t>(length - fmt::kRecordHeaderSize - sizeof b - 2);
    b.topic_length = 1;
    b.type_length = 1;
    return Add(static_cast<std::uint8_t>(RecordType::kEvent), txn, 0, 0,
               Bytes(b) + "te" + std::string(b.payload_length, 'p'));
  }
  // A padding record inside the open transaction (compaction's, standing
  // for `skipped` events removed from it).
  std::uint64_t Padding(std::uint64_t txn, std::uint64_t skipped) {
    fmt::PaddingBody b{};
    b.skipped_events = skipped;
    return Add(static_cast<std::uint8_t>(RecordType::kPadding), txn, 0, 0, Bytes(b));
  }
  // A commit marker whose count and running hash cover the records added
  // since Begin(): only the grammar can be wrong.
  std::uint64_t Commit(std::uint64_t txn, std::uint64_t first_offset, std::uint64_t events) {
    fmt::CommitBody b{};
    b.first_offset = first_offset;
    b.event_count = events;
    b.record_count = records_;
    b.running_hash = running_;
    b.begin_lsn = begin_lsn_;
    b.timestamp_ns = 1;
    return Add(static_cast<std::uint8_t>(RecordType::kCommit), txn, 0, 0, Bytes(b));
  }

  // Leaves the rest of the page unwritten (a gap): the next record starts
  // at the next page boundary, flagged kFlagFollowsGap when `flag`.
  void SkipToPage(bool flag) {
    const std::uint64_t skip = fmt::PageUp(end_lsn_) - end_lsn_;
    end_lsn_ += skip;
    end_offset_ += skip;
    next_flags_ = flag ? fmt::kFlagFollowsGap : 0;
  }
  // The next record gets `flags` (once).
  void SetNextFlags(std::uint8_t flags) { next_flags_ = flags; }

  template <typename T>
  static std::string Bytes(const T& v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
  }

 private:
  TempDir tmp_;
  std::string dir_;
  std::string file_;
  std::uint64_t end_lsn_ = 0, end_offset_ = 0, begin_lsn_ = 0;
  std::uint64_t salt_ = 0, last_txn_ = 0;
  std::uint32_t epoch_ = 0;
  std::uint64_t running_ = fmt::kRunningHashInit, records_ = 0;
  std::uint8_t next_flags_ = 0;
};

// Opens the forged journal: must be corruption naming the file and the
// byte offset `at`, and leave every file as it was; the walk (journal-dump
// --verify) must report the same place.
void ExpectRefused(const Forger& f, std::uint64_t at, const std::string& what) {
  INFO("forged: ", what);
  const auto before = Snapshot(f.dir());
  auto j = Journal::open(f.dir(), test::SmallOptions(Durability::kCommit));
  REQUIRE(!j.ok());
  INFO("open: ", j.status().ToString());
  CHECK(j.status().code() == Code::kCorruption);
  CHECK(j.status().message().find(f.file()) != std::string::npos);
  CHECK(j.status().message().find("byte " + std::to_string(at)) != std::string::npos);
  CHECK(Snapshot(f.dir()) == before);
  Options ro;
  ro.read_only = true;
  auto r = Journal::open(f.dir(), ro);
  CHECK(!r.ok());
  auto walk = test::RequireOk(WalkJournal(f.dir()));
  REQUIRE(walk->damaged());
  CHECK(walk->problems.front().file == f.file());
  CHECK(walk->problems.front().file_offset == at);
  CHECK(Snapshot(f.dir()) == before);
}

}  // namespace

TEST_CASE("a verifying event outside any transaction is corruption naming file and offset") {
  Forger f;
  const auto at = f.Event(f.last_txn() + 1);
  ExpectRefused(f, at, "event without a begin marker");
}

TEST_CASE("a commit marker of a transaction that never began is corruption naming file and offset") {
  Forger f;
  const auto at = f.Commit(f.last_txn() + 1, 6, 0);
  ExpectRefused(f, at, "commit without a begin marker");
}

TEST_CASE("unbalanced sub-transaction markers are corruption naming file and offset") {
  SUBCASE("a sub-commit with no sub-transaction open") {
    Forger f;
    const std::uint64_t t = f.BeginNext();
    fmt::SubCommitBody b{0};
    const auto at = f.Add(static_cast<std::uint8_t>(RecordType::kSubCommit), t, 1, 1, Forger::Bytes(b));
    f.Commit(t, 6, 0);
    ExpectRefused(f, at, "sub-commit without sub-begin");
  }
  SUBCASE("a commit while a sub-transaction is still open") {
    Forger f;
    const std::uint64_t t = f.BeginNext();
    fmt::SubBeginBody sb{0, 0};
    f.Add(static_cast<std::uint8_t>(RecordType::kSubBegin), t, 1, 1, Forger::Bytes(sb));
    f.Event(t, 1, 1);
    const auto at = f.Commit(t, 6, 1);
    ExpectRefused(f, at, "commit with a sub-transaction open");
  }
  SUBCASE("an event at a depth that is not open") {
    Forger f;
    const std::uint64_t t = f.BeginNext();
    const auto at = f.Event(t, 3, 2);
    f.Commit(t, 6, 1);
    ExpectRefused(f, at, "event at depth 2 with no sub-transaction open");
  }
}

TEST_CASE("a verifying record of an unknown type is corruption naming file and offset") {
  Forger f;
  const std::uint64_t t = f.BeginNext();
  const auto at = f.Add(42, t, 0, 0, std::string(16, 'u'));
  f.Commit(t, 6, 0);
  ExpectRefused(f, at, "record type 42");
}

TEST_CASE("a transaction id that goes back is corruption naming file and offset") {
  Forger f;
  const std::uint64_t t = f.last_txn();  // not greater than the last one
  const auto at = f.Begin(t);
  f.Event(t);
  f.Commit(t, 6, 1);
  ExpectRefused(f, at, "transaction id " + std::to_string(t) + " again");
}

TEST_CASE("a complete forged transaction with a later id is accepted, so the checks above are about grammar") {
  // The control case: the same forging, well formed, opens and reads.
  Forger f;
  const std::uint64_t t = f.BeginNext();
  f.Event(t);
  f.Commit(t, 6, 1);
  auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
  CHECK((*j)->next_offset() == 7);
  auto c = test::RequireOk((*j)->open_cursor(6, Filter::all()));
  auto e = test::RequireOk(c->next());
  REQUIRE(e->has_value());
  CHECK((*e)->payload == "p");
  CHECK((*e)->txn_id == t);
}

// Forges a transaction after the last one: an event, a padding standing for
// `skipped` events, `after` more events, a gap when `gap`, the commit
// marker; returns its id (its first offset is 6).
std::uint64_t ForgePadded(Forger& f, std::uint64_t skipped, int after, bool gap) {
  const std::uint64_t t = f.BeginNext();
  f.Event(t);
  f.Padding(t, skipped);
  for (int i = 0; i < after; ++i) f.Event(t);
  if (gap) f.SkipToPage(true);
  f.Commit(t, 6, 1 + after + skipped);
  return t;
}

// Every event a cursor opened at `from` hands out, to `visit` (while the
// cursor lives): through next() when `batch` is 0, else through
// next_batch() of `batch`.
template <typename Visit>
void ReadAll(Journal& j, std::uint64_t from, std::size_t batch, Visit visit) {
  auto c = test::RequireOk(j.open_cursor(from, Filter::all()));
  std::vector<Event> buf(batch == 0 ? 1 : batch);
  for (;;) {
    std::size_t k = 0;
    if (batch == 0) {
      auto e = test::RequireOk(c->next());
      if (e->has_value()) buf[k++] = **e;
    } else {
      k = *test::RequireOk(c->next_batch(buf));
    }
    if (k == 0) return;
    for (std::size_t i = 0; i < k; ++i) visit(buf[i]);
  }
}

// The offsets a cursor opened at `from` hands out for transaction `txn`
// (ReadAll).
std::vector<std::uint64_t> OffsetsOf(Journal& j, std::uint64_t from, std::uint64_t txn, std::size_t batch) {
  std::vector<std::uint64_t> out;
  ReadAll(j, from, batch, [&](const Event& e) {
    if (e.txn_id == txn) out.push_back(e.offset);
  });
  return out;
}

TEST_CASE("events after a padding standing for more than 2^32 events take their offsets from its whole count, event by event and in batches") {
  // A cursor opened inside a transaction remembers its events and hands
  // them out after the commit; a remembered padding's count was cut to 32
  // bits, so the events after it came out 2^32 offsets too low (found by
  // the recovery fuzzer comparing next() with next_batch()).
  Forger f;
  const std::uint64_t skipped = (std::uint64_t{1} << 32) + 5;
  const std::uint64_t t = ForgePadded(f, skipped, 2, false);
  auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
  CHECK((*j)->next_offset() == 6 + 3 + skipped);
  const std::vector<std::uint64_t> want = {6, 7 + skipped, 8 + skipped};
  for (std::uint64_t from : {std::uint64_t{0}, std::uint64_t{6}}) {
    CAPTURE(from);
    CHECK(OffsetsOf(**j, from, t, 0) == want);
    CHECK(OffsetsOf(**j, from, t, 2) == want);
  }
}

TEST_CASE("a transaction read a second time from the log hands out its events when its commit marker follows a gap") {
  // A transaction a cursor cannot remember (here: a padding of more than
  // 2^32 events in one opened inside it) is read again from its begin
  // marker to its commit marker; with the marker past a gap, that second
  // read stopped at the gap as at unwritten space and reported the
  // record as changed under the cursor (found by the recovery fuzzer
  // comparing a filtered read with an unfiltered one).
  Forger f;
  const std::uint64_t skipped = (std::uint64_t{1} << 32) + 5;
  const std::uint64_t t = ForgePadded(f, skipped, 1, true);
  auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
  CHECK((*j)->next_offset() == 6 + 2 + skipped);
  for (std::uint64_t from : {std::uint64_t{0}, std::uint64_t{6}}) {
    CAPTURE(from);
    CHECK(OffsetsOf(**j, from, t, 0) == std::vector<std::uint64_t>{6, 7 + skipped});
  }
}

TEST_CASE(
    "an event named by id that follows a gap inside its transaction is read, and its names are found by reading back") {
  // A durable transaction that goes on past a page a sync covered leaves a
  // gap inside it (docs/format.md "Gaps"). A reader that had not seen the
  // names record binding the event's id read the segment back up to the
  // event and stopped at the gap's zeros, which end at the event itself:
  // "cannot find the event's names" for a sound journal (found by the
  // recovery fuzzer: next_batch() failed where next() read on, its second
  // read of the transaction having a names table of its own). Both shapes:
  // the event at the top level and in a sub-transaction.
  for (bool sub : {false, true}) {
    CAPTURE(sub);
    Forger f;
    const std::uint64_t t = f.BeginNext();
    fmt::NamesBody nb{};
    nb.id = 3;
    nb.topic_length = 5;
    nb.type_length = 4;
    f.Add(static_cast<std::uint8_t>(RecordType::kNames), t, 0, 0, Forger::Bytes(nb) + "alphabeta");
    f.Event(t);
    f.Commit(t, 6, 1);
    f.Begin(t + 1);
    if (sub)
      f.Add(static_cast<std::uint8_t>(RecordType::kSubBegin), t + 1, 1, 1, Forger::Bytes(fmt::SubBeginBody{0, 0}));
    f.SkipToPage(true);
    f.SetNextFlags(fmt::kFlagFollowsGap | fmt::kFlagNameRef);
    fmt::EventBody eb{};
    eb.timestamp_ns = 1;
    eb.payload_length = 5;
    eb.topic_length = 3;  // the id, low byte
    eb.type_length = 0;
    f.Add(static_cast<std::uint8_t>(RecordType::kEvent), t + 1, sub ? 1 : 0, sub ? 1 : 0, Forger::Bytes(eb) + "after");
    if (sub)
      f.Add(static_cast<std::uint8_t>(RecordType::kSubCommit), t + 1, 1, 1, Forger::Bytes(fmt::SubCommitBody{1}));
    f.Commit(t + 1, 7, 1);

    RawRecord late;  // its views are the walk's: only its numbers are read after it
    std::string walk_topic;
    TXJ_REQUIRE_OK(WalkJournal(f.dir(), [&](const RawRecord& r) {
      if (r.type != RecordType::kEvent || r.payload != "after") return;
      late = r;
      walk_topic = std::string(r.topic);
    }));
    REQUIRE(late.name_ref);
    REQUIRE(late.file_offset % fmt::kPageSize == 0);
    CHECK(walk_topic == "alpha");
    auto ro = test::OpenOrDie(f.dir(), test::ReadOnlyOptions());
    auto& st = internal::JournalAccess::state(*ro);
    internal::NameTable names;
    std::string_view topic, type;
    const Status s =
        names.Resolve(st.segments->All().front(), st.salt, late.lsn, late.epoch, late.name_id, &topic, &type);
    INFO(s.ToString());
    CHECK(s.ok());
    CHECK(topic == "alpha");
    CHECK(type == "beta");
    // Every read hands out the same eight events, one by one and in
    // batches of every size.
    for (std::size_t batch : {0, 1, 2, 3, 7, 8, 64}) {
      CAPTURE(batch);
      std::vector<std::string> got;
      ReadAll(*ro, 0, batch,
              [&](const Event& e) { got.push_back(std::string(e.topic) + "/" + std::string(e.payload)); });
      REQUIRE(got.size() == 8);
      CHECK(got[6] == "t/p");
      CHECK(got[7] == "alpha/after");
    }
  }
}

TEST_CASE("a commit marker whose offsets would reach 2^64 - 1 is corruption naming file and offset") {
  // Offsets that wrapped would go back to 0 after the largest one (the
  // dump fuzzer's journal-dump and library reads then differed).
  // (Whole transactions a padding stands for take the offsets up to
  // 2^64 - 15 first: a transaction's own count stays far below 2^63.)
  Forger f;
  f.Padding(0, ~std::uint64_t{0} - 20);  // next offset 6 + 2^64 - 21 = 2^64 - 15
  const std::uint64_t t = f.BeginNext();
  f.Event(t);
  f.Padding(t, 13);  // 2^64 - 15 + 1 + 13 = 2^64 - 1
  const auto at = f.Commit(t, ~std::uint64_t{0} - 14, 14);
  ExpectRefused(f, at, "past 2^64 - 1");
}

TEST_CASE(
    "paddings whose counts add up past 2^64 in one transaction are corruption naming the padding, even when the "
    "commit marker holds the wrapped sum") {
  // Four paddings of 2^62 + 1 events: their sum wraps to 4, which the
  // commit marker's count matched, and the events after them came out with
  // offsets past 2^64 that went back below the ones before (found by the
  // recovery fuzzer reading from inside such a transaction). A count above
  // 2^63 is refused where it is reached.
  Forger f;
  const std::uint64_t t = f.BeginNext();
  f.Event(t);
  const std::uint64_t big = (std::uint64_t{1} << 62) + 1;
  f.Padding(t, big);
  const std::uint64_t second = f.Padding(t, big);
  f.Padding(t, big);
  f.Padding(t, big);
  f.Event(t);
  f.Commit(t, 6, 2 + 4 * big);  // 2 + 4 (mod 2^64)
  ExpectRefused(f, second, "more than 2^63 events");
}

TEST_CASE("whole transactions a padding stands for cannot take offsets past 2^64 - 1") {
  Forger f;
  const std::uint64_t t = f.BeginNext();
  f.Event(t);
  f.Commit(t, 6, 1);
  f.Padding(0, ~std::uint64_t{0} - 8);
  const std::uint64_t over = f.Padding(0, 2);  // 7 + 2^64 - 9 + 2 = 2^64
  ExpectRefused(f, over, "past 2^64 - 1");
}

TEST_CASE("a transaction flagged hashed whose commit marker does not hold the hash of its bytes is corruption naming the commit marker") {
  // Every record verifies; the commit marker holds the running hash of
  // format 3, not the transaction hash its begin marker's flag announces.
  Forger f;
  const std::uint64_t t = f.last_txn() + 1;
  f.SetNextFlags(fmt::kFlagHashedTxn);
  f.Begin(t);
  f.Event(t);
  const auto at = f.Commit(t, 6, 1);
  ExpectRefused(f, at, "hashed transaction with a running hash");
}

TEST_CASE("a transaction after a gap is read when its first record starts the next page flagged as following a gap") {
  // Format 2: a durable writer skips the rest of a page a sync covered.
  Forger f;
  f.SkipToPage(/*flag=*/true);
  const std::uint64_t t = f.BeginNext();
  f.Event(t);
  f.Commit(t, 6, 1);
  auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
  CHECK((*j)->recovery_report().repairs.empty());
  CHECK((*j)->next_offset() == 7);
  auto c = test::RequireOk((*j)->open_cursor(6, Filter::all()));
  auto e = test::RequireOk(c->next());
  REQUIRE(e->has_value());
  CHECK((*e)->txn_id == t);
  TXJ_CHECK_OK((*j)->close());
  auto walk = test::RequireOk(WalkJournal(f.dir()));
  CHECK(!walk->damaged());
}

TEST_CASE("without the gap flag, or with bytes in the gap, what follows a gap is a crash tail and is cut") {
  for (int variant = 0; variant < 2; ++variant) {
    CAPTURE(variant);
    Forger f;
    const std::uint64_t gap_at = f.next_offset();
    f.SkipToPage(/*flag=*/variant == 1);
    const std::uint64_t t = f.BeginNext();
    f.Event(t);
    f.Commit(t, 6, 1);
    if (variant == 1) {  // a stray byte inside the gap (past where a header would be)
      std::fstream out(f.file(), std::ios::in | std::ios::out | std::ios::binary);
      out.seekp(static_cast<std::streamoff>(fmt::PageUp(gap_at) - 1));
      out.put('\x01');
    }
    auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
    INFO((*j)->recovery_report().ToString());
    REQUIRE((*j)->recovery_report().repairs.size() == 1);
    CHECK((*j)->recovery_report().repairs[0].file_offset == gap_at);
    CHECK((*j)->next_offset() == 6);
  }
}

TEST_CASE("a gap of any length before a record that is not taken is where recovery cuts the tail, keeping what came before") {
  // Below 32 bytes the header read at the gap runs into the next page and
  // meets the record there (without the gap flag: a crash's leftover): the
  // reason differs ("torn record" instead of zeroed bytes), the cut not.
  for (std::uint64_t gap : {64u, 8u, 16u, 24u}) {
    CAPTURE(gap);
    Forger f;
    const std::uint64_t t = f.BeginNext();
    const std::uint64_t commit_len = fmt::AlignUp(fmt::kRecordHeaderSize + sizeof(fmt::CommitBody));
    const std::uint64_t min_event = fmt::AlignUp(fmt::kRecordHeaderSize + sizeof(fmt::EventBody) + 3);
    std::uint64_t room = fmt::PageUp(f.next_offset()) - f.next_offset();
    if (room < commit_len + gap + min_event) room += fmt::kPageSize;
    f.EventOfLength(t, room - commit_len - gap);
    f.Commit(t, 6, 1);
    const std::uint64_t gap_at = f.next_offset();
    REQUIRE(fmt::PageUp(gap_at) - gap_at == gap);
    f.SkipToPage(/*flag=*/false);
    const std::uint64_t after = f.BeginNext();
    f.Event(after);
    f.Commit(after, 7, 1);
    auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
    const RecoveryReport& r = (*j)->recovery_report();
    INFO(r.ToString());
    CHECK((*j)->next_offset() == 7);  // the transaction before the gap stays
    REQUIRE(r.repairs.size() == 1);
    CHECK(r.repairs[0].file_offset == gap_at);
    CHECK(r.repairs[0].bytes_dropped > 0);
    TXJ_CHECK_OK((*j)->close());
    auto again = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
    CHECK((*again)->recovery_report().repairs.empty());
    CHECK((*again)->next_offset() == 7);
  }
}

TEST_CASE("a record that ends closer to its segment's end than a segment-end marker needs is corruption naming file and offset") {
  // Found by the recovery fuzzer: 24 bytes left after a verified commit were
  // judged a torn header with nothing to drop, "repaired" at every open.
  for (std::uint64_t left : {8u, 24u}) {
    CAPTURE(left);
    Forger f;
    const std::uint64_t t = f.BeginNext();
    const std::uint64_t commit_len = fmt::AlignUp(fmt::kRecordHeaderSize + sizeof(fmt::CommitBody));
    const std::uint64_t segment_end = test::SmallOptions().segment_size;  // as a byte offset of the file
    f.EventOfLength(t, segment_end - left - commit_len - f.next_offset());
    const std::uint64_t at = f.Commit(t, 6, 1) + commit_len;
    REQUIRE(at == segment_end - left);
    ExpectRefused(f, at, "a segment without room for its segment-end marker");
  }
}

TEST_CASE("a record flagged as following a gap that does not start a page is corruption naming file and offset") {
  Forger f;
  const std::uint64_t t = f.BeginNext();
  f.SetNextFlags(fmt::kFlagFollowsGap);
  const auto at = f.Event(t);
  REQUIRE(at % fmt::kPageSize != 0);
  f.Commit(t, 6, 1);
  ExpectRefused(f, at, "a gap flag inside a page");
}

TEST_CASE("records of an older writer session after newer ones are stale bytes, cut as a crash tail, never read") {
  // What a crash can leave: an earlier session wrote further than the
  // last one did before it was killed. Epochs never go back along the log.
  Forger f;
  REQUIRE(f.epoch() > 1);
  const std::uint64_t t = f.last_txn() + 1;
  const auto at = f.Add(static_cast<std::uint8_t>(RecordType::kBegin), t, 0, 0, Forger::Bytes(fmt::BeginBody{1}),
                        f.epoch() - 1);
  auto j = test::RequireOk(Journal::open(f.dir(), test::SmallOptions(Durability::kCommit)));
  INFO((*j)->recovery_report().ToString());
  REQUIRE((*j)->recovery_report().repairs.size() == 1);
  CHECK((*j)->recovery_report().repairs[0].file == f.file());
  CHECK((*j)->recovery_report().repairs[0].file_offset == at);
  CHECK((*j)->next_offset() == 6);
}

TEST_CASE("a transaction left open inside a segment's reserved end is refused by a writable open, never a hang") {
  Forger f;
  const std::uint64_t txn = f.last_txn() + 1;
  f.Begin(txn);
  // One event whose record ends 40 bytes before the segment's end: inside
  // the room a writer keeps for a rollback marker and the segment-end
  // marker, where no writer of this library puts a transaction's records.
  const std::uint64_t segment_size = 64 * 1024;
  const std::uint64_t record = segment_size - 40 - f.next_offset();
  fmt::EventBody b{};
  b.timestamp_ns = 1;
  b.topic_length = 1;
  b.type_length = 1;
  b.payload_length = static_cast<std::uint32_t>(record - fmt::kRecordHeaderSize - sizeof b - 2);
  f.Add(static_cast<std::uint8_t>(RecordType::kEvent), txn, 0, 0,
        Forger::Bytes(b) + "te" + std::string(b.payload_length, 'p'));
  const auto before = Snapshot(f.dir());
  auto j = Journal::open(f.dir(), test::SmallOptions(Durability::kCommit));
  REQUIRE(!j.ok());
  INFO("open: ", j.status().ToString());
  CHECK(j.status().code() == Code::kCorruption);
  CHECK(j.status().message().find("left open at the tail of " + f.file()) != std::string::npos);
  // A reader still reads every committed event (the open one is not).
  Options ro;
  ro.read_only = true;
  auto r = test::RequireOk(Journal::open(f.dir(), ro));
  auto c = test::RequireOk((*r)->open_cursor(0));
  int events = 0;
  for (;;) {
    auto e = test::RequireOk(c->next());
    if (!e->has_value()) break;
    ++events;
  }
  CHECK(events == 6);
}
