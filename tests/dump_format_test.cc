// The dump format in the library (include/txjournal/dump.h), through its
// public API only: a copy written from a walk and applied to a new journal
// dumps to the same lines; bad lines are errors naming the line and field.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/dump.h"
#include "txjournal/import.h"
#include "txjournal/inspect.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"

using namespace txj;
using txj::test::TempDir;

namespace {

Options Quick() {
  Options o;
  o.durability = Durability::kNone;
  o.segment_size = 64 * 1024;
  return o;
}

// The copy of the journal in `dir`, as journal-dump --raw --format jsonl
// writes it, one line per element.
std::vector<std::string> CopyOf(const std::string& dir) {
  std::vector<std::string> lines;
  JsonlRecordWriter w(true, [&](const std::string& l) { lines.push_back(l); });
  auto report = WalkJournal(dir, [&](const RawRecord& r) { w.record(r); }, [&](const WalkStart& s) { w.start(s); });
  REQUIRE(report.ok());
  REQUIRE(!report->damaged());
  w.end_of_records();
  SnapshotDirectory snaps = ReadSnapshotDirectory(dir);
  REQUIRE(snaps.errors.empty());
  w.copy_trailer(*report, snaps.files, snaps.marks);
  return lines;
}

// The committed view of `dir` as JSON lines.
std::vector<std::string> CommittedOf(const std::string& dir) {
  Options o;
  o.read_only = true;
  auto j = Journal::open(dir, o);
  REQUIRE(j.ok());
  auto cur = OpenCursorThroughCompaction(**j, 0);
  REQUIRE(cur.ok());
  std::vector<std::string> lines;
  for (;;) {
    auto e = cur->next();
    REQUIRE(e.ok());
    if (!e->has_value()) break;
    lines.push_back(JsonlEventLine(**e));
  }
  return lines;
}

// Applies `lines` to a new journal in `dir`; the status of the first line
// refused (or of finish).
Status LoadInto(const std::string& dir, const std::vector<std::string>& lines) {
  const JsonlHeader h = lines.empty() ? JsonlHeader{} : ParseJsonlHeader(lines.front());
  Options o = Quick();
  if (h.segment_size) o.segment_size = *h.segment_size;
  auto j = Journal::open(dir, o);
  REQUIRE(j.ok());
  {
    JsonlLoader loader(**j, h.copy);
    std::uint64_t n = 0;
    for (const auto& l : lines) {
      auto a = loader.apply(l, ++n);
      if (!a.ok()) return a.status();
    }
    if (Status s = loader.finish(n + 1); !s.ok()) return s;
  }
  return (*j)->close();
}

void Append(Transaction& t, const std::string& topic, const std::string& key, const std::string& data) {
  AppendOptions ao;
  ao.key = key;
  REQUIRE(t.append(topic, "set", data, ao).ok());
}

// A journal with nested transactions, a rollback, bytes that are not UTF-8,
// a compacted topic (snapshot, compaction mark, gaps) and retention.
void WriteSource(const std::string& dir) {
  auto j = Journal::open(dir, Quick());
  REQUIRE(j.ok());
  REQUIRE((*j)->register_compactor("accounts", std::make_shared<LatestByKeyCompactor>()).ok());
  for (int i = 0; i < 20; ++i) {
    auto t = (*j)->begin();
    REQUIRE(t.ok());
    Append(*t, "accounts", "k" + std::to_string(i % 3), "v" + std::to_string(i));
    {
      auto sub = t->begin();
      REQUIRE(sub.ok());
      Append(*sub, "orders", "o" + std::to_string(i), std::string("\x00\xff\n", 3));
      if (i % 4 == 0) {
        REQUIRE(sub->rollback().ok());
      } else {
        REQUIRE(sub->commit().ok());
      }
    }
    REQUIRE(t->commit().ok());
  }
  REQUIRE((*j)->compact("accounts").ok());
  REQUIRE((*j)->apply_retention(3).ok());
  REQUIRE((*j)->close().ok());
}

}  // namespace

