// journal-mirror: follow a journal replicated to NATS JetStream and rebuild
// it in DIR (see include/txjournal/replication.h).
//
// Exit status: 0 stopped by SIGINT/SIGTERM (or --once done); 1 the stream
// holds another journal, or a gap; 2 usage; 3 cannot open DIR or reach
// NATS (with --once), or built without NATS.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <stop_token>
#include <thread>

#include "txjournal/journal.h"
#include "txjournal/replication.h"

namespace {
std::stop_source g_stop;
void OnSignal(int) { g_stop.request_stop(); }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Rebuild a txjournal journal in DIR from its JetStream stream, transaction by transaction, with the "
               "source's offsets. Resumes where it stopped.\nExit status: 0 stopped by a signal (or --once done); "
               "1 another journal's stream, or a gap; 2 usage; 3 cannot open DIR or reach NATS."};
  std::string dir;
  txj::ReplicationOptions ro;
  std::vector<std::string> servers;
  bool once = false;
  app.add_option("dir", dir, "local journal directory (created if missing)")->required();
  app.add_option("--server", servers, "NATS server URL (repeatable)");
  app.add_option("--stream", ro.stream, "JetStream stream")->capture_default_str();
  app.add_option("--prefix", ro.subject_prefix, "subject prefix")->capture_default_str();
  app.add_flag("--once", once, "apply what the stream holds now, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!servers.empty()) ro.servers = servers;
  auto j = txj::Journal::open(dir);
  if (!j.ok()) {
    std::fprintf(stderr, "journal-mirror: %s\n", j.status().ToString().c_str());
    return 3;
  }
  auto m = txj::Mirror::open(**j, ro);
  if (!m.ok()) {
    std::fprintf(stderr, "journal-mirror: %s\n", m.status().ToString().c_str());
    return 3;
  }
  if (once) {
    auto n = (*m)->apply_available();
    if (!n.ok()) {
      std::fprintf(stderr, "journal-mirror: %s\n", n.status().ToString().c_str());
      return n.status().code() == txj::Code::kInvalidArgument || n.status().IsCorruption() ? 1 : 3;
    }
    std::printf("{\"applied_transactions\":%llu,\"next_offset\":%llu}\n", static_cast<unsigned long long>(*n),
                static_cast<unsigned long long>((*j)->next_offset()));
    return 0;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  txj::Status s = (*m)->run(g_stop.get_token());
  if (s.code() == txj::Code::kCancelled) return 0;
  std::fprintf(stderr, "journal-mirror: %s\n", s.ToString().c_str());
  return 1;
}
