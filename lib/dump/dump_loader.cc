// The reading half of the dump format (include/txjournal/dump.h): JSON lines
// read (json_line.h: nlohmann's SAX parser, no tree) and applied to a
// journal through its public API and import.h.
#include <nlohmann/json.hpp>

#include <variant>
#include <vector>

#include "base64.h"
#include "format.h"
#include "json_line.h"
#include "txjournal/dump.h"
#include "txjournal/import.h"
#include "txjournal/transaction.h"

namespace txj {

static_assert(kMinSegmentSize == format::kMinSegmentSize && kMaxSegmentSize == format::kMaxSegmentSize,
              "dump.h states the segment size limits of format.h");

namespace {

using internal::JsonLine;

std::string Num(std::uint64_t v) { return std::to_string(v); }

bool Blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

// Why a line cannot be applied: the input's fault (a malformed line, a copy
// that cannot be reproduced) or the journal's (it refused).
struct Fault {
  std::string why;
  bool input;
  Code code = Code::kInvalidArgument;  // the journal's code when !input
};
Fault Input(std::string why) { return {std::move(why), true}; }
// A status the journal returned: the input's fault when the journal found
// the values unusable (kInvalidArgument), else the journal's.
Fault FromStatus(const Status& s) { return {s.ToString(), s.code() == Code::kInvalidArgument, s.code()}; }
Fault Journals(const Status& s) { return {s.ToString(), false, s.code()}; }
Fault Unfaithful(const std::string& why) { return Input("the copy cannot be reproduced faithfully: " + why); }

// Reads "<name>" (UTF-8 text) or "<name>_b64" (any bytes) from `o`: `out`
// views the line's text or, decoded, `decoded`.
std::optional<Fault> GetBytes(const JsonLine& o, const std::string& name, std::optional<std::string_view>* out,
                              std::optional<std::string>* decoded) {
  if (const JsonLine::Value* v = o.Get(name)) {
    if (v->kind != JsonLine::Kind::kString) return Input("\"" + name + "\" must be a string");
    *out = v->text;
  } else if (const JsonLine::Value* b = o.Get(name + "_b64")) {
    if (b->kind != JsonLine::Kind::kString) return Input("\"" + name + "_b64\" must be a string");
    *decoded = internal::Base64Decode(b->text);
    if (!*decoded) return Input("\"" + name + "_b64\" is not valid base64");
    *out = **decoded;
  }
  return std::nullopt;
}

// A non-negative integer field: absent gives `def` (a fault when required);
// `what` prefixes the fault ("snapshot ", ...).
std::optional<Fault> GetU64(const JsonLine& o, const char* name, std::optional<std::uint64_t> def, std::uint64_t* out,
                            const std::string& what = {}) {
  const JsonLine::Value* v = o.Get(name);
  if (v == nullptr) {
    if (def) {
      *out = *def;
      return std::nullopt;
    }
    return Input(what + "needs \"" + name + "\"");
  }
  if (v->kind != JsonLine::Kind::kUnsigned) return Input(what + "\"" + name + "\" must be a non-negative integer");
  *out = v->number;
  return std::nullopt;
}

// The text of a member known to be a string (IsString).
const std::string& Text(const JsonLine& o, std::string_view name) { return o.Get(name)->text; }

}  // namespace

JsonlHeader ParseJsonlHeader(std::string_view first_line) {
  JsonlHeader h;
  JsonLine o;
  if (o.Read(first_line)) return h;  // reported by JsonlLoader::apply with its line number
  h.copy = o.is_object() && o.IsString("op") && Text(o, "op") == "journal";
  if (h.copy && o.IsUnsigned("segment_size")) {
    const std::uint64_t v = o.Get("segment_size")->number;
    if (v >= kMinSegmentSize && v <= kMaxSegmentSize && v % 4096 == 0) h.segment_size = v;
  }
  return h;
}

std::string JsonlAppliedLine(const JsonlApplied& a) {
  using ordered = nlohmann::ordered_json;
  switch (a.kind) {
    case JsonlApplied::Kind::kCommit:
      return ordered{{"committed", a.txn_id}, {"first_offset", a.first_offset}, {"count", a.count}, {"lsn", a.lsn}}
          .dump();
    case JsonlApplied::Kind::kGap:
      return ordered{{"gap", true}, {"first_offset", a.first_offset}, {"count", a.count}, {"last_txn_id", a.last_txn_id}}
          .dump();
    case JsonlApplied::Kind::kNothing: break;
  }
  return {};
}

struct JsonlLoader::Impl {
  Journal& j;
  bool copy;
  std::vector<Transaction> stack;  // innermost last
  bool seen_line = false;          // a line with content was applied
  bool ended = false;              // a copy's end line was applied
  bool done = false;               // an error ended the load
  std::uint64_t retention = 0;     // a copy's retention offset, applied at its end
  JsonLine read;                   // the line being applied (reused)

