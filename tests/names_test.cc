// Format 5: events that name their topic and type by an id a names record
// binds, per segment and writer session (docs/format.md "Names").
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "checksum.h"
#include "format.h"
#include "journal_state.h"
#include "manifest.h"
#include "name_table.h"
#include "record.h"
#include "segment.h"
#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/dump.h"
#include "txjournal/version.h"
#include "txjournal/walk.h"
#include "txn_hash.h"

using namespace txj;
using txj::test::TempDir;

namespace {

struct Want {
  std::string topic, type, payload;
  std::optional<std::string> key;
};

bool Same(const OwnedEvent& e, const Want& w) {
  return e.topic == w.topic && e.type == w.type && e.payload == w.payload && e.key == w.key;
}

// The events from offset `from` on that `f` selects, through next() and
// through next_batch(), checked against the model (want) filtered the same.
void CheckFiltered(Journal& j, const std::vector<Want>& want, std::uint64_t from, const Filter& f) {
  INFO("from offset ", from, ", filter of ", f.topics.size(), " topics and ", f.types.size(), " types");
  auto selects = [&](const Want& w) {
    return (f.topics.empty() || std::find(f.topics.begin(), f.topics.end(), w.topic) != f.topics.end()) &&
           (f.types.empty() || std::find(f.types.begin(), f.types.end(), w.type) != f.types.end());
  };
  std::vector<std::uint64_t> expect;
  for (std::uint64_t o = from; o < want.size(); ++o) {
    if (selects(want[o])) expect.push_back(o);
  }
  auto check = [&](const std::vector<OwnedEvent>& got, const char* how) {
    INFO(how);
    REQUIRE(got.size() == expect.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("event ", i, " at offset ", got[i].offset);
      CHECK(got[i].offset == expect[i]);
      CHECK(Same(got[i], want[expect[i]]));
    }
  };
  check(test::ReadAllEvents(j, from, f), "next()");
  auto c = test::RequireOk(j.open_cursor(from, f));
  std::vector<Event> batch(7);
  std::vector<OwnedEvent> got;
  for (;;) {
    auto n = test::RequireOk(c->next_batch(batch));
    if (*n == 0) break;
    for (std::size_t i = 0; i < *n; ++i) got.push_back(batch[i].to_owned());
  }
  check(got, "next_batch()");
}

// Every event from `from` on through next(), then through next_batch(),
// checked against want[from...] (REQUIREs that reading works).
void CheckFrom(Journal& j, const std::vector<Want>& want, std::uint64_t from) {
  CheckFiltered(j, want, from, Filter::all());
}

// The walk's view: no problems, and how many names records and events
// named by id it passed.
struct WalkCounts {
  std::uint64_t names = 0, by_id = 0, inline_names = 0;
};
WalkCounts Walk(const std::string& dir) {
  WalkCounts n;
  auto report = WalkJournal(dir, [&](const RawRecord& r) {
    if (r.type == RecordType::kNames) ++n.names;
    if (r.type == RecordType::kEvent) {
      ++(r.name_ref ? n.by_id : n.inline_names);
      CHECK(!r.topic.empty());
    }
  });
  REQUIRE(report.ok());
  for (const auto& p : report->problems) INFO(p.file, " byte ", p.file_offset, ": ", p.message);
  CHECK(report->problems.empty());
  if (!report->problems.empty()) MESSAGE(report->problems.front().message);
  return n;
}

}  // namespace

