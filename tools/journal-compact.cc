// journal-compact: compact a topic with a built-in compactor, or apply
// retention, from the command line. It opens the journal for writing, so
// the journal must not be open for writing by another process (that process
// compacts through the API instead).
//
// Exit status: 0 done; 1 the journal refused (damaged data, I/O error, a
// compactor error); 2 usage error; 3 the journal cannot be opened (missing,
// busy, permissions).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "txjournal/journal.h"

namespace {

void PrintSnapshot(const txj::SnapshotInfo& s) {
  std::printf("{\"topic\":\"%s\",\"compactor\":\"%s\",\"version\":%u,\"covered_offset\":%llu,\"events\":%llu,"
              "\"state_hash\":\"%s\",\"size\":%llu,\"file\":\"%s\"}\n",
              s.topic.c_str(), s.compactor.c_str(), s.compactor_version,
              static_cast<unsigned long long>(s.covered_offset), static_cast<unsigned long long>(s.events_folded),
              s.state_hash.c_str(), static_cast<unsigned long long>(s.size), s.file.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Compact a topic of a txjournal journal into a snapshot, or drop old history.\n"
               "Exit status: 0 done, 1 the journal refused, 2 usage error, 3 cannot open the journal."};
  std::string dir, topic, compactor = "latest-by-key", tombstone = "tombstone";
  std::uint64_t retain_from = 0;
  app.add_option("dir", dir, "journal directory")->required();
  auto* topic_opt = app.add_option("--topic", topic, "topic to compact");
  app.add_option("--compactor", compactor, "built-in compactor: latest-by-key")->capture_default_str();
  app.add_option("--tombstone-type", tombstone, "event type that deletes a key (latest-by-key)")->capture_default_str();
  auto* retain_opt = app.add_option("--retain-from", retain_from, "drop every event below this offset, any topic");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!*topic_opt && !*retain_opt) {
    std::fprintf(stderr, "journal-compact: give --topic and/or --retain-from\n");
    return 2;
  }
  if (compactor != "latest-by-key") {
    std::fprintf(stderr, "journal-compact: unknown compactor %s (built-in: latest-by-key)\n", compactor.c_str());
    return 2;
  }
  txj::Options options;
  options.create_if_missing = false;
  auto j = txj::Journal::open(dir, options);
  if (!j.ok()) {
    std::fprintf(stderr, "journal-compact: %s\n", j.status().ToString().c_str());
    return j.status().IsCorruption() ? 1 : 3;
  }
  if (*retain_opt) {
    txj::Status s = (*j)->apply_retention(retain_from);
    if (!s.ok()) {
      std::fprintf(stderr, "journal-compact: %s\n", s.ToString().c_str());
      return s.code() == txj::Code::kInvalidArgument ? 2 : 1;
    }
    std::printf("{\"retained_from\":%llu}\n", static_cast<unsigned long long>((*j)->first_offset()));
  }
  if (*topic_opt) {
    txj::Status s = (*j)->register_compactor(topic, std::make_shared<txj::LatestByKeyCompactor>(tombstone));
    auto snap = s.ok() ? (*j)->compact(topic) : txj::Result<txj::SnapshotInfo>(s);
    if (!snap.ok()) {
      std::fprintf(stderr, "journal-compact: %s\n", snap.status().ToString().c_str());
      return 1;
    }
    PrintSnapshot(*snap);
  }
  txj::Status c = (*j)->close();
  if (!c.ok()) {
    std::fprintf(stderr, "journal-compact: %s\n", c.ToString().c_str());
    return 1;
  }
  return 0;
}
