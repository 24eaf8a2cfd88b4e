#include "load_tool.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "cli_parse.h"
#include "format.h"  // header only (segment size limits)
#include "tool_util.h"
#include "txjournal/import.h"
#include "txjournal/journal.h"

namespace txj::tools {

namespace {

using json = nlohmann::json;

// Reads "<name>" (UTF-8 text) or "<name>_b64" (any bytes) from `o`.
bool GetBytes(const json& o, const std::string& name, std::optional<std::string>* out, std::string* why) {
  if (o.contains(name)) {
    if (!o[name].is_string()) {
      *why = "\"" + name + "\" must be a string";
      return false;
    }
    *out = o[name].get<std::string>();
  } else if (o.contains(name + "_b64")) {
    if (!o[name + "_b64"].is_string()) {
      *why = "\"" + name + "_b64\" must be a string";
      return false;
    }
    auto d = Base64Decode(o[name + "_b64"].get<std::string>());
    if (!d) {
      *why = "\"" + name + "_b64\" is not valid base64";
      return false;
    }
    *out = std::move(*d);
  }
  return true;
}

// A non-negative integer field: absent gives `def` (nullopt when required).
bool GetU64(const json& o, const char* name, std::optional<std::uint64_t> def, std::uint64_t* out, std::string* why) {
  if (!o.contains(name)) {
    if (def) {
      *out = *def;
      return true;
    }
    *why = std::string("needs \"") + name + "\"";
    return false;
  }
  if (!o[name].is_number_unsigned()) {
    *why = std::string("\"") + name + "\" must be a non-negative integer";
    return false;
  }
  *out = o[name].get<std::uint64_t>();
  return true;
}

std::string Num(std::uint64_t v) { return std::to_string(v); }

}  // namespace

int RunLoad(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err,
            const LoadEnv& env) {
  CLI::App app{
      "Write a txjournal journal from JSON lines: {\"op\":\"begin\"} opens a transaction (nested in the innermost "
      "open one), {\"op\":\"event\",\"topic\":..,\"type\":..,\"key\":..,\"data\":.. or \"data_b64\":..,\"ts\":..} "
      "appends, {\"op\":\"commit\"} / {\"op\":\"rollback\"} end the innermost. Prints one line per top-level "
      "commit (and per top-level gap: offsets and transaction ids kept taken).\n"
      "The output of journal-dump --raw --format jsonl (no filter) is a copy: it starts with {\"op\":\"journal\"} "
      "and ends with {\"op\":\"end\"}, and carries the gaps compaction and retention left ({\"op\":\"gap\"}), "
      "snapshots, compaction marks and retention. A copy loads only into a new, empty journal, and gives it the "
      "same offsets, transaction ids, committed events and topic states as the source, or is refused; into a "
      "directory that does not exist yet it is built beside it and renamed into place once complete.\n"
      "Exit status: 0 done; 1 malformed input (the line is named; the open transaction is rolled back), an input "
      "read error, or a copy that cannot be reproduced or is incomplete; 2 usage error (also: input that cannot be "
      "opened, a directory, closed standard input); 3 the journal refused; 4 the commit lines could not be "
      "written.",
      "journal-load"};
  std::string dir, file = "-", durability = "commit", segment_size_s;
  app.add_option("dir", dir, "journal directory (created if missing)")->required();
  app.add_option("file", file, "input, - for stdin")->capture_default_str();
  app.add_option("--durability", durability, "none, commit or periodic")
      ->check(CLI::IsMember({"none", "commit", "periodic"}))
      ->capture_default_str();
  auto* seg_opt = app.add_option("--segment-size", segment_size_s,
                                 "segment size in bytes for a journal it creates: a multiple of 4096 from 65536 to "
                                 "2^40 (default 64 MiB, or the source's for a copy)");
  std::vector<std::string> argv_s = {"journal-load"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& s : argv_s) argv.push_back(s.c_str());
  app.set_version_flag("--version", VersionText("journal-load"),
                       "print the program, library and on-disk format versions and exit");
  if (auto exit = ParseCommandLine(app, static_cast<int>(argv.size()), argv.data(), out, err, "journal-load",
                                   {.ok = kLoadOk, .usage = kLoadUsage, .write_error = kLoadWriteError})) {
    return *exit;
  }
  std::optional<std::uint64_t> segment_size;
  if (*seg_opt) {
    std::uint64_t v = 0;
    auto e = ParseU64("--segment-size", segment_size_s, format::kMinSegmentSize, format::kMaxSegmentSize, &v);
    if (!e && v % 4096 != 0) e = "--segment-size: " + segment_size_s + " is not a multiple of 4096";
    if (e) {
      err << "journal-load: " << *e << "\nRun with --help for usage.\n";
      return kLoadUsage;
    }
    segment_size = v;
  }
  // ---- the input ----
  std::ifstream fin;
  std::istream* input = &in;
  const std::string input_name = file == "-" ? "standard input" : file;
  if (file == "-") {
    if (env.stdin_closed) {
      err << "journal-load: standard input is closed: name an input file, or give the input on standard input\n";
      return kLoadUsage;
    }
  } else {
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) {
      err << "journal-load: cannot read " << file << ": " << std::strerror(errno) << "\n";
      return kLoadUsage;
    }
    if (S_ISDIR(st.st_mode)) {
      err << "journal-load: cannot read " << file << ": it is a directory (the input is a file of JSON lines)\n";
      return kLoadUsage;
    }
    errno = 0;
    fin.open(file);
    if (!fin) {
      err << "journal-load: cannot read " << file << ": " << (errno ? std::strerror(errno) : "open failed") << "\n";
      return kLoadUsage;
    }
    input = &fin;
  }
  std::string line;
  std::uint64_t lineno = 0;
  // The first line with content, read before the journal is opened: a
  // copy's header gives the segment size of the journal it creates.
  std::optional<std::string> pending;
  while (std::getline(*input, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    pending = line;
    break;
  }
  bool copy = false;
  if (pending) {
    try {
      json h = json::parse(*pending);
      copy = h.is_object() && h.contains("op") && h["op"] == "journal";
      if (copy && !segment_size && h.contains("segment_size") && h["segment_size"].is_number_unsigned()) {
        const std::uint64_t v = h["segment_size"].get<std::uint64_t>();
        if (v >= format::kMinSegmentSize && v <= format::kMaxSegmentSize && v % 4096 == 0) segment_size = v;
      }
    } catch (const json::exception&) {
      // reported below with its line number
    }
  }
  // ---- the journal ----
  Options o;
  o.segment_size = segment_size.value_or(64ull << 20);
  o.durability = durability == "none" ? Durability::kNone : durability == "periodic" ? Durability::kPeriodic
                                                                                     : Durability::kCommit;
  // A copy into a directory that does not exist yet is built beside it and
  // renamed into place once complete: a copy refused halfway leaves nothing.
  std::string open_dir = dir;
  bool staging = false;
  if (copy) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    struct stat st;
    const std::string base = d.substr(d.rfind('/') == std::string::npos ? 0 : d.rfind('/') + 1);
    if (::lstat(d.c_str(), &st) != 0 && errno == ENOENT && !base.empty() && base != "." && base != "..") {
      staging = true;
      open_dir = d + ".loading-" + std::to_string(::getpid());
      std::error_code ec;
      std::filesystem::remove_all(open_dir, ec);  // left by a killed load of this pid number
    }
  }
  auto opened = env.open ? env.open(open_dir, o) : Journal::open(open_dir, o);
  if (!opened.ok()) {
    err << "journal-load: " << opened.status().ToString() << "\n";
    if (staging) {
      std::error_code ec;
      std::filesystem::remove_all(open_dir, ec);
    }
    return kLoadJournal;
  }
  Journal& j = **opened;
  // Removes the staging directory unless the copy was renamed into place.
  struct Staging {
    bool active;
    std::string path;
    Result<std::unique_ptr<Journal>>* journal;
    bool kept = false;
    ~Staging() {
      if (!active || kept) return;
      journal->value().reset();  // closed (an open transaction rolled back) before its files go
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } staged{staging, open_dir, &opened};
  if (copy) {
    auto pos = ImportPositionOf(j);
    if (!pos.ok()) {
      err << "journal-load: " << pos.status().ToString() << "\n";
      return kLoadJournal;
    }
    if (!pos->empty) {
      err << "journal-load: the input is a copy of a journal (journal-dump --raw --format jsonl), which loads only "
             "into a new, empty journal, and "
          << dir << " already holds transactions, gaps or snapshots (next offset " << pos->next_offset
          << ", next transaction id " << pos->next_txn_id << "); nothing was loaded\n";
      (void)j.close();
      return kLoadJournal;
    }
  }
  std::vector<Transaction> stack;  // innermost last
  auto abandon = [&] {
    while (stack.size() > 1) stack.pop_back();  // children roll back as they go
    if (!stack.empty()) (void)stack.back().rollback();
    stack.clear();
  };
  auto fail = [&](const std::string& why, int code) {
    err << "journal-load: line " << lineno << ": " << why;
    if (!stack.empty()) err << " (open transaction rolled back)";
    err << "\n";
    abandon();
    if (staging) {
      err << "journal-load: nothing was loaded: " << dir << " was not created\n";
    } else if (copy) {
      err << "journal-load: " << dir << " holds an incomplete copy (what came before line " << lineno
          << "): remove it before loading again\n";
    }
    return code;
  };
  auto unfaithful = [&](const std::string& why) {
    return fail("the copy cannot be reproduced faithfully: " + why, kLoadBadInput);
  };
  bool ended = false;
  std::uint64_t retention = 0;
  for (bool first = true;; first = false) {
    if (first && pending) {
      line = *pending;
    } else {
      if (!std::getline(*input, line)) break;
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    }
    json op;
    try {
      op = json::parse(line);
    } catch (const json::exception& e) {
      return fail(std::string("not JSON: ") + e.what(), kLoadBadInput);
    }
    if (!op.is_object() || !op.contains("op") || !op["op"].is_string()) {
      return fail("expected an object with a string \"op\"", kLoadBadInput);
    }
    const std::string kind = op["op"].get<std::string>();
    if (ended) return fail("\"" + kind + "\" after the copy's end line", kLoadBadInput);
    std::string why;
    if (kind == "journal") {
      if (!first) return fail("\"journal\" header after the first line", kLoadBadInput);
      std::uint64_t version = 0;
      if (!GetU64(op, "version", std::nullopt, &version, &why)) return fail(why, kLoadBadInput);
      if (version != 1) return fail("copy format version " + Num(version) + " (this journal-load reads 1)", kLoadBadInput);
      continue;
    }
    if (kind == "segment_end") continue;
    if (kind == "gap" || kind == "padding") {
      std::uint64_t events = 0, last_txn = 0;
      if (!GetU64(op, "events", 0, &events, &why) || !GetU64(op, "last_txn_id", 0, &last_txn, &why)) {
        return fail(why, kLoadBadInput);
      }
      if (events == 0 && last_txn == 0) continue;  // fills a page: nothing to keep taken
      if (stack.empty()) {
        const std::uint64_t at = j.next_offset();
        Status s = ImportGap(j, events, last_txn);
        if (!s.ok()) return fail(s.ToString(), s.code() == Code::kInvalidArgument ? kLoadBadInput : kLoadJournal);
        // Reported like a commit: these offsets are taken now.
        out << nlohmann::ordered_json{{"gap", true}, {"first_offset", at}, {"count", events},
                                      {"last_txn_id", last_txn}}.dump()
            << std::endl;
        if (!OutputOk(out, err, "journal-load")) {
          err << "journal-load: stopped after line " << lineno
              << (staging ? ": nothing was loaded, " + dir + " was not created\n"
                          : std::string(": the gap is written, and so is everything before it\n"));
          (void)j.close();
          return kLoadWriteError;
        }
      } else {
        Status s = ImportInnerGap(j, events);
        if (!s.ok()) return fail(s.ToString(), s.code() == Code::kInvalidArgument ? kLoadBadInput : kLoadJournal);
      }
    } else if (kind == "begin") {
      if (copy && stack.empty()) {
        std::uint64_t txn = 0;
        if (!GetU64(op, "txn", std::nullopt, &txn, &why)) return fail("begin of a copy " + why, kLoadBadInput);
        if (Status s = ImportNextTxnId(j, txn); !s.ok()) {
          return s.code() == Code::kInvalidArgument ? unfaithful(s.message()) : fail(s.ToString(), kLoadJournal);
        }
      }
      auto tx = stack.empty() ? j.begin() : stack.back().begin();
      if (!tx.ok()) {
        return fail(tx.status().ToString(), tx.status().code() == Code::kInvalidArgument ? kLoadBadInput : kLoadJournal);
      }
      stack.push_back(std::move(tx).value());
    } else if (kind == "event") {
      if (stack.empty()) return fail("event outside a transaction", kLoadBadInput);
      if (!op.contains("topic") || !op["topic"].is_string()) return fail("event needs a string \"topic\"", kLoadBadInput);
      if (op.contains("type") && !op["type"].is_string()) return fail("\"type\" must be a string", kLoadBadInput);
      std::optional<std::string> key, data;
      if (!GetBytes(op, "key", &key, &why) || !GetBytes(op, "data", &data, &why)) return fail(why, kLoadBadInput);
      AppendOptions ao;
      if (key) ao.key = *key;
      if (op.contains("ts")) {
        if (!op["ts"].is_number_unsigned()) return fail("\"ts\" must be a non-negative integer", kLoadBadInput);
        ao.timestamp_ns = op["ts"].get<std::uint64_t>();
      }
      Status s = stack.back().append(op["topic"].get<std::string>(), op.value("type", std::string()),
                                     data.value_or(""), ao);
      if (!s.ok()) return fail(s.ToString(), s.code() == Code::kInvalidArgument ? kLoadBadInput : kLoadJournal);
    } else if (kind == "commit") {
      if (stack.empty()) return fail("commit with no open transaction", kLoadBadInput);
      if (copy && stack.size() == 1) {
        std::uint64_t first_offset = 0, count = 0;
        if (!GetU64(op, "first_offset", std::nullopt, &first_offset, &why) ||
            !GetU64(op, "count", std::nullopt, &count, &why)) {
          return fail("commit of a copy " + why, kLoadBadInput);
        }
        auto open = ImportOpenTransaction(j);
        if (!open.ok()) return fail(open.status().ToString(), kLoadJournal);
        if (open->first_offset != first_offset || open->events != count) {
          return unfaithful("transaction " + Num(open->txn_id) + " would get offsets " + Num(open->first_offset) +
                            "+" + Num(open->events) + " but has " + Num(first_offset) + "+" + Num(count) +
                            " in the source");
        }
      }
      auto info = stack.back().commit();
      if (!info.ok()) return fail(info.status().ToString(), kLoadJournal);
      stack.pop_back();
      if (stack.empty()) {
        out << nlohmann::ordered_json{{"committed", info->txn_id}, {"first_offset", info->first_offset},
                                      {"count", info->count}, {"lsn", info->lsn}}.dump()
            << std::endl;  // flushed as soon as the commit returned
        if (!OutputOk(out, err, "journal-load")) {
          err << "journal-load: stopped after line " << lineno << ": transaction " << info->txn_id
              << (staging ? " was committed to the copy, which was not kept: " + dir + " was not created\n"
                          : std::string(" is committed, and so is everything before it\n"));
          (void)j.close();
          return kLoadWriteError;
        }
      }
    } else if (kind == "rollback") {
      if (stack.empty()) return fail("rollback with no open transaction", kLoadBadInput);
      Status s = stack.back().rollback();
      if (!s.ok()) return fail(s.ToString(), kLoadJournal);
      stack.pop_back();
    } else if (kind == "snapshot" || kind == "compacted" || kind == "retention" || kind == "end") {
      if (!copy) return fail("\"" + kind + "\" outside a copy (no {\"op\":\"journal\"} header line)", kLoadBadInput);
      if (!stack.empty()) return fail("\"" + kind + "\" inside a transaction", kLoadBadInput);
      if (kind == "snapshot") {
        std::uint64_t version = 0, covered = 0, events = 0;
        std::optional<std::string> state;
        if (!op.contains("topic") || !op["topic"].is_string() || !op.contains("compactor") ||
            !op["compactor"].is_string() || !op.contains("state_hash") || !op["state_hash"].is_string()) {
          return fail("snapshot needs string \"topic\", \"compactor\" and \"state_hash\"", kLoadBadInput);
        }
        if (!GetU64(op, "version", std::nullopt, &version, &why) ||
            !GetU64(op, "covered_offset", std::nullopt, &covered, &why) ||
            !GetU64(op, "events", std::nullopt, &events, &why) || !GetBytes(op, "state", &state, &why)) {
          return fail("snapshot " + why, kLoadBadInput);
        }
        if (!state || version > 0xffffffffu) return fail("snapshot needs \"state_b64\" and a 32-bit \"version\"", kLoadBadInput);
        Status s = ImportSnapshot(j, op["topic"].get<std::string>(), op["compactor"].get<std::string>(),
                                            static_cast<std::uint32_t>(version), covered, events, *state,
                                            op["state_hash"].get<std::string>());
        if (!s.ok()) return fail(s.ToString(), s.IsCorruption() ? kLoadBadInput : kLoadJournal);
      } else if (kind == "compacted") {
        std::uint64_t offset = 0;
        if (!op.contains("topic") || !op["topic"].is_string()) return fail("compacted needs a string \"topic\"", kLoadBadInput);
        if (!GetU64(op, "offset", std::nullopt, &offset, &why)) return fail("compacted " + why, kLoadBadInput);
        Status s = ImportCompactedMark(j, op["topic"].get<std::string>(), offset);
        if (!s.ok()) return fail(s.ToString(), kLoadJournal);
      } else if (kind == "retention") {
        if (!GetU64(op, "offset", std::nullopt, &retention, &why)) return fail("retention " + why, kLoadBadInput);
      } else {
        std::uint64_t next_offset = 0;
        if (!GetU64(op, "next_offset", std::nullopt, &next_offset, &why)) return fail("end " + why, kLoadBadInput);
        if (j.next_offset() != next_offset) {
          return unfaithful("the copy ends at offset " + Num(j.next_offset()) + " but the source at " +
                            Num(next_offset));
        }
        if (retention > 0) {
          if (retention > next_offset) return unfaithful("retention offset " + Num(retention) + " is past the end");
          Status s = j.apply_retention(retention);
          if (!s.ok()) return fail(s.ToString(), kLoadJournal);
        }
        ended = true;
      }
    } else {
      return fail("unknown op \"" + kind + "\"", kLoadBadInput);
    }
  }
  if (input->bad() || (!input->eof() && input->fail())) {
    const int e = errno;
    ++lineno;
    return fail("read error on " + input_name + (e ? std::string(": ") + std::strerror(e) : std::string()),
                kLoadBadInput);
  }
  if (!stack.empty()) {
    ++lineno;
    return fail("input ended inside a transaction", kLoadBadInput);
  }
  if (copy && !ended) {
    ++lineno;
    return fail("input ended before the copy's {\"op\":\"end\"} line: the dump is incomplete (cut short, or of a "
                "damaged journal)",
                kLoadBadInput);
  }
  Status c = j.close();
  if (!c.ok()) {
    err << "journal-load: " << c.ToString() << "\n";
    return kLoadJournal;
  }
  if (staging) {
    std::string d = dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (::rename(open_dir.c_str(), d.c_str()) != 0) {
      err << "journal-load: cannot move the complete copy " << open_dir << " to " << d << ": "
          << std::strerror(errno) << "; nothing was loaded\n";
      return kLoadJournal;
    }
    staged.kept = true;
    const std::string parent = d.rfind('/') == std::string::npos ? "." : (d.rfind('/') == 0 ? "/" : d.substr(0, d.rfind('/')));
    const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      err << "journal-load: sync directory " << parent << ": " << std::strerror(errno) << "\n";
      if (fd >= 0) ::close(fd);
      return kLoadJournal;
    }
    ::close(fd);
  }
  return kLoadOk;
}

}  // namespace txj::tools