TEST_CASE("events named by id read back as written across rolls, reopenings, rollbacks and many names") {
  const std::uint64_t seed = test::Seed();
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  // More pairs than the writer remembers (ValidatedNames::kSlots), names of
  // every length up to 255 bytes.
  std::vector<std::pair<std::string, std::string>> pairs;
  for (int i = 0; i < 40; ++i) {
    std::string topic = "t" + std::to_string(i);
    topic.resize(std::max<std::size_t>(topic.size(), i == 0 ? 255 : rng() % 30), 'x');
    pairs.emplace_back(topic, i % 3 == 0 ? std::string() : "type" + std::to_string(i % 5));
  }
  std::vector<Want> want;
  Options o = test::SmallOptions();
  auto j = test::OpenOrDie(dir.path(), o);
  const int rounds = test::Scaled(300);
  for (int round = 0; round < rounds; ++round) {
    auto tx = test::RequireOk(j->begin());
    std::vector<Want> pending;
    bool too_large = false;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      // Mostly a few hot pairs, sometimes any of them.
      const auto& [topic, type] = pairs[rng() % 4 == 0 ? rng() % pairs.size() : rng() % 3];
      // Now and then a payload so large the names record and the event fit
      // in no segment together: the names go inline.
      const std::size_t size = rng() % 50 == 0 ? 64 * 1024 - 4096 - 400 + rng() % 300 : rng() % 300;
      Want w{topic, type, std::string(size, static_cast<char>('a' + rng() % 26)), std::nullopt};
      if (rng() % 5 == 0) w.key = "k" + std::to_string(rng() % 100);
      if (rng() % 6 == 0) {
        // A sub-transaction that rolls back: the names it bound stay bound.
        auto sub = test::RequireOk(tx->begin());
        const auto& [t2, y2] = pairs[rng() % pairs.size()];
        TXJ_REQUIRE_OK(sub->append(t2, y2, "gone"));
        TXJ_REQUIRE_OK(sub->rollback());
      }
      AppendOptions ao;
      if (w.key) ao.key = *w.key;
      auto a = tx->append(w.topic, w.type, w.payload, ao);
      if (!a.ok()) {
        // Only the largest payloads may be too large for a segment.
        INFO(a.ToString());
        REQUIRE(size > 60000);
        REQUIRE(a.code() == Code::kInvalidArgument);
        too_large = true;
        break;
      }
      pending.push_back(std::move(w));
    }
    if (rng() % 8 == 0 || too_large) {
      TXJ_REQUIRE_OK(tx->rollback());
    } else {
      (void)test::RequireOk(tx->commit());
      want.insert(want.end(), pending.begin(), pending.end());
    }
    if (rng() % 40 == 0) {  // a new writer session goes on in the same tail segment
      TXJ_REQUIRE_OK(j->close());
      j = test::OpenOrDie(dir.path(), o);
    }
  }
  CheckFrom(*j, want, 0);
  // From offsets inside segments: the names bound before them are read from
  // the segment's start.
  for (int k = 0; k < 20 && !want.empty(); ++k) CheckFrom(*j, want, rng() % want.size());
  // Filters match the names found by id. The hot pairs take their ids in
  // a different order in each segment and session, so an answer kept for an
  // id from one segment would be wrong in another.
  const std::vector<Filter> filters = {
      Filter::for_topics({pairs[1].first}), Filter::for_topics({pairs[0].first, pairs[2].first}),
      Filter{false, {}, {"type1", "type2"}}, Filter{false, {pairs[1].first, pairs[4].first}, {"type1"}}};
  for (const Filter& f : filters) CheckFiltered(*j, want, 0, f);
  for (int k = 0; k < 5 && !want.empty(); ++k) CheckFiltered(*j, want, rng() % want.size(), filters[k % 4]);
  TXJ_REQUIRE_OK(j->close());
  const WalkCounts n = Walk(dir.path());
  INFO("names records ", n.names, ", by id ", n.by_id, ", inline ", n.inline_names, ", events ", want.size());
  CHECK(n.names > 40);  // bound again in every segment
  CHECK(n.by_id > n.names);
  CHECK(n.inline_names < n.by_id);
  // A reader of its own (a read-only journal: segments of its own, none
  // written by its process): its cursors at offsets in any order share
  // what each read back.
  auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  for (int k = 0; k < 10 && !want.empty(); ++k) CheckFrom(*ro, want, rng() % want.size());
  CheckFrom(*ro, want, 0);
}

namespace {

// The segment of `j` that holds `lsn`'s shared names table.
const internal::SegmentNames& NamesAt(Journal& j, std::uint64_t lsn) {
  for (const auto& seg : internal::JournalAccess::state(j).segments->All()) {
    if (seg->base() <= lsn && lsn < seg->end()) return seg->names();
  }
  FAIL("no segment holds LSN " << lsn);
  std::abort();
}

}  // namespace

