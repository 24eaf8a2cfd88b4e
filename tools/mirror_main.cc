// journal-mirror: follow a journal replicated to NATS JetStream and rebuild
// it in DIR (see include/txjournal/replication.h).
//
// Before anything is created it connects to the server and looks the stream
// up. Connecting follows a bounded policy: --connect-attempts attempts
// (default 10; 1 with --once), waiting --retry-wait-ms between them (default
// 1000 ms, doubled after each failure up to 30 s), each failure reported on
// stderr; the same policy applies when the server is lost while following
// (a success starts the count again).
//
// The mirror applies the stream in batches (one per --batch messages at
// most) and writes its journal under --durability: "batch" (the default)
// commits the batch's transactions without a sync each and syncs once at the
// end of the batch, before the position is saved; "commit" syncs every
// transaction as it commits.
//
// Exit status: 0 stopped by SIGINT/SIGTERM (or --once done); 1 the stream
// holds another journal, or a gap; 2 usage; 3 cannot open DIR, the server
// cannot be reached within the policy, the stream does not exist, or built
// without NATS; 4 the result line could not be written.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <thread>

#include "cli_parse.h"
#include "tool_util.h"
#include "txjournal/journal.h"
#include "txjournal/replication.h"

#ifdef TXJ_TOOL_NATS
#include <nats/nats.h>
#endif

namespace {

using json = nlohmann::ordered_json;
volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// Sleeps `ms`, waking early when a signal asks to stop.
[[maybe_unused]] void Nap(std::uint64_t ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!g_stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::uint64_t>(ms, 10)));
  }
}

struct Policy {
  std::uint64_t attempts = 10;
  std::uint64_t wait_ms = 1000;
  static constexpr std::uint64_t kMaxWaitMs = 30000;
  std::uint64_t WaitAfter(std::uint64_t failures) const {  // failures >= 1
    std::uint64_t w = wait_ms;
    for (std::uint64_t i = 1; i < failures && w < kMaxWaitMs; ++i) w *= 2;
    return std::min(w, kMaxWaitMs);
  }
};

enum class Probe { kFound, kUnreachable, kNoStream, kError };

#ifdef TXJ_TOOL_NATS
// One attempt: connect (no reconnection) and look the stream up.
Probe ProbeStream(const txj::ReplicationOptions& ro, std::string* why) {
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  std::vector<const char*> urls;
  for (const auto& s : ro.servers) urls.push_back(s.c_str());
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, false);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, ro.request_timeout.count());
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  if (opts) natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    *why = std::string("cannot reach NATS at ") + (urls.empty() ? "" : urls[0]) +
           (urls.size() > 1 ? " (and the other servers given)" : "") + ": " + natsStatus_GetText(s);
    return s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_CONNECTION_CLOSED || s == NATS_IO_ERROR
               ? Probe::kUnreachable
               : Probe::kError;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = ro.request_timeout.count();
  Probe result = Probe::kFound;
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s == NATS_OK) {
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&si, js, ro.stream.c_str(), nullptr, &jerr);
    if (si) jsStreamInfo_Destroy(si);
    if (s != NATS_OK) {
      if (jerr == JSStreamNotFoundErr) {
        *why = "stream " + ro.stream + " does not exist on " + urls[0];
        result = Probe::kNoStream;
      } else {
        *why = "cannot look up stream " + ro.stream + " on " + urls[0] + ": " + natsStatus_GetText(s) +
               (jerr ? " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")" : std::string());
        result = s == NATS_TIMEOUT ? Probe::kUnreachable : Probe::kError;
      }
    }
    jsCtx_Destroy(js);
  } else {
    *why = std::string("JetStream unavailable on ") + urls[0] + ": " + natsStatus_GetText(s);
    result = Probe::kError;
  }
  natsConnection_Destroy(nc);
  return result;
}
#endif

// What the command line asked for.
struct Args : txj::tools::NatsToolArgs {
  std::string durability = "batch";
  Policy policy;
  bool once = false;
};

