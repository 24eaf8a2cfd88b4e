// The dump format in the library (include/txjournal/dump.h), through its
// public API only: a copy written from a walk and applied to a new journal
// dumps to the same lines; bad lines are errors naming the line and field.
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "json_line.h"
#include "test_util.h"
#include "txjournal/compactor.h"
#include "txjournal/dump.h"
#include "txjournal/import.h"
#include "txjournal/inspect.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"

using namespace txj;
using txj::internal::JsonLine;
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

// A random journal: nested transactions (some rolled back), events with
// and without keys, any bytes as keys and data, explicit timestamps, and
// (by the seed) a compacted topic and retention.
void WriteRandomSource(const std::string& dir, std::mt19937_64& rng) {
  auto j = Journal::open(dir, Quick());
  REQUIRE(j.ok());
  const bool compacted = rng() % 2 == 0;
  if (compacted) REQUIRE((*j)->register_compactor("accounts", std::make_shared<LatestByKeyCompactor>()).ok());
  const std::vector<std::string> topics = {"accounts", "orders", "caf\xc3\xa9", "t/with \"quotes\" and \\\\"};
  auto bytes = [&](std::size_t max) {
    std::string b(rng() % (max + 1), '\0');
    for (auto& c : b) c = static_cast<char>(rng() % 4 == 0 ? 'a' + rng() % 26 : rng() % 256);
    return b;
  };
  auto fill = [&](Transaction& t) {
    for (int n = static_cast<int>(rng() % 4); n > 0; --n) {
      const std::string& topic = topics[rng() % topics.size()];
      const std::string key = bytes(12);
      AppendOptions ao;
      if (topic == "accounts" || rng() % 3 != 0) ao.key = key;  // the compactor keeps the latest by key
      if (rng() % 4 == 0) ao.timestamp_ns = rng() >> 1;
      REQUIRE(t.append(topic, rng() % 2 ? "set" : "", bytes(300), ao).ok());
    }
  };
  for (int i = test::Scaled(40); i > 0; --i) {
    auto t = (*j)->begin();
    REQUIRE(t.ok());
    fill(*t);
    for (int k = static_cast<int>(rng() % 3); k > 0; --k) {
      auto sub = t->begin();
      REQUIRE(sub.ok());
      fill(*sub);
      if (rng() % 3 == 0) {
        REQUIRE(sub->rollback().ok());
      } else {
        REQUIRE(sub->commit().ok());
      }
    }
    if (rng() % 5 == 0) {
      REQUIRE(t->rollback().ok());
    } else {
      REQUIRE(t->commit().ok());
    }
  }
  if (compacted) {
    auto snap = (*j)->compact("accounts");
    INFO(snap.status().ToString());
    REQUIRE(snap.ok());
  }
  if (rng() % 2 == 0 && (*j)->next_offset() > 0) REQUIRE((*j)->apply_retention(rng() % (*j)->next_offset()).ok());
  REQUIRE((*j)->close().ok());
}

JsonLine::Kind KindOf(const nlohmann::json& v) {
  if (v.is_object()) return JsonLine::Kind::kObject;
  if (v.is_array()) return JsonLine::Kind::kArray;
  if (v.is_string()) return JsonLine::Kind::kString;
  if (v.is_boolean()) return JsonLine::Kind::kBool;
  if (v.is_number_unsigned()) return JsonLine::Kind::kUnsigned;
  if (v.is_number_integer()) return JsonLine::Kind::kInteger;
  if (v.is_number_float()) return JsonLine::Kind::kFloat;
  return JsonLine::Kind::kNull;
}

// The names the loader asks for.
const char* const kNames[] = {"op",     "topic",        "type",           "key",      "key_b64",   "data",
                              "data_b64", "ts",         "events",         "last_txn_id", "txn",    "first_offset",
                              "count",  "version",      "segment_size",   "compactor", "state",    "state_b64",
                              "state_hash", "covered_offset", "offset", "next_offset", "a", ""};

