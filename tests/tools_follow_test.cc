// journal-dump --follow from the outside: a writer process commits while
// `journal-dump -f` runs as another child process; the dump prints what is
// committed after it started, with every filter and format, ends with exit
// 0 on SIGINT and SIGTERM, and quietly when its reader goes away (| head).
// Also the text output: ISO-8601 UTC or unix timestamps, control characters
// escaped instead of whole payloads in base64, --color for --raw markers.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace txj;
using txj::test::TempDir;

namespace {

const std::string kDump = "../tools/journal-dump";
// Only a guard against a hang: no assertion is about time.
constexpr auto kGuard = std::chrono::seconds(60);

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void Commit(Journal& j, const std::string& topic, const std::string& type, const std::string& payload) {
  test::CommitOne(j, topic, type, payload);
}

// A writer in its own process: opens the journal (and says so), commits
// three events (topic "t", then "u" alternately) one transaction each when
// it reads a byte from `go`, then waits for a second byte before it closes
// the journal.
pid_t StartWriter(const std::string& dir, int* go_fd) {
  int p[2], ready[2];
  REQUIRE(::pipe(p) == 0);
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(p[1]);
    ::close(ready[0]);
    auto j = Journal::open(dir);
    if (!j.ok()) ::_exit(10);
    if (::write(ready[1], "r", 1) != 1) ::_exit(15);
    char c;
    if (::read(p[0], &c, 1) != 1) ::_exit(11);
    const char* payloads[] = {"late one", "tab\there\nnewline", "late three"};
    int i = 0;
    for (const char* pl : payloads) {
      auto tx = (*j)->begin();
      if (!tx.ok() || !tx->append(i++ % 2 ? "u" : "t", "put", pl).ok() || !tx->commit().ok()) ::_exit(12);
    }
    if (::read(p[0], &c, 1) != 1) ::_exit(13);
    ::_exit((*j)->close().ok() ? 0 : 14);
  }
  ::close(p[0]);
  ::close(ready[1]);
  char r = 0;
  CHECK(::read(ready[0], &r, 1) == 1);  // the writer holds the journal open
  ::close(ready[0]);
  *go_fd = p[1];
  return pid;
}

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
  std::string err_file;
};

Child StartDump(const TempDir& dir, std::vector<std::string> args) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  Child c;
  c.err_file = dir.sub("dump.err");
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    const int e = ::open(c.err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(e, 2);
    std::vector<char*> argv{const_cast<char*>(kDump.c_str())};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(kDump.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(p[1]);
  c.pid = pid;
  c.out = p[0];
  return c;
}

// Reads from `fd` into `buf` until it holds `lines` lines (or EOF, or the
// hang guard).
void ReadLines(int fd, std::string& buf, int lines) {
  const auto until = std::chrono::steady_clock::now() + kGuard;
  auto count = [&] { return static_cast<int>(std::count(buf.begin(), buf.end(), '\n')); };
  while (count() < lines && std::chrono::steady_clock::now() < until) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 100) <= 0) continue;
    char tmp[4096];
    const ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n <= 0) break;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

// Waits for `pid` (killing it after the hang guard); returns its wait status.
int WaitFor(pid_t pid) {
  const auto until = std::chrono::steady_clock::now() + kGuard;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("child " << pid << " did not end: killed");
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status;
}

// Whether `s` has the shape `t`: '#' is one digit, '+' one or more digits,
// '?' any one character, '*' (at the end) anything; the rest is literal.
// (std::regex trips -Wmaybe-uninitialized inside libstdc++ in the ASan build.)
bool Like(std::string_view s, std::string_view t) {
  auto digit = [&](std::size_t i) { return i < s.size() && s[i] >= '0' && s[i] <= '9'; };
  std::size_t i = 0;
  for (char c : t) {
    if (c == '*') return true;
    if (c == '#') {
      if (!digit(i)) return false;
      ++i;
    } else if (c == '+') {
      if (!digit(i)) return false;
      while (digit(i)) ++i;
    } else if (c == '?') {
      if (i >= s.size()) return false;
      ++i;
    } else {
      if (i >= s.size() || s[i] != c) return false;
      ++i;
    }
  }
  return i == s.size();
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

// Follows `dir` with `args`, lets the writer commit its three events, then
// stops the dump with `sig`; returns the dump's output lines after checking
// that it printed `expect_before` lines before and `expect_after` after the
// writer's commits, and exited 0 with nothing on stderr.
std::vector<std::string> FollowRun(const TempDir& dir, std::vector<std::string> args, int expect_before,
                                   int expect_after, int sig) {
  int go = -1;
  const pid_t writer = StartWriter(dir.sub("j"), &go);
  args.insert(args.begin(), dir.sub("j"));
  Child dump = StartDump(dir, args);
  std::string out;
  ReadLines(dump.out, out, expect_before);
  CHECK(static_cast<int>(Lines(out).size()) == expect_before);
  REQUIRE(::write(go, "g", 1) == 1);  // commits after the dump printed what was there
  ReadLines(dump.out, out, expect_before + expect_after);
  REQUIRE(::kill(dump.pid, sig) == 0);
  const int st = WaitFor(dump.pid);
  ReadLines(dump.out, out, 1 << 30);  // to EOF: nothing more after the signal
  ::close(dump.out);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(ReadFile(dump.err_file) == "");
  REQUIRE(::write(go, "q", 1) == 1);
  ::close(go);
  const int wst = WaitFor(writer);
  CHECK((WIFEXITED(wst) && WEXITSTATUS(wst) == 0));
  auto lines = Lines(out);
  CHECK(static_cast<int>(lines.size()) == expect_before + expect_after);
  return lines;
}

void TwoEvents(const TempDir& dir) {
  auto j = test::OpenOrDie(dir.sub("j"), Options{});
  Commit(*j, "t", "put", "early one");
  Commit(*j, "u", "put", "early two");
  TXJ_REQUIRE_OK(j->close());
}

}  // namespace

