// journal-bench's `replication` workload: the replicator and the mirror beside
// the JetStream client's own limits, on one nats-server (JetStream, file
// storage) on loopback, in one run. Anchors: raw asynchronous publish and raw
// synchronous publish of the same messages (same subject shape, the same
// body with txjournal's prefix, the same two headers), and a bare pull
// consumer fetching them in batches of 256. Then the replicator (a journal of N one-event transactions of 100 B to
// the stream), the mirror (that stream into a new journal, one sync per
// batch) and the lag from a commit on the source to its visibility in the
// mirror under a writer paced at 10 k, 50 k and 100 k events/s.
// Skipped with a reason when nats-server or NATS support is missing.
//
// TXJ_BENCH_REPLICATION_PARTS (comma-separated: raw (the three anchors),
// raw_async (that anchor alone), replicator, mirror, lag, ack (with lag: also
// commit -> acknowledged by the stream, polled by one more thread), cluster
// (the selected throughput parts on three nodes); default all) runs only
// some parts, e.g. to profile one of them.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "stats.h"
#include "txjournal/journal.h"
#include "txjournal/replication.h"

#ifdef TXJ_BENCH_NATS
#include <nats/nats.h>

#include "nats_test_server.h"
#include "replication_format.h"
#endif

namespace bench {

using json = nlohmann::ordered_json;

#ifndef TXJ_BENCH_NATS
json Replication(const std::string&, int, double, bool) {
  return {{"skipped", "journal-bench was built without libnats (libnats-dev)"}};
}
#else
namespace {

using Clock = std::chrono::steady_clock;
double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU seconds of this process (all its threads, user and system): what the
// client side pays per event, less sensitive than rates to a loaded machine.
double CpuSecs() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
// Client CPU microseconds per event of the last RawAsync or Replicate run.
double g_cpu_us_per_event = 0;

using txj::natstest::FreePort;
using txj::natstest::NatsNode;
using txj::natstest::NatsServerBinary;

// The replicas of the streams the anchors create (3 on the cluster).
int g_replicas = 1;

// Whether TXJ_BENCH_REPLICATION_PARTS selects `part` (all when unset).
bool Part(const char* part) {
  const char* env = std::getenv("TXJ_BENCH_REPLICATION_PARTS");
  if (!env || !*env) return true;
  const std::string list = "," + std::string(env) + ",";
  return list.find("," + std::string(part) + ",") != std::string::npos;
}

constexpr std::size_t kPayload = 100;
const std::string kJid = "0123456789abcdef0123456789abcdef";

struct Conn : txj::natstest::JsConn {
  using JsConn::JsConn;
  bool AddStream(const std::string& name, const std::string& prefix) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    std::string subj = prefix + ".>";
    const char* subjects[] = {subj.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = g_replicas;
    jsStreamInfo* si = nullptr;
    natsStatus s = js_AddStream(&si, js, &cfg, nullptr, nullptr);
    if (si) jsStreamInfo_Destroy(si);
    return s == NATS_OK;
  }
  void DeleteStream(const std::string& name) { js_DeleteStream(js, name.c_str(), nullptr, nullptr); }
};

// A message as the replicator makes it (format 2): the same subject shape,
// the same body (txjournal's 92-byte prefix, topic, type, payload), the same
// two headers (message id, expected last sequence).
natsMsg* MakeMsg(const std::string& subject, std::uint64_t i, const std::string& payload, std::uint64_t expect) {
  txj::internal::repl::Fields f;
  f.journal = kJid;
  f.txn = i;
  f.first = i;
  f.count = 1;
  f.index = 0;
  f.ts = 1700000000000000000ull;
  f.topic = "orders";
  f.type = "created";
  f.payload = payload;
  thread_local std::string body;
  body.clear();
  txj::internal::repl::Encode(f, &body);
  natsMsg* m = nullptr;
  natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  char id[64], seq[24];
  std::snprintf(id, sizeof id, "%s:%llu", kJid.c_str(), static_cast<unsigned long long>(i));
  std::snprintf(seq, sizeof seq, "%llu", static_cast<unsigned long long>(expect));
  natsMsgHeader_Set(m, "Nats-Msg-Id", id);
  natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", seq);
  return m;
}

// Events per second of raw asynchronous publishes (window 4096).
double RawAsync(const std::string& url, const std::string& stream, const std::string& prefix, std::uint64_t n) {
  Conn c(url, 4096);
  if (!c.js || !c.AddStream(stream, prefix)) return 0;
  const std::string payload(kPayload, 'p'), subject = prefix + ".orders";
  const double cpu0 = CpuSecs();
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    natsMsg* m = MakeMsg(subject, i, payload, i);
    while (js_PublishMsgAsync(c.js, &m, nullptr) == NATS_TIMEOUT) {
    }
    if (m) natsMsg_Destroy(m);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30000;
  if (js_PublishAsyncComplete(c.js, &po) != NATS_OK) return 0;
  g_cpu_us_per_event = (CpuSecs() - cpu0) * 1e6 / static_cast<double>(n);
  return n / Secs(Clock::now() - t0);
}

double RawSync(const std::string& url, const std::string& stream, const std::string& prefix, std::uint64_t n) {
  Conn c(url);
  if (!c.js || !c.AddStream(stream, prefix)) return 0;
  const std::string payload(kPayload, 'p'), subject = prefix + ".orders";
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    natsMsg* m = MakeMsg(subject, i, payload, i);
    jsPubAck* ack = nullptr;
    natsStatus s = js_PublishMsg(&ack, c.js, m, nullptr, nullptr);
    natsMsg_Destroy(m);
    if (ack) jsPubAck_Destroy(ack);
    if (s != NATS_OK) return 0;
  }
  const double r = n / Secs(Clock::now() - t0);
  c.DeleteStream(stream);
  return r;
}

// A bare pull consumer: fetches the `n` messages of `stream` in batches of 256.
double PullFetch(const std::string& url, const std::string& stream, const std::string& prefix, std::uint64_t n) {
  Conn c(url);
  if (!c.js) return 0;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Config.AckPolicy = js_AckNone;
  so.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* sub = nullptr;
  if (js_PullSubscribe(&sub, c.js, (prefix + ".>").c_str(), "bench", nullptr, &so, nullptr) != NATS_OK) return 0;
  std::uint64_t got = 0;
  const auto t0 = Clock::now();
  while (got < n) {
    natsMsgList list{};
    if (natsSubscription_Fetch(&list, sub, 256, 5000, nullptr) != NATS_OK) break;
    got += static_cast<std::uint64_t>(list.Count);
    natsMsgList_Destroy(&list);
  }
  const double r = got == n ? n / Secs(Clock::now() - t0) : 0;
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return r;
}

txj::Options JournalOptions() {
  txj::Options o;
  o.durability = txj::Durability::kNone;
  o.segment_size = 64ull << 20;
  return o;
}

bool WriteEvents(txj::Journal& j, std::uint64_t n) {
  const std::string payload(kPayload, 'p');
  for (std::uint64_t i = 0; i < n; ++i) {
    auto tx = j.begin();
    if (!tx.ok() || !tx->append("orders", "created", payload).ok() || !tx->commit().ok()) return false;
  }
  return true;
}

// Replicator: events per second from start to the last acknowledgement.
double Replicate(txj::Journal& j, const txj::ReplicationOptions& ro, std::uint64_t n) {
  auto rep = txj::Replicator::open(j, ro);
  if (!rep.ok()) return 0;
  {
    Conn c(ro.servers[0]);  // the stream made beforehand, as for the anchors
    if (!c.js || !c.AddStream(ro.stream, ro.subject_prefix)) return 0;
  }
  std::stop_source stop;
  const double cpu0 = CpuSecs();
  const auto t0 = Clock::now();
  std::thread t([&] { (void)(*rep)->run(stop.get_token()); });
  while ((*rep)->stats().next_offset < n && Secs(Clock::now() - t0) < 120) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double secs = Secs(Clock::now() - t0);
  g_cpu_us_per_event = (CpuSecs() - cpu0) * 1e6 / static_cast<double>(n);
  const bool done = (*rep)->stats().next_offset >= n;
  stop.request_stop();
  t.join();
  return done ? n / secs : 0;
}

// Mirror: events per second to apply the stream's `n` events.
double MirrorRate(const std::string& dir, const txj::ReplicationOptions& ro, std::uint64_t n) {
  auto j = txj::Journal::open(dir, JournalOptions());
  if (!j.ok()) return 0;
  auto m = txj::Mirror::open(**j, ro);
  if (!m.ok()) return 0;
  const auto t0 = Clock::now();
  while ((*j)->next_offset() < n && Secs(Clock::now() - t0) < 120) {
    if (!(*m)->apply_available().ok()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double secs = Secs(Clock::now() - t0);
  return (*j)->next_offset() >= n ? n / secs : 0;
}

// Commit on the source -> visible in the mirror, under a paced writer.
json Lag(const std::string& dir, const txj::ReplicationOptions& ro, double rate, double seconds) {
  std::filesystem::create_directories(dir);
  auto src = txj::Journal::open(dir + "/src", JournalOptions());
  auto dst = txj::Journal::open(dir + "/dst", JournalOptions());
  if (!src.ok() || !dst.ok()) return {{"skipped", "cannot open journals under " + dir}};
  const std::uint64_t n = static_cast<std::uint64_t>(rate * seconds);
  std::vector<std::int64_t> committed(n, 0);
  std::vector<double> lag_ms;
  lag_ms.reserve(n);
  auto rep = txj::Replicator::open(**src, ro);
  auto mir = txj::Mirror::open(**dst, ro);
  if (!rep.ok() || !mir.ok()) return {{"skipped", "cannot open the replicator or the mirror"}};
  std::stop_source stop;
  std::thread tr([&] { (void)(*rep)->run(stop.get_token()); });
  std::thread tm([&] { (void)(*mir)->run(stop.get_token()); });
  std::thread reader([&] {
    auto c = (*dst)->open_cursor(0);
    if (!c.ok()) return;
    for (std::uint64_t seen = 0; seen < n;) {
      auto e = c->wait_next(Clock::now() + std::chrono::seconds(30), stop.get_token());
      if (!e.ok()) return;
      const std::int64_t now = Clock::now().time_since_epoch().count();
      if (e->offset < n) lag_ms.push_back((now - committed[e->offset]) / 1e6);
      seen = e->offset + 1;
    }
  });
  // Commit on the source -> acknowledged by the stream (the replicator's
  // part of the lag), polled every millisecond (part `ack`; a thread more).
  std::vector<double> ack_ms;
  ack_ms.reserve(n);
  std::atomic<bool> polling{Part("ack")};
  std::thread poller([&] {
    for (std::uint64_t acked = 0; acked < n && polling.load();) {
      const std::uint64_t next = std::min<std::uint64_t>((*rep)->stats().next_offset, n);
      if (next <= acked) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      const std::int64_t now = Clock::now().time_since_epoch().count();
      for (; acked < next; ++acked) ack_ms.push_back((now - committed[acked]) / 1e6);
    }
  });
  // Until the replicator has made the stream and the mirror consumes it.
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const std::string payload(kPayload, 'p');
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto due = t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(i * 1e9 / rate));
    while (Clock::now() < due) std::this_thread::sleep_for(std::chrono::microseconds(100));  // no spinning
    auto tx = (*src)->begin();
    if (!tx.ok() || !tx->append("orders", "created", payload).ok()) break;
    // Stamped just before the commit: the event may be seen as soon as it returns.
    committed[i] = Clock::now().time_since_epoch().count();
    if (!tx->commit().ok()) break;
  }
  const double wrote = n / Secs(Clock::now() - t0);
  reader.join();
  polling = false;
  poller.join();
  stop.request_stop();
  tr.join();
  tm.join();
  return {{"writer_events_per_s", rate},
          {"writer_achieved_per_s", wrote},
          {"events", n},
          {"mirrored", lag_ms.size()},
          {"lag_p50_ms", Quantile(lag_ms, 0.5)},
          {"lag_p99_ms", Quantile(lag_ms, 0.99)},
          {"lag_max_ms", Max(lag_ms)},
          {"acknowledged", ack_ms.size()},
          {"commit_to_ack_p50_ms", Quantile(ack_ms, 0.5)},
          {"commit_to_ack_p99_ms", Quantile(ack_ms, 0.99)}};
}

// Lag rows at 10 k, 50 k and 100 k events/s against the server at `url`,
// streams with `replicas` replicas.
json LagRows(const std::string& dir, const std::string& url, int replicas, double seconds, const char* what) {
  json rows = json::array();
  int i = 0;
  for (double rate : {10000.0, 50000.0, 100000.0}) {
    txj::ReplicationOptions ro;
    ro.servers = {url};
    ro.replicas = replicas;
    ro.stream = "L" + std::to_string(i);
    ro.subject_prefix = "l" + std::to_string(i);
    const std::string d = dir + std::to_string(i++);
    json row = Lag(d, ro, rate, seconds);
    std::fprintf(stderr, "replication lag, %s: %s\n", what, row.dump().c_str());
    rows.push_back(row);
    std::filesystem::remove_all(d);
  }
  return rows;
}

// Throughput rows against `url` (streams with `replicas` replicas).
json Throughput(const std::string& dir, const std::string& url, int replicas, int reps, std::uint64_t n,
                std::uint64_t n_sync, const std::string& tag) {
  g_replicas = replicas;
  json out;
  std::vector<double> r_rep, r_mir;
  json rows = json::array();
  for (int r = 0; r < reps; ++r) {
    const std::string k = std::to_string(r);
    json row;
    row["raw_async_publish_per_s"] = 0.0;
    row["raw_sync_publish_per_s"] = 0.0;
    row["pull_fetch_per_s"] = 0.0;
    if (Part("raw") || Part("raw_async")) {
      row["raw_async_publish_per_s"] = RawAsync(url, "A" + k, "a" + k, n);
      row["raw_async_client_cpu_us_per_event"] = g_cpu_us_per_event;
      if (Part("raw")) {
        row["raw_sync_publish_per_s"] = RawSync(url, "S" + k, "s" + k, n_sync);
        row["pull_fetch_per_s"] = PullFetch(url, "A" + k, "a" + k, n);
      }
      Conn c(url);
      if (c.js) c.DeleteStream("A" + k);
    }
    txj::ReplicationOptions ro;
    ro.servers = {url};
    ro.stream = "R" + k;
    ro.subject_prefix = "r" + k;
    ro.replicas = replicas;
    row["replicator_per_s"] = 0.0;
    row["mirror_per_s"] = 0.0;
    if (Part("replicator") || Part("mirror")) {
      auto j = txj::Journal::open(dir + "/rep" + k, JournalOptions());
      if (!j.ok() || !WriteEvents(**j, n)) return {{"skipped", "cannot write the source journal in " + dir}};
      row["replicator_per_s"] = Replicate(**j, ro, n);
      row["replicator_client_cpu_us_per_event"] = g_cpu_us_per_event;
    }
    if (Part("mirror")) row["mirror_per_s"] = MirrorRate(dir + "/mir" + k, ro, n);
    {
      Conn c(url);
      if (c.js) c.DeleteStream(ro.stream);
    }
    std::filesystem::remove_all(dir + "/rep" + k);
    std::filesystem::remove_all(dir + "/mir" + k);
    const double a = row["raw_async_publish_per_s"], p = row["pull_fetch_per_s"];
    row["replicator_over_raw_async"] = a > 0 ? row["replicator_per_s"].get<double>() / a : 0;
    row["replicator_over_raw_sync"] =
        row["raw_sync_publish_per_s"].get<double>() > 0
            ? row["replicator_per_s"].get<double>() / row["raw_sync_publish_per_s"].get<double>()
            : 0;
    row["mirror_over_pull_fetch"] = p > 0 ? row["mirror_per_s"].get<double>() / p : 0;
    r_rep.push_back(row["replicator_over_raw_async"]);
    r_mir.push_back(row["mirror_over_pull_fetch"]);
    std::fprintf(stderr, "replication %s rep %d: %s\n", tag.c_str(), r + 1, row.dump().c_str());
    rows.push_back(row);
  }
  out["throughput"] = rows;
  out["replicator_over_raw_async"] = {{"min", Min(r_rep)}, {"median", Median(r_rep)}, {"max", Max(r_rep)}};
  out["mirror_over_pull_fetch"] = {{"min", Min(r_mir)}, {"median", Median(r_mir)}, {"max", Max(r_mir)}};
  g_replicas = 1;
  return out;
}

}  // namespace

