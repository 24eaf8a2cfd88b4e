// journal-replicate: publish a journal's committed transactions to a NATS
// JetStream stream, from a process of its own (see
// include/txjournal/replication.h). The journal is opened read-only: the
// writer goes on in its own process, and this one follows its commits.
//
// Where replication stands is read from the stream's tail at start (and
// after any failure), so it keeps no state of its own: it can be killed at
// any moment and restarted, and the stream neither loses nor repeats an
// event.
//
// Exit status: 0 stopped by SIGINT/SIGTERM; 1 the stream holds another
// journal, or the journal's history the stream needs next was dropped
// (retention, compaction) or is damaged; 2 usage; 3 cannot open DIR, or
// built without NATS, or another error.

#include <atomic>

#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <stop_token>
#include <thread>

#include "cli_parse.h"
#include "tool_util.h"
#include "txjournal/journal.h"
#include "txjournal/replication.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Args : txj::tools::NatsToolArgs {
  std::uint64_t progress_ms = 1000;
};

// Parses and checks the command line; an exit status when the program
// must stop (usage, --help, --version).
std::optional<int> ParseArgs(int argc, char** argv, Args* a) {
  txj::tools::CommandLine app{
      "Publish the committed transactions of the txjournal journal in DIR to a NATS JetStream stream "
      "(created if missing), one message per event, in commit order, from a process of its own: DIR is "
      "opened read-only and followed while its writer commits. Where replication stands is read from "
      "the stream's tail, so it can be stopped or killed at any time and restarted without loss or "
      "duplicate. While the server is unreachable it keeps retrying (the writer is never held up). "
      "Progress and lag go to stderr every --progress-ms.\n"
      "Exit status: 0 stopped by SIGINT or SIGTERM; 1 the stream holds another journal, or the history "
      "it needs next was dropped or is damaged; 2 usage; 3 cannot open DIR, built without NATS, or "
      "another error.",
      "journal-replicate"};
  std::string window_s, progress_s, replicas_s;
  txj::tools::AddNatsToolOptions(app, "journal directory (opened read-only)", a);
  const auto replicas_opt =
      app.option("--replicas", replicas_s, "replicas of the stream when it is created (1 to 5, default 1)");
  const auto window_opt = app.option(
      "--window", window_s, "messages published and not yet acknowledged, at most (1 to 1000000, default 4096)");
  const auto progress_opt =
      app.option("--progress-ms", progress_s, "interval of the progress lines on stderr in ms (0: none; default 1000)");
  if (auto exit = txj::tools::ParseMainArgs(app, argc, argv, "journal-replicate")) return *exit;
  auto usage = [](const std::string& e) { return txj::tools::UsageExit("journal-replicate", e); };
  std::uint64_t window = a->ro.publish_window, replicas = 1;
  if (window_opt.given()) {
    if (auto e = txj::tools::ParseU64("--window", window_s, 1, 1000000, &window)) return usage(*e);
  }
  if (progress_opt.given()) {
    if (auto e = txj::tools::ParseU64("--progress-ms", progress_s, 0, 3600000, &a->progress_ms)) return usage(*e);
  }
  if (replicas_opt.given()) {
    if (auto e = txj::tools::ParseU64("--replicas", replicas_s, 1, 5, &replicas)) return usage(*e);
  }
  if (auto e = txj::tools::TakeServers(a)) return usage(*e);
  a->ro.publish_window = window;
  a->ro.replicas = static_cast<int>(replicas);
  return std::nullopt;
}

// Prints progress every --progress-ms until a signal or the replicator's end.
void Watch(const Args& a, txj::Replicator& rep, const std::atomic<bool>& done) {
  auto last = std::chrono::steady_clock::now();
  std::uint64_t last_published = 0;
  while (!g_stop && !done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const auto now = std::chrono::steady_clock::now();
    if (a.progress_ms == 0 || now - last < std::chrono::milliseconds(a.progress_ms)) continue;
    const txj::ReplicatorStats st = rep.stats();
    const double secs = std::chrono::duration<double>(now - last).count();
    std::cerr << "journal-replicate: " << a.dir << " -> " << a.ro.stream << ": next offset " << st.next_offset
              << ", lag " << st.lag_events << " events (" << st.lag_bytes << " bytes), published " << st.published
              << " (" << static_cast<std::uint64_t>((st.published - last_published) / secs) << "/s), duplicates "
              << st.duplicates << ", retries " << st.retries << "\n";
    last_published = st.published;
    last = now;
  }
}

int Run(int argc, char** argv) {
  Args a;
  if (auto exit = ParseArgs(argc, argv, &a)) return *exit;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  txj::Options jo;
  jo.read_only = true;
  jo.create_if_missing = false;
  auto j = txj::Journal::open(a.dir, jo);
  if (!j.ok()) {
    std::cerr << "journal-replicate: open " << a.dir << ": " << j.status().ToString() << "\n";
    return 3;
  }
  auto rep = txj::Replicator::open(**j, a.ro);
  if (!rep.ok()) {
    std::cerr << "journal-replicate: " << rep.status().ToString() << "\n";
    return 3;
  }
  std::stop_source stop;
  txj::Status result;
  std::atomic<bool> done{false};
  std::thread t([&] {
    result = (*rep)->run(stop.get_token());
    done = true;
  });
  Watch(a, **rep, done);
  stop.request_stop();
  t.join();
  const txj::ReplicatorStats st = (*rep)->stats();
  std::cerr << "journal-replicate: stopped at offset " << st.next_offset << " (" << st.published
            << " messages acknowledged, lag " << st.lag_events << " events)\n";
  if (result.code() == txj::Code::kCancelled) return 0;
  std::cerr << "journal-replicate: " << result.ToString() << "\n";
  if (result.code() == txj::Code::kInvalidArgument || result.code() == txj::Code::kCorruption ||
      result.code() == txj::Code::kTruncated) {
    return 1;
  }
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  return txj::tools::RunAsMain(argc, argv, "journal-replicate", Run);
}