TEST_CASE("a cursor opened inside a segment reads it back once per process, and never for the writer's own session") {
  TempDir dir;
  Options o = test::SmallOptions();
  o.segment_size = 4 << 20;  // one segment
  auto j = test::OpenOrDie(dir.path(), o);
  std::vector<Want> want;
  for (int t = 0; t < 200; ++t) {
    auto tx = test::RequireOk(j->begin());
    for (int k = 0; k < 20; ++k) {
      // Pairs the writer keeps bound (fewer than ValidatedNames::kSlots),
      // and from the 150th transaction on two more.
      const std::string topic = t < 150 ? "topic-" + std::to_string((t + k) % 4) : "late-" + std::to_string(k % 2);
      want.push_back({topic, "e" + std::to_string(k % 3), std::string(40, 'p'), std::nullopt});
      TXJ_REQUIRE_OK(tx->append(want.back().topic, want.back().type, want.back().payload));
    }
    (void)test::RequireOk(tx->commit());
  }
  TXJ_REQUIRE_OK(j->sync());
  const std::uint64_t first = internal::JournalAccess::state(*j).segments->All().front()->first_record_lsn();
  // The writer's process: the writer left every binding of its session.
  CheckFrom(*j, want, 2000);
  CHECK(NamesAt(*j, first).scanned_to() == 0);
  TXJ_REQUIRE_OK(j->close());  // the catalog has the offset index now
  // Another journal object (a reader's segments): the first cursor inside
  // the segment reads it back to its event; one before it reads nothing;
  // one after it, whose event names a pair bound after that, only the part
  // between.
  auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  CheckFrom(*ro, want, 2000);
  const std::uint64_t after_first = NamesAt(*ro, first).scanned_to();
  CHECK(after_first > first);
  CheckFrom(*ro, want, 1000);
  CHECK(NamesAt(*ro, first).scanned_to() == after_first);
  CheckFrom(*ro, want, 3500);
  CHECK(NamesAt(*ro, first).scanned_to() > after_first);
  CHECK(NamesAt(*ro, first).read_back() == NamesAt(*ro, first).scanned_to() - first);
  // A new session of the writer in the same segment: its cursors read the
  // old session's bindings back, once.
  j = test::OpenOrDie(dir.path(), o);
  CheckFrom(*j, want, 2500);
  const std::uint64_t reopened = NamesAt(*j, first).scanned_to();
  CHECK(reopened > first);
  CheckFrom(*j, want, 2400);
  CHECK(NamesAt(*j, first).scanned_to() == reopened);
  CHECK(NamesAt(*j, first).read_back() == reopened - first);
}

TEST_CASE("compaction keeps the names records of transactions it removes when later events name them") {
  TempDir dir;
  Options o = test::SmallOptions();
  auto lbk = std::make_shared<LatestByKeyCompactor>();
  std::vector<std::string> kept;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    // Every third transaction holds only events of the topic compacted
    // below, and binds audit/seen in a sub-transaction it rolls back; the
    // audit events after it in the segment name that binding.
    for (int i = 0; i < 30; ++i) {
      auto tx = test::RequireOk(j->begin());
      TXJ_REQUIRE_OK(tx->append("kv", "put", "v" + std::to_string(i), {.key = "k" + std::to_string(i % 3)}));
      if (i % 3 == 0) {
        auto sub = test::RequireOk(tx->begin());
        TXJ_REQUIRE_OK(sub->append("audit", "seen", "dropped"));
        TXJ_REQUIRE_OK(sub->rollback());
      }
      (void)test::RequireOk(tx->commit());
      if (i % 3 == 1) {
        kept.push_back("kept" + std::to_string(i));
        test::CommitOne(*j, "audit", "seen", kept.back());
      }
    }
    // On to later segments: the first one is sealed at the close.
    for (int i = 0; i < 40; ++i) test::CommitOne(*j, "filler", "blob", std::string(3000, 'f'));
    TXJ_REQUIRE_OK(j->close());
  }
  auto audit_payloads = [](Journal& j) {
    std::vector<std::string> got;
    for (const auto& e : test::ReadAllEvents(j, 0, Filter::for_topics({"audit"}))) got.push_back(e.payload);
    return got;
  };
  auto j = test::OpenOrDie(dir.path(), o);
  TXJ_REQUIRE_OK(j->register_compactor("kv", lbk));
  auto snap = test::RequireOk(j->compact("kv"));
  CHECK(snap->covered_offset > 0);
  CHECK(audit_payloads(*j) == kept);
  const std::string first = dir.sub(internal::SegmentFileName(0));
  TXJ_REQUIRE_OK(j->close());
  (void)Walk(dir.path());
  // The first segment was rewritten: its kv transactions are paddings now.
  std::uint64_t paddings = 0;
  auto report = WalkJournal(dir.path(), [&](const RawRecord& r) {
    if (r.segment == first && r.type == RecordType::kPadding && r.txn_id == 0) ++paddings;
  });
  REQUIRE(report.ok());
  CHECK(paddings > 0);
  auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  CHECK(audit_payloads(*ro) == kept);
}

