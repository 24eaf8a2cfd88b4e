// journal-compact: compact a topic with a built-in compactor, or apply
// retention, from the command line. It opens the journal for writing, so
// the journal must not be open for writing by another process (that process
// compacts through the API instead).
//
// Exit status: 0 done; 1 the journal refused (damaged data, I/O error, a
// compactor error); 2 usage error; 3 the journal cannot be opened (missing,
// busy, permissions); 4 the result lines could not be written (the
// compaction or retention itself was done).
#include <nlohmann/json.hpp>

#include <iostream>
#include <limits>
#include <memory>
#include <string>

#include "cli_parse.h"
#include "tool_util.h"
#include "txjournal/journal.h"

namespace {

using json = nlohmann::ordered_json;

json SnapshotJson(const txj::SnapshotInfo& s) {
  return json{{"topic", s.topic},
              {"compactor", s.compactor},
              {"version", s.compactor_version},
              {"covered_offset", s.covered_offset},
              {"events", s.events_folded},
              {"state_hash", s.state_hash},
              {"size", s.size},
              {"file", s.file}};
}

// JSON of strings that may hold any bytes: invalid UTF-8 is replaced, never
// written raw.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int Run(int argc, char** argv) {
  txj::tools::CommandLine app{
      "Compact a topic of a txjournal journal into a snapshot, or drop old history. Prints one JSON line "
      "per result.\n"
      "Exit status: 0 done, 1 the journal refused, 2 usage error, 3 cannot open the journal, 4 the result "
      "lines could not be written (the work itself was done).",
      "journal-compact"};
  std::string dir, topic, compactor = "latest-by-key", tombstone = "tombstone", retain_s;
  app.option("dir", dir, "journal directory").required();
  const auto topic_opt = app.option("--topic", topic, "topic to compact");
  app.option("--compactor", compactor, "built-in compactor: latest-by-key").show_default();
  app.option("--tombstone-type", tombstone, "event type that deletes a key (latest-by-key)").show_default();
  const auto retain_opt = app.option("--retain-from", retain_s, "drop every event below this offset, any topic");
  if (auto exit = txj::tools::ParseMainArgs(app, argc, argv, "journal-compact")) return *exit;
  std::uint64_t retain_from = 0;
  if (retain_opt.given()) {
    if (auto e = txj::tools::ParseU64("--retain-from", retain_s, 0, std::numeric_limits<std::uint64_t>::max(),
                                      &retain_from)) {
      return txj::tools::UsageExit("journal-compact", *e);
    }
  }
  if (!topic_opt.given() && !retain_opt.given())
    return txj::tools::UsageExit("journal-compact", "give --topic and/or --retain-from");
  if (compactor != "latest-by-key") {
    return txj::tools::UsageExit("journal-compact", "unknown compactor " + compactor + " (built-in: latest-by-key)");
  }
  txj::Options options;
  options.create_if_missing = false;
  auto j = txj::Journal::open(dir, options);
  if (!j.ok()) {
    std::cerr << "journal-compact: " << j.status().ToString() << "\n";
    return j.status().IsCorruption() ? 1 : 3;
  }
  auto written = [&](const char* what) {
    if (txj::tools::OutputOk(std::cout, std::cerr, "journal-compact")) return true;
    std::cerr << "journal-compact: " << what << " was done; only its report is missing\n";
    return false;
  };
  if (retain_opt.given()) {
    txj::Status s = (*j)->apply_retention(retain_from);
    if (!s.ok()) {
      std::cerr << "journal-compact: " << s.ToString() << "\n";
      return s.code() == txj::Code::kInvalidArgument ? 2 : 1;
    }
    std::cout << Dump(json{{"retained_from", (*j)->first_offset()}}) << "\n";
    if (!written("retention")) {
      (void)(*j)->close();
      return txj::tools::kWriteErrorExit;
    }
  }
  if (topic_opt.given()) {
    txj::Status s = (*j)->register_compactor(topic, std::make_shared<txj::LatestByKeyCompactor>(tombstone));
    auto snap = s.ok() ? (*j)->compact(topic) : txj::Result<txj::SnapshotInfo>(s);
    if (!snap.ok()) {
      std::cerr << "journal-compact: " << snap.status().ToString() << "\n";
      return 1;
    }
    std::cout << Dump(SnapshotJson(*snap)) << "\n";
    if (!written("the compaction")) {
      (void)(*j)->close();
      return txj::tools::kWriteErrorExit;
    }
  }
  txj::Status c = (*j)->close();
  if (!c.ok()) {
    std::cerr << "journal-compact: " << c.ToString() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return txj::tools::RunAsMain(argc, argv, "journal-compact", Run);
}