  using Step = std::variant<JsonlApplied, Fault>;

  // The open transaction rolled back: children roll back as they go.
  void Abandon() {
    while (stack.size() > 1) stack.pop_back();
    if (!stack.empty()) (void)stack.back().rollback();
    stack.clear();
  }

  Status Fail(std::uint64_t line, const Fault& f) {
    std::string msg = "line " + Num(line) + ": " + f.why;
    if (!stack.empty()) msg += " (open transaction rolled back)";
    Abandon();
    done = true;
    if (f.input) return Status::InvalidArgument(std::move(msg));
    // The journal's code; kInvalidArgument means the input's fault to the
    // caller, so the journal's own is reported as kInvalidState.
    return f.code == Code::kInvalidArgument ? Status::InvalidState(std::move(msg)) : WithCode(f.code, std::move(msg));
  }

  static Status WithCode(Code code, std::string msg) {
    switch (code) {
      case Code::kInvalidState: return Status::InvalidState(std::move(msg));
      case Code::kNotFound: return Status::NotFound(std::move(msg));
      case Code::kCorruption: return Status::Corruption(std::move(msg));
      case Code::kTruncated: return Status::Truncated(std::move(msg));
      case Code::kClosed: return Status::Closed(std::move(msg));
      case Code::kBusy: return Status::Busy(std::move(msg));
      case Code::kTimedOut: return Status::TimedOut(std::move(msg));
      case Code::kCancelled: return Status::Cancelled(std::move(msg));
      case Code::kNoSpace: return Status::NoSpace(std::move(msg));
      case Code::kNotSupported: return Status::NotSupported(std::move(msg));
      case Code::kFailed: return Status::Failed(std::move(msg));
      default: return Status::IOError(std::move(msg));
    }
  }

  Step Header(const JsonLine& op) {
    if (seen_line) return Input("\"journal\" header after the first line");
    std::uint64_t version = 0;
    if (auto f = GetU64(op, "version", std::nullopt, &version)) return *f;
    if (version != 1) return Input("copy format version " + Num(version) + " (this journal-load reads 1)");
    return JsonlApplied{};
  }

  Step Gap(const JsonLine& op) {
    std::uint64_t events = 0, last_txn = 0;
    if (auto f = GetU64(op, "events", 0, &events)) return *f;
    if (auto f = GetU64(op, "last_txn_id", 0, &last_txn)) return *f;
    if (events == 0 && last_txn == 0) return JsonlApplied{};  // fills a page: nothing to keep taken
    if (!stack.empty()) {
      if (Status s = ImportInnerGap(j, events); !s.ok()) return FromStatus(s);
      return JsonlApplied{};
    }
    JsonlApplied a;
    a.kind = JsonlApplied::Kind::kGap;
    a.first_offset = j.next_offset();
    a.count = events;
    a.last_txn_id = last_txn;
    if (Status s = ImportGap(j, events, last_txn); !s.ok()) return FromStatus(s);
    return a;  // reported like a commit: these offsets are taken now
  }

  Step Begin(const JsonLine& op) {
    if (copy && stack.empty()) {
      std::uint64_t txn = 0;
      if (auto f = GetU64(op, "txn", std::nullopt, &txn, "begin of a copy ")) return *f;
      if (Status s = ImportNextTxnId(j, txn); !s.ok()) {
        return s.code() == Code::kInvalidArgument ? Unfaithful(s.message()) : Journals(s);
      }
    }
    auto tx = stack.empty() ? j.begin() : stack.back().begin();
    if (!tx.ok()) return FromStatus(tx.status());
    stack.push_back(std::move(tx).value());
    return JsonlApplied{};
  }