json Replication(const std::string& dir, int reps, double seconds, bool quick) {
  if (NatsServerBinary().empty()) return {{"skipped", "nats-server is not installed (apt-get install nats-server)"}};
  std::filesystem::create_directories(dir);
  {
    auto j = txj::Journal::open(dir + "/probe", JournalOptions());
    if (!j.ok()) return {{"skipped", "cannot open a journal in " + dir + ": " + j.status().ToString()}};
    if (txj::Replicator::open(**j, {}).status().code() == txj::Code::kNotSupported) {
      return {{"skipped", "txjournal was built without NATS (libnats-dev)"}};
    }
  }
  std::filesystem::remove_all(dir + "/probe");
  NatsNode server("bench", dir + "/nats");
  if (!server.Start()) return {{"skipped", "nats-server did not start (see " + dir + "/nats.log)"}};
  const std::uint64_t n = quick ? 20000 : std::max<std::uint64_t>(100000, static_cast<std::uint64_t>(100000 * seconds));
  const std::uint64_t n_sync = n / 10;
  json out;
  out["settings"] = {{"server", "one nats-server, JetStream file storage, loopback; without --quick also a 3-node cluster (streams with 3 replicas), throughput and lag"},
                     {"events", n},
                     {"sync_publish_events", n_sync},
                     {"payload_bytes", kPayload},
                     {"publish_window", 4096},
                     {"mirror_batch", 256},
                     {"mirror_durability", "kNone journal, one sync per batch (batches that end during a sync share the next one)"},
                     {"repetitions", reps}};
  if (Part("raw") || Part("raw_async") || Part("replicator") || Part("mirror")) {
    out["single_node"] = Throughput(dir, server.url(), 1, reps, n, n_sync, "1 node");
  }
  const double lag_seconds = quick ? 0.5 : std::max(2.0, seconds);
  if (Part("lag")) out["lag"] = LagRows(dir + "/lag", server.url(), 1, lag_seconds, "1 node");
  if (!quick && Part("cluster")) {
    // Three nodes on loopback, streams with three replicas.
    NatsNode nodes[3] = {{"c0", dir + "/cluster0", 0, FreePort()},
                         {"c1", dir + "/cluster1", 0, FreePort()},
                         {"c2", dir + "/cluster2", 0, FreePort()}};
    txj::natstest::Route(nodes, 3);
    bool up = true;
    for (auto& node : nodes) up = node.Start() && up;
    if (!up) {
      out["cluster_3_nodes"] = {{"skipped", "the cluster did not start (see " + dir + "/cluster*.log)"}};
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(3));  // meta leader elected
      out["cluster_3_nodes"] = Throughput(dir, nodes[0].url(), 3, reps, n, n_sync, "3 nodes");
      if (Part("lag")) out["cluster_3_nodes"]["lag"] = LagRows(dir + "/clag", nodes[0].url(), 3, lag_seconds, "3 nodes");
    }
  }
  return out;
}
#endif

}  // namespace bench