// A journal a format 4 writer left (tests/data/format4: names inline in
// every event, written by the build before format 5 from
// tests/data/format4.jsonl with journal-load --segment-size 65536; its
// committed events as that build's journal-dump --format jsonl printed
// them in tests/data/format4.events.jsonl).
TEST_CASE("a format 4 journal reads as before, and a format 5 writer goes on in it") {
  TempDir dir;
  namespace fs = std::filesystem;
  const fs::path data(TXJ_TEST_DATA_DIR);
  REQUIRE(fs::exists(data / "format4" / format::kManifestName));
  fs::copy(data / "format4", dir.path(), fs::copy_options::recursive);
  std::vector<std::string> lines;
  {
    std::ifstream in(data / "format4.events.jsonl");
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  REQUIRE(lines.size() == 1513);
  auto version = [&] {
    std::uint32_t v = 0;
    const std::string b = test::ReadFile(dir.sub(format::kManifestName));
    REQUIRE(b.size() == format::kManifestSize);
    std::memcpy(&v, b.data() + offsetof(format::Manifest, format_version), sizeof v);
    return v;
  };
  CHECK(version() == 4);
  const WalkCounts before = Walk(dir.path());
  CHECK(before.names == 0);
  CHECK(before.by_id == 0);
  auto same_as_before = [&](Journal& j) {
    auto all = test::ReadAllEvents(j);
    REQUIRE(all.size() >= lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const OwnedEvent& e = all[i];
      CHECK(JsonlEventLine(Event{e.offset, e.txn_id, e.timestamp_ns, 0, e.topic, e.type,
                                 e.key ? std::optional<std::string_view>(*e.key) : std::nullopt, e.payload}) ==
            lines[i]);
    }
    return all;
  };
  {
    auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
    (void)same_as_before(*ro);
  }
  Options o = test::SmallOptions();
  {
    auto j = test::OpenOrDie(dir.path(), o);
    (void)same_as_before(*j);
    for (int i = 0; i < 5; ++i) test::CommitOne(*j, "orders", "created", "new" + std::to_string(i));
    TXJ_REQUIRE_OK(j->close());
  }
  CHECK(version() == kFormatVersion);
  const WalkCounts after = Walk(dir.path());
  CHECK(after.inline_names == before.inline_names);
  CHECK(after.names == 1);
  CHECK(after.by_id == 5);
  auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  auto all = same_as_before(*ro);
  REQUIRE(all.size() == lines.size() + 5);
  CHECK(all.back().payload == "new4");
  CHECK(all.back().topic == "orders");
  CHECK(all.back().type == "created");
}

TEST_CASE("a segment's shared names keep an id's first binding, where it was bound again, and what readers read") {
  internal::SegmentNames names;
  using Found = internal::SegmentNames::Found;
  std::map<std::uint16_t, std::string> got;
  auto copy = [&](std::uint32_t epoch, std::uint64_t lsn) {
    got.clear();
    return names.Copy(epoch, lsn, [&](std::uint16_t id, const internal::SegmentNames::Binding& b) {
      got[id] = b.topic + "/" + b.type + (b.rebound_lsn != 0 ? " rebound at " + std::to_string(b.rebound_lsn) : "");
    });
  };
  CHECK(copy(3, 5000) == 0);  // nothing read yet
  CHECK(got.empty());
  // A read of [4096, 8192): session 3 binds ids 0 and 1, session 4 id 0.
  names.AddScanned(4096, 4096, 8192,
                   {Found{3, 0, 4200, "a", "x"}, Found{3, 1, 6000, "b", "y"}, Found{4, 0, 7000, "c", ""}});
  CHECK(names.scanned_to() == 8192);
  CHECK(copy(3, 5000) == 5000);  // id 1 is bound after 5000
  CHECK(got == std::map<std::uint16_t, std::string>{{0, "a/x"}});
  CHECK(copy(3, 9000) == 8192);  // what was read ends at 8192
  CHECK(got.size() == 2);
  // A read that does not continue what is here is not kept (a hole).
  names.AddScanned(4096, 9000, 10000, {Found{3, 2, 9500, "d", "z"}});
  CHECK(names.scanned_to() == 8192);
  // One that does: the same id bound again to the same names is no news,
  // to others is kept as where it was rebound.
  names.AddScanned(4096, 8192, 12288, {Found{3, 0, 9000, "a", "x"}, Found{3, 1, 11000, "b", "other"}});
  CHECK(names.scanned_to() == 12288);
  CHECK(copy(3, 12288) == 12288);
  CHECK(got == std::map<std::uint16_t, std::string>{{0, "a/x"}, {1, "b/y rebound at 11000"}});
  CHECK(names.read_back() == (8192 - 4096) + (10000 - 9000) + (12288 - 8192));
  // The writer's session: every binding is here, whatever was read.
  names.AddWritten(7, 0, "w", "v", 20000);
  CHECK(copy(7, 1 << 30) == (1 << 30));
  CHECK(got == std::map<std::uint16_t, std::string>{{0, "w/v"}});
  CHECK(copy(4, 1 << 30) == 12288);
}

TEST_CASE(
    "an event naming an id no names record binds is corruption to every reader, naming its segment, byte and id") {
  TempDir dir;
  auto j = test::OpenOrDie(dir.path(), test::SmallOptions());
  for (int t = 0; t < 4; ++t) {
    auto tx = test::RequireOk(j->begin());
    for (int k = 0; k < 3; ++k)
      TXJ_REQUIRE_OK(tx->append(k % 2 ? "alpha" : "beta", "e", "payload " + std::to_string(t)));
    (void)test::RequireOk(tx->commit());
  }
  TXJ_REQUIRE_OK(j->sync());
  // The second event of the third transaction (named by id), its begin
  // and commit markers.
  std::string seg;
  std::uint64_t event = 0, event_lsn = 0, begin = 0, commit = 0;
  TXJ_REQUIRE_OK(WalkJournal(dir.path(), [&](const RawRecord& r) {
    if (r.txn_id != 3) return;
    if (r.type == RecordType::kBegin) begin = r.file_offset;
    if (r.type == RecordType::kCommit) commit = r.file_offset;
    if (r.type == RecordType::kEvent && r.name_ref && event == 0 && r.payload == "payload 2" && begin != 0 &&
        r.file_offset > begin + 64) {
      seg = std::string(r.segment);
      event = r.file_offset;
      event_lsn = r.lsn;
    }
  }));
  REQUIRE(event != 0);
  REQUIRE(commit > event);
  internal::ManifestData m;
  TXJ_REQUIRE_OK(internal::ReadManifest(*DefaultFileSystem(), dir.path(), &m));
  // Id 77 instead, with the record's checksum and the transaction's hash
  // made to match: nothing but the id is wrong.
  std::string bytes = test::ReadFile(seg);
  auto* p = reinterpret_cast<std::uint8_t*>(bytes.data());
  format::RecordHeader h;
  std::memcpy(&h, p + event, sizeof h);
  REQUIRE((h.flags & format::kFlagNameRef) != 0);
  p[event + sizeof h + offsetof(format::EventBody, topic_length)] = 77;
  p[event + sizeof h + offsetof(format::EventBody, type_length)] = 0;
  const std::uint64_t sum = internal::RecordChecksum(p + event, h.length, m.salt(), event_lsn);
  std::memcpy(p + event, &sum, sizeof sum);
  format::RecordHeader ch;
  std::memcpy(&ch, p + commit, sizeof ch);
  format::CommitBody cb;
  std::memcpy(&cb, p + commit + sizeof ch, sizeof cb);
  cb.running_hash = internal::TxnHashOf(p + begin, commit - begin);
  std::memcpy(p + commit + sizeof ch, &cb, sizeof cb);
  const std::uint64_t csum = internal::RecordChecksum(p + commit, ch.length, m.salt(), event_lsn - event + commit);
  std::memcpy(p + commit, &csum, sizeof csum);
  {
    std::ofstream out(seg, std::ios::binary | std::ios::in | std::ios::out);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
  // The place once: the reader adds it to what the names table says.
  const std::string where = ", in " + seg + " at byte " + std::to_string(event) + " (LSN ";
  auto count = [](const std::string& text, const std::string& part) {
    int n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
  };
  auto check = [&](Journal& journal, const std::string& who) {
    INFO(who);
    auto c = test::RequireOk(journal.open_cursor(0));
    int read = 0;
    const Status last = test::FirstReadError(*c, [&](const Event&) { ++read; });
    CHECK(read == 6);  // the first two transactions
    CHECK(last.code() == Code::kCorruption);
    CHECK(last.ToString().find("event names its topic and type by id 77") != std::string::npos);
    CHECK(last.ToString().find(where) != std::string::npos);
    CHECK(count(last.ToString(), seg) == 1);
    MESSAGE(who, ": ", last.ToString());
  };
  // The writer's process: its session's names are all in the segment's
  // shared table, and 77 is not among them.
  check(*j, "the writer's journal");
  TXJ_REQUIRE_OK(j->close());
  auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  check(*ro, "a read-only journal");
  auto report = WalkJournal(dir.path(), [](const RawRecord&) {});
  REQUIRE(report.ok());
  bool named = false;
  for (const auto& pr : report->problems) named = named || pr.message.find("id 77") != std::string::npos;
  CHECK(named);
}

TEST_CASE(
    "the four-word decoder of an event named by id accepts exactly the records the general decoder accepts as one") {
  // DecodeTopRefEvent (the cursor's fast path) against DecodeEventInline
  // plus the header values it stands for, over valid records with bytes
  // of the header and fixed body changed, lengths and room of every size
  // around the record's, and expectations that match or not (200 000
  // records, TXJ_TEST_SCALE percent of them).
  const std::uint64_t seed = test::Seed() ^ 0x70d;
  INFO("seed ", seed);
  std::mt19937_64 rng(seed);
  constexpr std::uint64_t kSalt = 0x1234, kLsn = 4096;
  std::map<std::string, int> seen;
  const int iterations = test::Scaled(200000);
  for (int iter = 0; iter < iterations; ++iter) {
    const std::uint32_t payload = static_cast<std::uint32_t>(rng() % 300);
    const std::uint64_t txn = 1 + rng() % 5;
    const std::uint32_t epoch = static_cast<std::uint32_t>(1 + rng() % 3);
    std::vector<std::uint8_t> rec(48 + payload + 64);
    format::RecordHeader h{0, 48 + payload, static_cast<std::uint8_t>(RecordType::kEvent), format::kFlagNameRef, 0, txn,
                           0, epoch};
    format::EventBody b{1000 + static_cast<std::uint64_t>(iter), payload, 0, static_cast<std::uint8_t>(rng() % 4),
                        static_cast<std::uint8_t>(rng() % 2)};
    std::memcpy(rec.data(), &h, sizeof h);
    std::memcpy(rec.data() + sizeof h, &b, sizeof b);
    // Changes: none, or one to three bytes of bytes 8-47 (set to a small
    // value, a bit flipped or random), so that every field is hit both
    // with a plausible and an arbitrary value.
    const int changes = static_cast<int>(rng() % 4);
    for (int c = 0; c < changes; ++c) {
      const std::size_t at = 8 + rng() % 40;
      switch (rng() % 3) {
        case 0:
          rec[at] = static_cast<std::uint8_t>(rng() % 4);
          break;
        case 1:
          rec[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
          break;
        default:
          rec[at] = static_cast<std::uint8_t>(rng());
      }
    }
    const std::uint64_t avail = rng() % 2 ? rec.size() : rng() % (rec.size() + 1);
    const std::uint64_t want_txn = rng() % 8 ? txn : txn + 1;
    const std::uint32_t want_epoch = rng() % 8 ? epoch : epoch + 1;
    format::RecordHeader gh;
    format::EventBody gb;
    const bool general = internal::DecodeEventInline<false>(rec.data(), avail, kLsn, kSalt, &gh, &gb) &&
                         gh.flags == format::kFlagNameRef && gh.txn_id == want_txn && gh.sub_id == 0 && gh.depth == 0 &&
                         gh.epoch == want_epoch;
    std::uint32_t len = 0;
    std::uint64_t ts = 0;
    std::uint16_t id = 0;
    const bool fast = internal::DecodeTopRefEvent(rec.data(), avail, want_txn, want_epoch, &len, &ts, &id);
    INFO("iteration ", iter, ", ", changes, " bytes changed, avail ", avail);
    REQUIRE(fast == general);
    seen[fast ? (changes ? "accepted, changed" : "accepted") : (changes ? "refused, changed" : "refused")]++;
    if (fast) {
      REQUIRE(len == gh.length);
      REQUIRE(ts == gb.timestamp_ns);
      REQUIRE(id == format::NameRefId(gb));
    }
  }
  for (const auto& [what, n] : seen) MESSAGE(what, ": ", n);
  // Both answers, with and without changed bytes (a changed byte the
  // record still decodes with: the timestamp, the id, a payload length
  // that still fits).
  CHECK(seen.size() == 4);
}

TEST_CASE(
    "the names read back before an event take whole transactions by their hash, and a damaged record before "
    "it is corruption naming its byte") {
  TempDir dir;
  Options o = test::SmallOptions();
  o.segment_size = 4 << 20;  // one segment
  std::vector<Want> want;
  {
    auto j = test::OpenOrDie(dir.path(), o);
    for (int t = 0; t < 200; ++t) {
      auto tx = test::RequireOk(j->begin());
      for (int k = 0; k < 10; ++k) {
        // The pairs are bound in the first transaction; the later events
        // name them by id.
        want.push_back({"topic-" + std::to_string(k % 3), "e", "payload " + std::to_string(t * 10 + k), std::nullopt});
        TXJ_REQUIRE_OK(tx->append(want.back().topic, want.back().type, want.back().payload));
      }
      (void)test::RequireOk(tx->commit());
    }
    TXJ_REQUIRE_OK(j->close());
  }
  // The event of offset 1500 and one of the tenth transaction.
  std::string seg;
  RawRecord late;
  std::uint64_t event = 0;
  TXJ_REQUIRE_OK(WalkJournal(dir.path(), [&](const RawRecord& r) {
    if (r.type != RecordType::kEvent) return;
    if (r.payload == "payload 95") {
      seg = std::string(r.segment);
      event = r.file_offset;
    }
    if (r.payload == "payload 1500") late = r;
  }));
  REQUIRE(event != 0);
  REQUIRE(late.name_ref);
  // What a reader's NameTable finds for it, reading the segment back from
  // its first record.
  auto resolve = [&](Journal& reader, std::string* topic) {
    auto& st = internal::JournalAccess::state(reader);
    internal::NameTable names;
    std::string_view t, y;
    Status s = names.Resolve(st.segments->All().front(), st.salt, late.lsn, late.epoch, late.name_id, &t, &y);
    *topic = std::string(t);
    return s;
  };
  {
    auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
    std::string topic;
    TXJ_REQUIRE_OK(resolve(*ro, &topic));
    CHECK(topic == "topic-0");
    const auto& shared = internal::JournalAccess::state(*ro).segments->All().front()->names();
    CHECK(shared.read_back() > 0);
    CHECK(shared.scanned_to() <= late.lsn);
    CheckFrom(*ro, want, 1500);
  }
  // One byte of the payload of an event of the tenth transaction changed:
  // that transaction's hash fails, its records are read one by one, and the
  // event's checksum names it.
  {
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(event + 48 + 2));  // the payload's third byte
    f.put('X');
    REQUIRE(f.good());
  }
  auto ro = test::OpenOrDie(dir.path(), test::ReadOnlyOptions());
  std::string topic;
  const Status s = resolve(*ro, &topic);
  INFO(s.ToString());
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.ToString().find("cannot find the event's names: checksum mismatch at byte " + std::to_string(event) +
                          " before it") != std::string::npos);
}