  Step Append(const JsonLine& op) {
    if (stack.empty()) return Input("event outside a transaction");
    if (!op.IsString("topic")) return Input("event needs a string \"topic\"");
    const JsonLine::Value* type = op.Get("type");
    if (type != nullptr && type->kind != JsonLine::Kind::kString) return Input("\"type\" must be a string");
    std::optional<std::string_view> key, data;
    std::optional<std::string> key_bytes, data_bytes;
    if (auto f = GetBytes(op, "key", &key, &key_bytes)) return *f;
    if (auto f = GetBytes(op, "data", &data, &data_bytes)) return *f;
    AppendOptions ao;
    if (key) ao.key = *key;
    if (const JsonLine::Value* ts = op.Get("ts")) {
      if (ts->kind != JsonLine::Kind::kUnsigned) return Input("\"ts\" must be a non-negative integer");
      ao.timestamp_ns = ts->number;
    }
    Status s = stack.back().append(Text(op, "topic"), type != nullptr ? std::string_view(type->text) : std::string_view(),
                                   data.value_or(std::string_view()), ao);
    if (!s.ok()) return FromStatus(s);
    return JsonlApplied{};
  }

  // A copy's top-level commit must claim the offsets it had in the source.
  std::optional<Fault> CheckCopyCommit(const JsonLine& op) {
    std::uint64_t first_offset = 0, count = 0;
    if (auto f = GetU64(op, "first_offset", std::nullopt, &first_offset, "commit of a copy ")) return f;
    if (auto f = GetU64(op, "count", std::nullopt, &count, "commit of a copy ")) return f;
    auto open = ImportOpenTransaction(j);
    if (!open.ok()) return Journals(open.status());
    if (open->first_offset != first_offset || open->events != count) {
      return Unfaithful("transaction " + Num(open->txn_id) + " would get offsets " + Num(open->first_offset) + "+" +
                        Num(open->events) + " but has " + Num(first_offset) + "+" + Num(count) + " in the source");
    }
    return std::nullopt;
  }

  Step Commit(const JsonLine& op) {
    if (stack.empty()) return Input("commit with no open transaction");
    if (copy && stack.size() == 1) {
      if (auto f = CheckCopyCommit(op)) return *f;
    }
    auto info = stack.back().commit();
    if (!info.ok()) return Journals(info.status());
    stack.pop_back();
    if (!stack.empty()) return JsonlApplied{};
    JsonlApplied a;
    a.kind = JsonlApplied::Kind::kCommit;
    a.txn_id = info->txn_id;
    a.first_offset = info->first_offset;
    a.count = info->count;
    a.lsn = info->lsn;
    return a;
  }

  Step Rollback() {
    if (stack.empty()) return Input("rollback with no open transaction");
    if (Status s = stack.back().rollback(); !s.ok()) return Journals(s);
    stack.pop_back();
    return JsonlApplied{};
  }

  Step Snapshot(const JsonLine& op) {
    if (!op.IsString("topic") || !op.IsString("compactor") || !op.IsString("state_hash")) {
      return Input("snapshot needs string \"topic\", \"compactor\" and \"state_hash\"");
    }
    std::uint64_t version = 0, covered = 0, events = 0;
    std::optional<std::string_view> state;
    std::optional<std::string> state_bytes;
    if (auto f = GetU64(op, "version", std::nullopt, &version, "snapshot ")) return *f;
    if (auto f = GetU64(op, "covered_offset", std::nullopt, &covered, "snapshot ")) return *f;
    if (auto f = GetU64(op, "events", std::nullopt, &events, "snapshot ")) return *f;
    if (auto f = GetBytes(op, "state", &state, &state_bytes)) return Input("snapshot " + f->why);
    if (!state || version > 0xffffffffu) return Input("snapshot needs \"state_b64\" and a 32-bit \"version\"");
    Status s = ImportSnapshot(j, Text(op, "topic"), Text(op, "compactor"), static_cast<std::uint32_t>(version), covered,
                              events, std::string(*state), Text(op, "state_hash"));
    if (!s.ok()) return s.IsCorruption() ? Input(s.ToString()) : Journals(s);
    return JsonlApplied{};
  }

