#include "load_tool.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

#include "tool_util.h"
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

}  // namespace

int RunLoad(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Write a txjournal journal from JSON lines: {\"op\":\"begin\"} opens a transaction (nested in the innermost "
      "open one), {\"op\":\"event\",\"topic\":..,\"type\":..,\"key\":..,\"data\":.. or \"data_b64\":..,\"ts\":..} "
      "appends, {\"op\":\"commit\"} / {\"op\":\"rollback\"} end the innermost. Prints one line per top-level "
      "commit. Ops segment_end and padding (from journal-dump --raw) are ignored.\n"
      "Exit status: 0 done; 1 malformed input (the line is named; the open transaction is rolled back); 2 usage "
      "error; 3 the journal refused.",
      "journal-load"};
  std::string dir, file = "-", durability = "commit";
  std::uint64_t segment_size = 64ull << 20;
  app.add_option("dir", dir, "journal directory (created if missing)")->required();
  app.add_option("file", file, "input, - for stdin")->capture_default_str();
  app.add_option("--durability", durability, "none, commit or periodic")
      ->check(CLI::IsMember({"none", "commit", "periodic"}))
      ->capture_default_str();
  app.add_option("--segment-size", segment_size, "segment size for a journal it creates")->capture_default_str();
  std::vector<std::string> argv_s = {"journal-load"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& s : argv_s) argv.push_back(s.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kLoadOk;
  } catch (const CLI::ParseError& e) {
    err << "journal-load: " << e.what() << "\nRun with --help for usage.\n";
    return kLoadUsage;
  }
  std::ifstream fin;
  std::istream* input = &in;
  if (file != "-") {
    fin.open(file);
    if (!fin) {
      err << "journal-load: cannot read " << file << "\n";
      return kLoadUsage;
    }
    input = &fin;
  }
  Options o;
  o.segment_size = segment_size;
  o.durability = durability == "none" ? Durability::kNone : durability == "periodic" ? Durability::kPeriodic
                                                                                     : Durability::kCommit;
  auto opened = Journal::open(dir, o);
  if (!opened.ok()) {
    err << "journal-load: " << opened.status().ToString() << "\n";
    return kLoadJournal;
  }
  Journal& j = **opened;
  std::vector<Transaction> stack;  // innermost last
  auto abandon = [&] {
    while (stack.size() > 1) stack.pop_back();  // children roll back as they go
    if (!stack.empty()) (void)stack.back().rollback();
    stack.clear();
  };
  std::string line;
  std::uint64_t lineno = 0;
  auto fail = [&](const std::string& why, int code) {
    err << "journal-load: line " << lineno << ": " << why;
    if (!stack.empty()) err << " (open transaction rolled back)";
    err << "\n";
    abandon();
    return code;
  };
  while (std::getline(*input, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
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
    if (kind == "segment_end" || kind == "padding") continue;
    if (kind == "begin") {
      auto tx = stack.empty() ? j.begin() : stack.back().begin();
      if (!tx.ok()) return fail(tx.status().ToString(), kLoadJournal);
      stack.push_back(std::move(tx).value());
    } else if (kind == "event") {
      if (stack.empty()) return fail("event outside a transaction", kLoadBadInput);
      if (!op.contains("topic") || !op["topic"].is_string()) return fail("event needs a string \"topic\"", kLoadBadInput);
      if (op.contains("type") && !op["type"].is_string()) return fail("\"type\" must be a string", kLoadBadInput);
      std::optional<std::string> key, data;
      std::string why;
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
      auto info = stack.back().commit();
      if (!info.ok()) return fail(info.status().ToString(), kLoadJournal);
      stack.pop_back();
      if (stack.empty()) {
        out << nlohmann::ordered_json{{"committed", info->txn_id}, {"first_offset", info->first_offset},
                                      {"count", info->count}, {"lsn", info->lsn}}.dump()
            << std::endl;  // flushed as soon as the commit returned
      }
    } else if (kind == "rollback") {
      if (stack.empty()) return fail("rollback with no open transaction", kLoadBadInput);
      Status s = stack.back().rollback();
      if (!s.ok()) return fail(s.ToString(), kLoadJournal);
      stack.pop_back();
    } else {
      return fail("unknown op \"" + kind + "\"", kLoadBadInput);
    }
  }
  if (!stack.empty()) {
    ++lineno;
    return fail("input ended inside a transaction", kLoadBadInput);
  }
  Status c = j.close();
  if (!c.ok()) {
    err << "journal-load: " << c.ToString() << "\n";
    return kLoadJournal;
  }
  return kLoadOk;
}

}  // namespace txj::tools
