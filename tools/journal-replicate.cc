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
#include <CLI/CLI.hpp>

#include <chrono>
#include <csignal>
#include <iostream>
#include <stop_token>
#include <thread>

#include "tool_util.h"
#include "txjournal/journal.h"
#include "txjournal/replication.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int Run(int argc, char** argv) {
  CLI::App app{"Publish the committed transactions of the txjournal journal in DIR to a NATS JetStream stream "
               "(created if missing), one message per event, in commit order, from a process of its own: DIR is "
               "opened read-only and followed while its writer commits. Where replication stands is read from "
               "the stream's tail, so it can be stopped or killed at any time and restarted without loss or "
               "duplicate. While the server is unreachable it keeps retrying (the writer is never held up). "
               "Progress and lag go to stderr every --progress-ms.\n"
               "Exit status: 0 stopped by SIGINT or SIGTERM; 1 the stream holds another journal, or the history "
               "it needs next was dropped or is damaged; 2 usage; 3 cannot open DIR, built without NATS, or "
               "another error.",
               "journal-replicate"};
  std::string dir, window_s, progress_s, replicas_s;
  txj::ReplicationOptions ro;
  std::vector<std::string> servers;
  app.add_option("dir", dir, "journal directory (opened read-only)")->required();
  app.add_option("--server", servers, "NATS server URL, e.g. nats://127.0.0.1:4222 (repeatable)")->required();
  app.add_option("--stream", ro.stream, "JetStream stream")->capture_default_str();
  app.add_option("--prefix", ro.subject_prefix, "subject prefix")->capture_default_str();
  auto* replicas_opt = app.add_option("--replicas", replicas_s, "replicas of the stream when it is created (1 to 5, default 1)");
  auto* window_opt = app.add_option("--window", window_s,
                                    "messages published and not yet acknowledged, at most (1 to 1000000, default 4096)");
  auto* progress_opt = app.add_option("--progress-ms", progress_s,
                                      "interval of the progress lines on stderr in ms (0: none; default 1000)");
  app.set_version_flag("--version", txj::tools::VersionText("journal-replicate"),
                       "print the program, library and on-disk format versions and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& v) {
    std::cout << v.what() << "\n";
    return 0;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "journal-replicate: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  std::uint64_t window = ro.publish_window, progress_ms = 1000, replicas = 1;
  if (*window_opt) {
    if (auto e = txj::tools::ParseU64("--window", window_s, 1, 1000000, &window)) {
      std::cerr << "journal-replicate: " << *e << "\n";
      return 2;
    }
  }
  if (*progress_opt) {
    if (auto e = txj::tools::ParseU64("--progress-ms", progress_s, 0, 3600000, &progress_ms)) {
      std::cerr << "journal-replicate: " << *e << "\n";
      return 2;
    }
  }
  if (*replicas_opt) {
    if (auto e = txj::tools::ParseU64("--replicas", replicas_s, 1, 5, &replicas)) {
      std::cerr << "journal-replicate: " << *e << "\n";
      return 2;
    }
  }
  for (const auto& s : servers) {
    if (s.empty()) {
      std::cerr << "journal-replicate: --server: empty URL\n";
      return 2;
    }
  }
  ro.servers = servers;
  ro.publish_window = window;
  ro.replicas = static_cast<int>(replicas);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  txj::Options jo;
  jo.read_only = true;
  jo.create_if_missing = false;
  auto j = txj::Journal::open(dir, jo);
  if (!j.ok()) {
    std::cerr << "journal-replicate: open " << dir << ": " << j.status().ToString() << "\n";
    return 3;
  }
  auto rep = txj::Replicator::open(**j, ro);
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
  auto last = std::chrono::steady_clock::now();
  std::uint64_t last_published = 0;
  while (!g_stop && !done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const auto now = std::chrono::steady_clock::now();
    if (progress_ms == 0 || now - last < std::chrono::milliseconds(progress_ms)) continue;
    const txj::ReplicatorStats st = (*rep)->stats();
    const double secs = std::chrono::duration<double>(now - last).count();
    std::cerr << "journal-replicate: " << dir << " -> " << ro.stream << ": next offset " << st.next_offset
              << ", lag " << st.lag_events << " events (" << st.lag_bytes << " bytes), published " << st.published
              << " (" << static_cast<std::uint64_t>((st.published - last_published) / secs) << "/s), duplicates "
              << st.duplicates << ", retries " << st.retries << "\n";
    last_published = st.published;
    last = now;
  }
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
  txj::tools::GuardStandardDescriptors();
  return txj::tools::FinishStdout(Run(argc, argv), "journal-replicate");
}