// `line` read by `r` gives what json::parse gives: the same error message,
// or the same kinds and values for every name the loader asks for.
void CheckSameAsTree(const std::string& line, JsonLine& r) {
  std::optional<std::string> want_error;
  nlohmann::json tree;
  try {
    tree = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    want_error = e.what();
  }
  INFO("line: ", line);
  const std::optional<std::string> error = r.Read(line);
  REQUIRE(error == want_error);
  if (want_error) return;
  REQUIRE(r.is_object() == tree.is_object());
  if (!tree.is_object()) return;
  for (const auto& [name, v] : tree.items()) {
    const JsonLine::Value* got = r.Get(name);
    INFO("member ", name);
    REQUIRE(got != nullptr);
    CHECK(got->kind == KindOf(v));
    if (v.is_string()) CHECK(got->text == v.get<std::string>());
    if (v.is_number_unsigned()) CHECK(got->number == v.get<std::uint64_t>());
  }
  for (const char* name : kNames) CHECK((r.Get(name) != nullptr) == tree.contains(name));
}

// Pieces the JSON grammar treats specially.
const char* const kPieces[] = {
    "\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\udc00x", "\\u12", "\\x", "\\", "\"", "\x80", "\xc3\xa9", "\xc3",
    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\x01", "\x7f", "1e999", "-1e999", "18446744073709551615",
    "18446744073709551616", "-9223372036854775809", "-0", "0.5", "1E2", "01", "-", "1.", ".5", "[[[[[[[[", "]]]]",
    "{\"a\":{\"b\":[1,2,{\"c\":null}]}}", "true", "fals", "null", ",", ":", "{", "}", "\"op\":\"event\"", "\"op\":1",
    " ", "\t", "\r", "\n", "/*c*/", "\"topic\":[]", ",\"op\":\"commit\"", ",\"ts\":-1", ",\"events\":3"};