  Step Compacted(const JsonLine& op) {
    if (!op.IsString("topic")) return Input("compacted needs a string \"topic\"");
    std::uint64_t offset = 0;
    if (auto f = GetU64(op, "offset", std::nullopt, &offset, "compacted ")) return *f;
    if (Status s = ImportCompactedMark(j, Text(op, "topic"), offset); !s.ok()) return Journals(s);
    return JsonlApplied{};
  }

  // A copy's end: it must end where its source did; retention applies now.
  Step End(const JsonLine& op) {
    std::uint64_t next_offset = 0;
    if (auto f = GetU64(op, "next_offset", std::nullopt, &next_offset, "end ")) return *f;
    if (j.next_offset() != next_offset) {
      return Unfaithful("the copy ends at offset " + Num(j.next_offset()) + " but the source at " + Num(next_offset));
    }
    if (retention > 0) {
      if (retention > next_offset) return Unfaithful("retention offset " + Num(retention) + " is past the end");
      if (Status s = j.apply_retention(retention); !s.ok()) return Journals(s);
    }
    ended = true;
    return JsonlApplied{};
  }

  // The ops only a copy has, outside any transaction.
  Step CopyOnly(const std::string& kind, const JsonLine& op) {
    if (!copy) return Input("\"" + kind + "\" outside a copy (no {\"op\":\"journal\"} header line)");
    if (!stack.empty()) return Input("\"" + kind + "\" inside a transaction");
    if (kind == "snapshot") return Snapshot(op);
    if (kind == "compacted") return Compacted(op);
    if (kind == "retention") {
      if (auto f = GetU64(op, "offset", std::nullopt, &retention, "retention ")) return *f;
      return JsonlApplied{};
    }
    return End(op);
  }

  Step Dispatch(const std::string& kind, const JsonLine& op) {
    if (kind == "journal") return Header(op);
    if (kind == "segment_end" || kind == "names") return JsonlApplied{};
    if (kind == "gap" || kind == "padding") return Gap(op);
    if (kind == "begin") return Begin(op);
    if (kind == "event") return Append(op);
    if (kind == "commit") return Commit(op);
    if (kind == "rollback") return Rollback();
    if (kind == "snapshot" || kind == "compacted" || kind == "retention" || kind == "end") return CopyOnly(kind, op);
    return Input("unknown op \"" + kind + "\"");
  }

  Step Parse(std::string_view line) {
    JsonLine& op = read;
    if (auto error = op.Read(line)) return Input("not JSON: " + *error);
    if (!op.is_object() || !op.IsString("op")) {
      return Input("expected an object with a string \"op\"");
    }
    const std::string& kind = Text(op, "op");
    if (ended) return Input("\"" + kind + "\" after the copy's end line");
    Step step = Dispatch(kind, op);
    seen_line = true;
    return step;
  }
};

JsonlLoader::JsonlLoader(Journal& journal, bool copy) : impl_(new Impl{journal, copy}) {}

JsonlLoader::~JsonlLoader() { impl_->Abandon(); }

Result<JsonlApplied> JsonlLoader::apply(std::string_view line, std::uint64_t line_number) {
  if (impl_->done) return Status::InvalidState("line " + Num(line_number) + ": the load already failed");
  if (Blank(line)) return JsonlApplied{};
  Impl::Step step = impl_->Parse(line);
  if (auto* f = std::get_if<Fault>(&step)) return impl_->Fail(line_number, *f);
  return std::get<JsonlApplied>(step);
}

Status JsonlLoader::finish(std::uint64_t line_number) {
  if (impl_->done) return Status::InvalidState("line " + Num(line_number) + ": the load already failed");
  if (!impl_->stack.empty()) return impl_->Fail(line_number, Input("input ended inside a transaction"));
  if (impl_->copy && !impl_->ended) {
    return impl_->Fail(line_number, Input("input ended before the copy's {\"op\":\"end\"} line: the dump is "
                                          "incomplete (cut short, or of a damaged journal)"));
  }
  return Status::OK();
}

Status JsonlLoader::fail(std::uint64_t line_number, const std::string& why) {
  return impl_->Fail(line_number, Input(why));
}

bool JsonlLoader::in_transaction() const { return !impl_->stack.empty(); }

}  // namespace txj
