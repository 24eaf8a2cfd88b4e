// The writing half of the dump format (include/txjournal/dump.h): events,
// records and a copy's header and trailer as JSON lines, and the printable
// text form of a value.
#include <nlohmann/json.hpp>

#include "base64.h"
#include "hex.h"
#include "txjournal/dump.h"
#include "utf8.h"

namespace txj {

namespace {

using json = nlohmann::ordered_json;

// One line: compact, and bytes that are not UTF-8 (which PutData keeps out
// of string fields) replaced rather than thrown about.
std::string Line(const json& o) { return o.dump(-1, ' ', false, json::error_handler_t::replace); }

// "<name>" for UTF-8 text, "<name>_b64" for any other bytes.
void PutData(json& o, std::string_view name, std::string_view bytes) {
  if (internal::IsValidUtf8(bytes)) {
    o[std::string(name)] = std::string(bytes);
  } else {
    o[std::string(name) + "_b64"] = internal::Base64Encode(bytes);
  }
}

std::string_view Op(RecordType t) {
  switch (t) {
    case RecordType::kBegin:
    case RecordType::kSubBegin: return "begin";
    case RecordType::kEvent: return "event";
    case RecordType::kSubCommit:
    case RecordType::kCommit: return "commit";
    case RecordType::kSubRollback:
    case RecordType::kRollback: return "rollback";
    case RecordType::kSegmentEnd: return "segment_end";
    case RecordType::kPadding: return "padding";
    case RecordType::kNames: return "names";
  }
  return "unknown";
}

std::string RecordLine(const RawRecord& r) {
  json o;
  // A padding that keeps offsets or transaction ids taken is a gap; one
  // that only fills a page is kept as "padding" (the loader skips it).
  const bool gap = r.type == RecordType::kPadding && (r.count > 0 || r.last_txn_id > 0);
  o["op"] = gap ? std::string("gap") : std::string(Op(r.type));
  if (r.type == RecordType::kEvent) {
    PutData(o, "topic", r.topic);
    PutData(o, "type", r.type_name);
    if (r.key) PutData(o, "key", *r.key);
    PutData(o, "data", r.payload);
    o["ts"] = r.timestamp_ns;
  }
  if (r.type == RecordType::kPadding) {
    o["events"] = r.count;
    if (r.txn_id == 0) o["last_txn_id"] = r.last_txn_id;
  }
  o["lsn"] = r.lsn;
  o["txn"] = r.txn_id;
  o["sub"] = r.sub_id;
  o["depth"] = r.depth;
  if (r.type == RecordType::kSubBegin) o["parent"] = r.parent_sub_id;
  if (r.type == RecordType::kCommit) {
    o["first_offset"] = r.first_offset;
    o["count"] = r.count;
  }
  return Line(o);
}

}  // namespace

std::string JsonlEventLine(const Event& ev) {
  json o;
  o["offset"] = ev.offset;
  o["txn"] = ev.txn_id;
  PutData(o, "topic", ev.topic);  // a name that is not UTF-8 (damage) as topic_b64, never a throw
  PutData(o, "type", ev.type);
  if (ev.key) PutData(o, "key", *ev.key);
  PutData(o, "data", ev.payload);
  o["ts"] = ev.timestamp_ns;
  return Line(o);
}

std::string JsonlKeyValueLine(std::string_view key, std::string_view value) {
  json o;
  PutData(o, "key", key);
  PutData(o, "data", value);
  return Line(o);
}

std::string PrintableText(std::string_view s) {
  if (!internal::IsValidUtf8(s)) return "base64:" + internal::Base64Encode(s);
  std::string o;
  o.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\t') {
      o += "\\t";
    } else if (c == '\n') {
      o += "\\n";
    } else if (c == '\r') {
      o += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      o += "\\x" + internal::HexEncode(&c, 1);
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

std::string Base64Encode(std::string_view bytes) { return internal::Base64Encode(bytes); }
std::optional<std::string> Base64Decode(std::string_view text) { return internal::Base64Decode(text); }

struct JsonlRecordWriter::Impl {
  bool copy;
  LineSink sink;
  // The transaction open after the records so far (0: none) and the depth
  // of its innermost open level.
  std::uint64_t open_txn = 0;
  std::uint32_t open_depth = 0;

  void Follow(const RawRecord& r) {
    if (r.type == RecordType::kBegin) {
      open_txn = r.txn_id;
      open_depth = 0;
    } else if (r.type == RecordType::kSubBegin) {
      open_depth = r.depth;
    } else if (r.type == RecordType::kCommit || r.type == RecordType::kRollback) {
      open_txn = 0;
    } else if (r.type == RecordType::kSubCommit || r.type == RecordType::kSubRollback) {
      open_depth = r.depth - 1;
    }
  }
};

JsonlRecordWriter::JsonlRecordWriter(bool copy, LineSink sink) : impl_(new Impl{copy, std::move(sink)}) {}
JsonlRecordWriter::~JsonlRecordWriter() = default;

void JsonlRecordWriter::start(const WalkStart& st) {
  if (!impl_->copy) return;
  impl_->sink(Line(json{{"op", "journal"}, {"version", 1}, {"segment_size", st.segment_size}}));
  if (st.first_offset > 0 || st.last_txn_id_before > 0) {
    // What retention (or compaction) removed with the front segments.
    impl_->sink(Line(json{{"op", "gap"}, {"events", st.first_offset}, {"last_txn_id", st.last_txn_id_before}}));
  }
}

void JsonlRecordWriter::record(const RawRecord& r, bool selected) {
  impl_->Follow(r);
  // A names record is how the journal stores the names its events carry in
  // their lines: nothing to load.
  if (selected && r.type != RecordType::kNames) impl_->sink(RecordLine(r));
}

void JsonlRecordWriter::end_of_records() {
  if (impl_->open_txn == 0) return;
  // What the next writable open does to a transaction left open: say it,
  // so that loading this dump gives the same committed events.
  for (std::uint32_t d = impl_->open_depth; d > 0; --d) impl_->sink(Line(json{{"op", "rollback"}, {"recovered", true}}));
  impl_->sink(Line(json{{"op", "rollback"}, {"txn", impl_->open_txn}, {"recovered", true}}));
}

void JsonlRecordWriter::copy_trailer(const WalkReport& report, const std::vector<SnapshotFile>& snapshots,
                                     const std::map<std::string, std::uint64_t>& marks) {
  for (const auto& sn : snapshots) {
    impl_->sink(Line(json{{"op", "snapshot"},
                          {"topic", sn.info.topic},
                          {"compactor", sn.info.compactor},
                          {"version", sn.info.compactor_version},
                          {"covered_offset", sn.info.covered_offset},
                          {"events", sn.info.events_folded},
                          {"state_hash", sn.info.state_hash},
                          {"state_b64", internal::Base64Encode(sn.state)}}));
  }
  for (const auto& [topic, mark] : marks) {
    impl_->sink(Line(json{{"op", "compacted"}, {"topic", topic}, {"offset", mark}}));
  }
  if (report.start.retention_offset > 0) {
    impl_->sink(Line(json{{"op", "retention"}, {"offset", report.start.retention_offset}}));
  }
  // Absent from a dump cut short (or of a damaged journal): the loader
  // then refuses the copy as incomplete.
  impl_->sink(Line(json{{"op", "end"}, {"next_offset", report.next_offset}}));
}

}  // namespace txj