// A line near the dump format: a valid one cut, with bytes replaced or
// pieces inserted, or pieces alone.
std::string NearLine(std::mt19937_64& rng, const std::vector<std::string>& valid) {
  auto piece = [&] { return std::string(kPieces[rng() % std::size(kPieces)]); };
  std::string s;
  if (rng() % 8 == 0) {
    for (int n = 1 + static_cast<int>(rng() % 6); n > 0; --n) s += piece();
    return s;
  }
  s = valid[rng() % valid.size()];
  for (int n = static_cast<int>(rng() % 4); n > 0 && !s.empty(); --n) {
    const std::size_t at = rng() % (s.size() + 1);
    switch (rng() % 4) {
      case 0: s.resize(at); break;
      case 1: s.insert(at, piece()); break;
      case 2:
        if (at < s.size()) s[at] = piece()[0];
        break;
      default:
        if (s.size() > 1 && s.back() == '}') s.insert(s.size() - 1, piece());
    }
  }
  return s;
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

TEST_CASE("copies of random journals load through the line reader and dump to the same lines (seed printed)") {
  const std::uint64_t seed = test::Seed();
  MESSAGE("seed ", seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < test::Scaled(6); ++round) {
    INFO("round ", round);
    TempDir dir;
    WriteRandomSource(dir.sub("a"), rng);
    const std::vector<std::string> copy = CopyOf(dir.sub("a"));
    Status s = LoadInto(dir.sub("b"), copy);
    INFO(s.ToString());
    REQUIRE(s.ok());
    CHECK(CopyOf(dir.sub("b")) == copy);
    CHECK(CommittedOf(dir.sub("b")) == CommittedOf(dir.sub("a")));
  }
}

TEST_CASE("the line reader accepts what json::parse accepts, with the same values and error messages (seed printed)") {
  const std::uint64_t seed = test::Seed();
  MESSAGE("seed ", seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  WriteRandomSource(dir.sub("a"), rng);
  std::vector<std::string> valid = CopyOf(dir.sub("a"));
  valid.push_back(R"({"op":"event","topic":"t","type":"x","key":"k","data":"\u00e9\ud83d\ude00\n","ts":5})");
  valid.push_back(R"({"op":"gap","events":2,"last_txn_id":1,"x":{"y":[1,-2,3.5,true,null]}})");
  JsonLine reused;
  for (const auto& l : valid) CheckSameAsTree(l, reused);
  for (int i = 0; i < test::Scaled(20000); ++i) CheckSameAsTree(NearLine(rng, valid), reused);
}

TEST_CASE("malformed lines give errors naming the line and what failed, never a crash") {
  TempDir dir;
  auto j = Journal::open(dir.path(), Quick());
  REQUIRE(j.ok());
  // The message of a line json::parse refuses: its exception's, after "not JSON: ".
  auto tree_error = [](const std::string& line) {
    try {
      const nlohmann::json tree = nlohmann::json::parse(line);
      return "(parsed as " + std::string(tree.type_name()) + ")";
    } catch (const nlohmann::json::exception& e) {
      return std::string(e.what());
    }
  };
  // Each line after an open transaction: the error it gives.
  auto error_of = [&](const std::string& line) {
    JsonlLoader loader(**j, false);
    REQUIRE(loader.apply(R"({"op":"begin"})", 1).ok());
    auto r = loader.apply(line, 2);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    return r.status().message();
  };
  const std::string rolled = " (open transaction rolled back)";
  for (const std::string& line : std::vector<std::string>{
           R"({"op":"event","topic":"t)", R"({"op":"event","topic":"t",)", R"({"op":"event","topic":"\q"})",
        R"({"op":"event","topic":"\ud800"})", "{\"op\":\"event\",\"topic\":\"\xff\"}",
        "{\"op\":\"event\",\"topic\":\"a\x01\"}", R"({"op":"gap","events":1e999})", R"({"op":"begin"} x)",
        R"({"op":"begin"}{})", R"({'op':'begin'})", R"({"op":"begin",})", std::string(100000, '[')}) {
    INFO(line.substr(0, 60));
    const std::string want = "line 2: not JSON: " + tree_error(line) + rolled;
    const bool names_where = want.find("parse error at line 1, column ") != std::string::npos ||
                             want.find("number overflow parsing '1e999'") != std::string::npos;
    CHECK(names_where);
    CHECK(error_of(line) == want);
  }
  CHECK(error_of(R"({"op":"event","topic":5})") == "line 2: event needs a string \"topic\"" + rolled);
  CHECK(error_of(R"({"op":"event","topic":"t","type":[]})") == "line 2: \"type\" must be a string" + rolled);
  CHECK(error_of(R"({"op":"event","topic":"t","data":{}})") == "line 2: \"data\" must be a string" + rolled);
  CHECK(error_of(R"({"op":"event","topic":"t","key_b64":null})") == "line 2: \"key_b64\" must be a string" + rolled);
  CHECK(error_of(R"({"op":"event","topic":"t","ts":1.0})") ==
        "line 2: \"ts\" must be a non-negative integer" + rolled);
  CHECK(error_of(R"({"op":"gap","events":18446744073709551616})") ==
        "line 2: \"events\" must be a non-negative integer" + rolled);
  CHECK(error_of(R"({"op":"gap","events":-0})") == "line 2: \"events\" must be a non-negative integer" + rolled);
  CHECK(error_of(R"([{"op":"begin"}])") == "line 2: expected an object with a string \"op\"" + rolled);
  CHECK(error_of(R"({"op":["begin"]})") == "line 2: expected an object with a string \"op\"" + rolled);
  CHECK(error_of(R"({"op":"nope"})") == "line 2: unknown op \"nope\"" + rolled);
  // Deep nesting the dump format ignores is read without recursion; the last
  // of two members of one name counts, as json::parse keeps it.
  JsonlLoader loader(**j, false);
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  REQUIRE(loader.apply(R"({"op":"begin","x":)" + deep + "}", 1).ok());
  REQUIRE(loader.apply(R"({"op":"commit","op":"event","topic":"t","data":"x","data":"y"})", 2).ok());
  auto c = loader.apply(R"({"op":"begin","op":"commit"})", 3);
  REQUIRE(c.ok());
  CHECK(c->kind == JsonlApplied::Kind::kCommit);
  CHECK(c->count == 1);
  CHECK(loader.finish(4).ok());
  CHECK(ParseJsonlHeader(R"({"op":"journal","segment_size":65536,"version":1})").copy);
  CHECK(ParseJsonlHeader(R"({"op":"journal","segment_size":65536,"version":1})").segment_size == 65536);
  CHECK(!ParseJsonlHeader(R"({"op":"journal","segment_size":65536.0})").segment_size);
  CHECK(!ParseJsonlHeader(R"({"op":"journal",)").copy);
  CHECK(!ParseJsonlHeader(R"(["op","journal"])").copy);
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