// Parses and checks the command line; an exit status when the program
// must stop (usage, --help, --version).
std::optional<int> ParseArgs(int argc, char** argv, Args* a) {
  std::string attempts_s, wait_s, batch_s;  // checked after parsing
  txj::tools::CommandLine app{
      "Rebuild a txjournal journal in DIR from its JetStream stream, transaction by transaction, with the "
      "source's offsets. Resumes where it stopped. Nothing is created before the stream is found. "
      "Connecting is tried --connect-attempts times (default 10, 1 with --once), waiting --retry-wait-ms "
      "(default 1000, doubled after each failure up to 30000) between attempts, each failure reported; "
      "the same holds when the server is lost while following. "
      "Transactions are applied in batches of up to --batch messages; --durability batch (the default) "
      "syncs the journal once per batch (a group commit), before the batch's position is saved; "
      "--durability commit syncs each transaction as it commits. Either way a crash loses nothing that "
      "the saved position claims (what is lost is applied again from the stream).\n"
      "Exit status: 0 stopped by a signal (or --once done); 1 another journal's stream, or a gap; "
      "2 usage; 3 cannot open DIR, reach NATS or find the stream; 4 the result line could not be written.",
      "journal-mirror"};
  txj::tools::AddNatsToolOptions(app, "local journal directory (created once the stream is found)", a);
  app.option("--durability", a->durability, "batch: one sync per batch (default); commit: one sync per transaction")
      .one_of({"batch", "commit"})
      .show_default();
  const auto batch_opt = app.option("--batch", batch_s, "messages per batch, at most (1 to 65536, default 256)");
  app.flag("--once", a->once, "apply what the stream holds now, then exit");
  const auto attempts_opt = app.option("--connect-attempts", attempts_s, "attempts to reach the server (1 to 1000000)");
  const auto wait_opt = app.option("--retry-wait-ms", wait_s, "first wait between attempts, in ms (1 to 30000)");
  if (auto exit = txj::tools::ParseMainArgs(app, argc, argv, "journal-mirror")) return *exit;
  auto usage = [](const std::string& e) { return txj::tools::UsageExit("journal-mirror", e); };
  if (a->once) a->policy.attempts = 1;
  if (attempts_opt.given()) {
    if (auto e = txj::tools::ParseU64("--connect-attempts", attempts_s, 1, 1000000, &a->policy.attempts)) return usage(*e);
  }
  if (wait_opt.given()) {
    if (auto e = txj::tools::ParseU64("--retry-wait-ms", wait_s, 1, Policy::kMaxWaitMs, &a->policy.wait_ms)) {
      return usage(*e);
    }
  }
  if (batch_opt.given()) {
    std::uint64_t b = 0;
    if (auto e = txj::tools::ParseU64("--batch", batch_s, 1, 65536, &b)) return usage(*e);
    a->ro.mirror_batch = b;
  }
  if (auto e = txj::tools::TakeServers(a)) return usage(*e);
  return std::nullopt;
}

#ifdef TXJ_TOOL_NATS
// Waits for the stream, before anything is created; an exit status when
// it cannot be found.
std::optional<int> WaitForStream(const Args& a) {
  for (std::uint64_t attempt = 1;; ++attempt) {
    std::string why;
    const Probe p = ProbeStream(a.ro, &why);
    if (p == Probe::kFound) return std::nullopt;
    if (p == Probe::kNoStream || p == Probe::kError || attempt >= a.policy.attempts || g_stop) {
      std::cerr << "journal-mirror: " << why;
      if (p == Probe::kUnreachable) std::cerr << " (" << attempt << " of " << a.policy.attempts << " attempts)";
      std::cerr << "; nothing was created in " << a.dir << "\n";
      return 3;
    }
    const std::uint64_t w = a.policy.WaitAfter(attempt);
    std::cerr << "journal-mirror: " << why << "; retrying in " << w << " ms (attempt " << attempt << " of "
              << a.policy.attempts << ")\n";
    Nap(w);
  }
}

// Applies the stream until stopped (or once); an exit status on failure.
std::optional<int> Follow(const Args& a, txj::Mirror& m, std::uint64_t* applied) {
  std::uint64_t failures = 0;
  while (!g_stop) {
    auto n = m.apply_available();
    if (!n.ok()) {
      const txj::Status& s = n.status();
      if (s.code() == txj::Code::kInvalidArgument || s.IsCorruption()) {
        std::cerr << "journal-mirror: " << s.ToString() << "\n";
        return 1;
      }
      ++failures;
      if (failures >= a.policy.attempts) {
        std::cerr << "journal-mirror: " << s.ToString() << " (" << failures << " of " << a.policy.attempts
                  << " attempts); giving up, the journal holds what was applied\n";
        return 3;
      }
      const std::uint64_t w = a.policy.WaitAfter(failures);
      std::cerr << "journal-mirror: " << s.ToString() << "; retrying in " << w << " ms (attempt " << failures
                << " of " << a.policy.attempts << ")\n";
      Nap(w);
      continue;
    }
    if (failures > 0) std::cerr << "journal-mirror: reached the stream again\n";
    failures = 0;
    *applied += *n;
    if (a.once) break;
    if (*n == 0) Nap(20);
  }
  return std::nullopt;
}
#endif

int Run(int argc, char** argv) {
  Args a;
  if (auto exit = ParseArgs(argc, argv, &a)) return *exit;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
#ifndef TXJ_TOOL_NATS
  std::cerr << "journal-mirror: built without NATS support (libnats-dev was not found): nothing was created\n";
  return 3;
#else
  // 1. The stream, before anything is created.
  if (auto exit = WaitForStream(a)) return *exit;
  if (g_stop) return 0;
  // 2. The local journal, and what the stream holds.
  txj::Options jo;
  jo.durability = a.durability == "commit" ? txj::Durability::kCommit : txj::Durability::kNone;
  auto j = txj::Journal::open(a.dir, jo);
  if (!j.ok()) {
    std::cerr << "journal-mirror: " << j.status().ToString() << "\n";
    return 3;
  }
  auto m = txj::Mirror::open(**j, a.ro);
  if (!m.ok()) {
    std::cerr << "journal-mirror: " << m.status().ToString() << "\n";
    return 3;
  }
  std::uint64_t applied = 0;
  if (auto exit = Follow(a, **m, &applied)) return *exit;
  std::cout << json{{"applied_transactions", applied}, {"next_offset", (*j)->next_offset()}}.dump() << "\n";
  txj::Status c = (*j)->close();
  if (!c.ok()) {
    std::cerr << "journal-mirror: " << c.ToString() << "\n";
    return 3;
  }
  return 0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  return txj::tools::RunAsMain(argc, argv, "journal-mirror", Run);
}