TEST_CASE("a copy written by JsonlRecordWriter and applied by JsonlLoader dumps to the same lines") {
  TempDir dir;
  WriteSource(dir.sub("a"));
  const std::vector<std::string> copy = CopyOf(dir.sub("a"));
  REQUIRE(copy.size() > 2);
  CHECK(copy.front().rfind("{\"op\":\"journal\"", 0) == 0);
  CHECK(copy.back().rfind("{\"op\":\"end\"", 0) == 0);
  bool snapshot = false, retention = false;
  for (const auto& l : copy) {
    snapshot = snapshot || l.rfind("{\"op\":\"snapshot\"", 0) == 0;
    retention = retention || l.rfind("{\"op\":\"retention\"", 0) == 0;
  }
  CHECK(snapshot);
  CHECK(retention);
  Status s = LoadInto(dir.sub("b"), copy);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(CopyOf(dir.sub("b")) == copy);
  CHECK(CommittedOf(dir.sub("b")) == CommittedOf(dir.sub("a")));
}

TEST_CASE("a bad line gives a status naming its line number and field, and rolls back the open transaction") {
  TempDir dir;
  auto j = Journal::open(dir.path(), Quick());
  REQUIRE(j.ok());
  JsonlLoader loader(**j, false);
  REQUIRE(loader.apply(R"({"op":"begin"})", 1).ok());
  REQUIRE(loader.apply(R"({"op":"event","topic":"t","data":"x"})", 2).ok());
  REQUIRE(loader.apply("", 3).ok());  // blank: nothing
  CHECK(loader.in_transaction());
  auto bad = loader.apply(R"({"op":"event","topic":"t","ts":-1})", 4);
  REQUIRE(!bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(bad.status().message() ==
        "line 4: \"ts\" must be a non-negative integer (open transaction rolled back)");
  CHECK(!loader.in_transaction());
  CHECK((*j)->next_offset() == 0);
  // The loader is done.
  CHECK(loader.apply(R"({"op":"begin"})", 5).status().code() == Code::kInvalidState);

  JsonlLoader other(**j, false);
  auto b64 = other.apply(R"({"op":"begin"})", 1);
  REQUIRE(b64.ok());
  auto bad64 = other.apply(R"({"op":"event","topic":"t","data_b64":"!!"})", 2);
  REQUIRE(!bad64.ok());
  CHECK(bad64.status().message().find("line 2: \"data_b64\" is not valid base64") == 0);
}

TEST_CASE("a copy without its end line is refused as incomplete, naming the line after the last") {
  TempDir dir;
  WriteSource(dir.sub("a"));
  std::vector<std::string> copy = CopyOf(dir.sub("a"));
  copy.pop_back();
  Status s = LoadInto(dir.sub("b"), copy);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("line " + std::to_string(copy.size() + 1) + ": input ended before the copy's") == 0);
}

TEST_CASE("top-level commits and gaps are reported with their offsets") {
  TempDir dir;
  auto j = Journal::open(dir.path(), Quick());
  REQUIRE(j.ok());
  JsonlLoader loader(**j, false);
  REQUIRE(loader.apply(R"({"op":"gap","events":5,"last_txn_id":2})", 1).ok());
  REQUIRE(loader.apply(R"({"op":"begin"})", 2).ok());
  REQUIRE(loader.apply(R"({"op":"event","topic":"t","data":"x"})", 3).ok());
  auto c = loader.apply(R"({"op":"commit"})", 4);
  REQUIRE(c.ok());
  CHECK(c->kind == JsonlApplied::Kind::kCommit);
  CHECK(c->first_offset == 5);
  CHECK(c->count == 1);
  CHECK(c->txn_id == 3);
  CHECK(JsonlAppliedLine(*c).rfind("{\"committed\":3,\"first_offset\":5,\"count\":1,\"lsn\":", 0) == 0);
  CHECK(loader.finish(5).ok());
}

TEST_CASE("printable text escapes control characters and shows other bytes as base64") {
  CHECK(PrintableText("a\tb\nc\rd\x01") == "a\\tb\\nc\\rd\\x01");
  CHECK(PrintableText(std::string("\xff", 1)) == "base64:/w==");
  CHECK(Base64Encode(std::string("\x00\xff\x01\x02", 4)) == "AP8BAg==");
  CHECK(Base64Decode("AP8BAg==") == std::string("\x00\xff\x01\x02", 4));
  CHECK(!Base64Decode("AP8").has_value());
  CHECK(JsonlKeyValueLine("k", std::string("\xff", 1)) == "{\"key\":\"k\",\"data_b64\":\"/w==\"}");
}
