// nats-server processes (JetStream, loopback) for the replication tests and
// journal-bench's replication workload: header-only, not installed, not part
// of the public API.
#ifndef TXJOURNAL_REPLICATION_NATS_TEST_SERVER_H_
#define TXJOURNAL_REPLICATION_NATS_TEST_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<nats/nats.h>)
#include <nats/nats.h>

#include "non_copyable.h"
#define TXJ_NATS_TEST_CLIENT 1
#endif

namespace txj::natstest {

// The nats-server binary, or "" when it is not installed.
inline std::string NatsServerBinary() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// A loopback port nobody listens on (as the kernel hands it out now), and
// none this process handed out before: once the probe's socket is closed
// the kernel may hand the same port out again, and two nodes of a cluster
// given one port cannot both start.
inline int FreePort() {
  static std::mutex mu;
  static std::set<int> given;
  std::lock_guard<std::mutex> lock(mu);
  int port = 0;
  for (int attempt = 0; attempt < 64; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ::close(fd);
    if (port != 0 && given.insert(port).second) break;
  }
  return port;
}

inline bool PortOpen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One nats-server with JetStream (file storage under `dir`, its stderr in
// `dir`.log) on loopback; killed on destruction. A cluster node has a
// `cluster_port` and the cluster ports of the others in `routes`.
struct NatsNode : internal::NonCopyable {
  std::string name, dir;
  int port = 0, cluster_port = 0;
  std::vector<int> routes;
  pid_t pid = -1;

  NatsNode(std::string n, std::string d, int p = 0, int cp = 0)
      : name(std::move(n)), dir(std::move(d)), port(p ? p : FreePort()), cluster_port(cp) {}
  ~NatsNode() { Kill(); }

  // Starts it (again); true once it accepts connections (within 30 s).
  bool Start() {
    std::filesystem::create_directories(dir);
    if (PortOpen(port) || (cluster_port != 0 && PortOpen(cluster_port))) {
      // Another process listens there: the wait below would take it for
      // this server.
      Report("cannot start: a port of it is taken");
      return false;
    }
    pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      // Dies with the process that started it (the thread that called
      // Start), even when that one crashes or is killed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::vector<std::string> args = {NatsServerBinary(), "-a", "127.0.0.1", "-p", std::to_string(port), "-js",
                                       "-sd", dir, "-n", name};
      if (cluster_port) {
        std::string r;
        for (int p : routes) r += (r.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(p);
        args.insert(args.end(), {"--cluster_name", "txj", "--cluster",
                                 "nats://127.0.0.1:" + std::to_string(cluster_port), "--routes", r});
      }
      std::vector<char*> argv;
      for (auto& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      std::freopen("/dev/null", "w", stdout);
      std::freopen((dir + ".log").c_str(), "w", stderr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Up to 30 s (a loaded machine, sanitizer builds beside it); a server
    // that exits meanwhile (its port taken, say) is reported at once.
    // A cluster node listens for clients before it binds its cluster port
    // (where it can still fail): ready once both accept connections.
    auto ready = [&] { return PortOpen(port) && (cluster_port == 0 || PortOpen(cluster_port)); };
    for (int i = 0; i < 1200; ++i) {
      if (ready()) return true;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        Report("exited before it accepted connections");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    if (ready()) return true;
    Report("did not accept connections within 30 s");
    return false;
  }
  // Says on stderr why Start failed, with the end of the server's log.
  void Report(const std::string& what) const {
    std::string log;
    if (std::FILE* f = std::fopen((dir + ".log").c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) log.append(buf, n);
      std::fclose(f);
    }
    if (log.size() > 2000) log = log.substr(log.size() - 2000);
    std::fprintf(stderr, "nats-server %s (port %d, cluster port %d) %s; the end of %s.log:\n%s\n", name.c_str(), port,
                 cluster_port, what.c_str(), dir.c_str(), log.c_str());
  }
  // Kills it and waits for it.
  void Kill() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port); }
};

// Makes `nodes` one cluster: each routes to the others' cluster ports.
inline void Route(NatsNode* nodes, int n) {
  for (int k = 0; k < n; ++k) {
    nodes[k].routes.clear();
    for (int o = 0; o < n; ++o) {
      if (o != k) nodes[k].routes.push_back(nodes[o].cluster_port);
    }
  }
}

#ifdef TXJ_NATS_TEST_CLIENT
// A connection and JetStream context (both null when the connection failed).
struct JsConn : internal::NonCopyable {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit JsConn(const std::string& url, std::int64_t max_pending = 0) {
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) {
      nc = nullptr;
      return;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    if (max_pending) jo.PublishAsync.MaxPending = max_pending;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK) js = nullptr;
  }
  ~JsConn() {
    if (js) jsCtx_Destroy(js);
    if (nc) natsConnection_Destroy(nc);
  }
  // Messages in `stream` and its last sequence ({0, 0} when unreadable).
  std::pair<std::uint64_t, std::uint64_t> StreamState(const std::string& stream) {
    std::pair<std::uint64_t, std::uint64_t> out{0, 0};
    jsStreamInfo* si = nullptr;
    if (js && js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) == NATS_OK) {
      out = {si->State.Msgs, si->State.LastSeq};
      jsStreamInfo_Destroy(si);
    }
    return out;
  }
};
#endif

}  // namespace txj::natstest

#endif  // TXJOURNAL_REPLICATION_NATS_TEST_SERVER_H_