TEST_CASE("journal-dump --follow prints events another process commits after it started, and exits 0 on SIGINT") {
  TempDir dir;
  TwoEvents(dir);
  auto lines = FollowRun(dir, {"-f"}, 2, 3, SIGINT);
  REQUIRE(lines.size() == 5);
  for (const auto& l : lines) CHECK_MESSAGE(Like(l, "+  ####-##-##T##:##:##.#########Z  txn +  ?  put  *"), l);
  CHECK(lines[0].find("early one") != std::string::npos);
  CHECK(lines[2].rfind("2  ", 0) == 0);
  CHECK(lines[2].find("late one") != std::string::npos);
  // Control characters escaped, not the whole payload in base64.
  CHECK(lines[3].find("  tab\\there\\nnewline") != std::string::npos);
  CHECK(lines[4].find("late three") != std::string::npos);
}

TEST_CASE("journal-dump --follow keeps its filters and format and exits 0 on SIGTERM") {
  TempDir dir;
  TwoEvents(dir);
  auto lines = FollowRun(dir, {"--follow", "--topic", "t", "--format", "jsonl"}, 1, 2, SIGTERM);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find(R"("offset":0,)") != std::string::npos);
  CHECK(lines[1].find(R"("offset":2,)") != std::string::npos);
  CHECK(lines[1].find(R"("data":"late one")") != std::string::npos);
  CHECK(lines[2].find(R"("offset":4,)") != std::string::npos);
  for (const auto& l : lines) CHECK(l.find(R"("topic":"t")") != std::string::npos);
}

TEST_CASE("journal-dump --follow ends quietly when its reader goes away") {
  TempDir dir;
  TwoEvents(dir);
  // head takes one line and exits; the next event the dump writes meets a
  // closed pipe.
  const std::string cmd = "bash -c '" + kDump + " -f " + dir.sub("j") + " 2>" + dir.sub("err") +
                          " | head -n 1 >" + dir.sub("out") + "; echo ${PIPESTATUS[0]} >" + dir.sub("status") + "'";
  const pid_t sh = ::fork();
  REQUIRE(sh >= 0);
  if (sh == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Commit until the pipeline is over (each commit is a write for the dump).
  auto j = test::OpenOrDie(dir.sub("j"), Options{});
  const auto until = std::chrono::steady_clock::now() + kGuard;
  int status = 0;
  while (::waitpid(sh, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < until) {
    Commit(*j, "t", "put", std::string(1000, 'x'));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (std::chrono::steady_clock::now() >= until) {
    ::kill(sh, SIGKILL);
    FAIL("the pipeline did not end");
  }
  TXJ_CHECK_OK(j->close());
  CHECK(ReadFile(dir.sub("out")).find("early one") != std::string::npos);
  CHECK(ReadFile(dir.sub("err")) == "");
  const std::string st = ReadFile(dir.sub("status"));
  CHECK_MESSAGE((st == "141\n" || st == "0\n"), st);  // SIGPIPE, as tail -f; never a write error (4)
}

TEST_CASE("journal-dump text output: --time unix or none, invalid UTF-8 in base64, --color for --raw markers") {
  TempDir dir;
  {
    auto j = test::OpenOrDie(dir.sub("j"), Options{});
    Commit(*j, "t", "put", std::string("bad \xff utf8", 10));
    Commit(*j, "t", "put", std::string("nul\0bell\x07", 9));
    TXJ_REQUIRE_OK(j->close());
  }
  auto run = [&](const std::string& args) {
    const std::string o = dir.sub("o");
    const int rc = std::system((kDump + " " + dir.sub("j") + " " + args + " >" + o + " 2>/dev/null").c_str());
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    return ReadFile(o);
  };
  const auto unix_lines = Lines(run("--time=unix"));
  REQUIRE(unix_lines.size() == 2);
  CHECK_MESSAGE(Like(unix_lines[0], "0  +.#########  txn 1  t  put  base64:*"), unix_lines[0]);
  CHECK(unix_lines[1].find("  nul\\x00bell\\x07") != std::string::npos);
  CHECK(Lines(run("--time=none"))[1] == "1  txn 2  t  put  nul\\x00bell\\x07");
  const std::string raw_color = run("--raw --color=always");
  CHECK(raw_color.find("\x1b[36mbegin\x1b[0m") != std::string::npos);
  CHECK(raw_color.find("\x1b[32mcommit\x1b[0m") != std::string::npos);
  const std::string raw_plain = run("--raw --color=auto");  // not a terminal
  CHECK(raw_plain.find('\x1b') == std::string::npos);
  CHECK(run("--raw --color=never").find('\x1b') == std::string::npos);
}
