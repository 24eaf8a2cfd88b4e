// Catalog writes under faults. LMDB does its own I/O on DIR/catalog/data.mdb
// and lock.mdb, beside the journal's FileSystem layer (tests/fault_fs.h
// never sees it). This test interposes the write and sync calls LMDB makes
// (pwrite, writev, write, pwritev, fdatasync, fsync, ftruncate) from the
// test executable: a call on a descriptor whose file is a data.mdb or
// lock.mdb under the armed catalog directory counts, and the N-th fails
// with EIO or ENOSPC, once or from then on. The real call is looked up with
// dlsym(RTLD_NEXT), so under ASan or TSan it reaches the sanitizer's own
// interceptor.
//
// Each workload (checkpoints and opening, consumer offsets saved with
// commit_with and save, multi-store session decisions, compaction) first
// runs clean to count its catalog calls, then once per call and variant
// with that call failing. After each run the journal is reopened without
// faults and must hold every acknowledged commit, offset and session, and
// nothing reported failed may be reported done; every error a run saw must
// name the catalog.
//
// pwrite and friends are defined here under their 64-bit-offset names too:
// this file is compiled without _FILE_OFFSET_BITS (x86-64 off_t is 64 bits
// either way) so that the header does not rename pwrite to pwrite64.
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "reliability_workload.h"
#include "session_stores.h"
#include "txjournal/committable.h"
#include "txjournal/compactor.h"
#include "txjournal/journal.h"
#include "txjournal/offset_store.h"

namespace lmdb_fault {

// The armed catalog directory; a hook of a background thread may still be
// reading it when the next run arms another.
std::mutex g_prefix_mu;
char g_prefix[4096];
std::atomic<bool> active{false};
std::atomic<long> calls{0};      // catalog calls seen while active
std::atomic<long> fail_at{0};    // 0: count only; else the call that fails
std::atomic<int> error{EIO};
std::atomic<bool> sticky{false};  // every call after fail_at fails too
std::atomic<long> failed{0};      // calls failed
std::atomic<const char*> fired_what{""};
std::atomic<bool> meta_only{false};  // count only writes of a meta page (a pwrite of less than a page)

bool IsCatalogFile(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char path[4096];
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  {
    std::lock_guard<std::mutex> lock(g_prefix_mu);
    if (std::strncmp(path, g_prefix, std::strlen(g_prefix)) != 0) return false;
  }
  const char* base = std::strrchr(path, '/');
  base = base ? base + 1 : path;
  return std::strcmp(base, "data.mdb") == 0 || std::strcmp(base, "lock.mdb") == 0;
}

// The errno the call on `fd` fails with, 0 to let it through.
int Decide(int fd, const char* what, bool meta_page = false) {
  if (!active.load(std::memory_order_acquire) || !IsCatalogFile(fd)) return 0;
  if (meta_only.load() && !meta_page) return 0;
  const long n = calls.fetch_add(1) + 1;
  const long at = fail_at.load();
  if (at == 0 || n < at || (n > at && !sticky.load())) return 0;
  if (n == at) fired_what.store(what);
  failed.fetch_add(1);
  return error.load();
}

template <typename F>
F Real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

// Arms the hooks for the catalog of journal `dir`: call `at` fails (0:
// count only).
void Arm(const std::string& dir, long at, int err, bool stick) {
  const std::string p = dir + "/catalog/";
  {
    std::lock_guard<std::mutex> lock(g_prefix_mu);
    std::snprintf(g_prefix, sizeof g_prefix, "%s", p.c_str());
  }
  calls = 0;
  failed = 0;
  fail_at = at;
  error = err;
  sticky = stick;
  fired_what = "";
  meta_only = false;
  active.store(true, std::memory_order_release);
}
long Disarm() {
  active.store(false, std::memory_order_release);
  return calls.load();
}

}  // namespace lmdb_fault

#define TXJ_FAULT_HOOK(fd, name, ...)                          \
  if (int e = lmdb_fault::Decide(fd, name, ##__VA_ARGS__)) {    \
    errno = e;                                     \
    return -1;                                     \
  }

extern "C" {

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto real = lmdb_fault::Real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  TXJ_FAULT_HOOK(fd, "pwrite", n < 4096);
  return real(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  static auto real = lmdb_fault::Real<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  TXJ_FAULT_HOOK(fd, "pwrite64", n < 4096);
  return real(fd, buf, n, off);
}
ssize_t write(int fd, const void* buf, size_t n) {
  static auto real = lmdb_fault::Real<ssize_t (*)(int, const void*, size_t)>("write");
  TXJ_FAULT_HOOK(fd, "write");
  return real(fd, buf, n);
}
ssize_t writev(int fd, const struct iovec* iov, int n) {
  static auto real = lmdb_fault::Real<ssize_t (*)(int, const struct iovec*, int)>("writev");
  TXJ_FAULT_HOOK(fd, "writev");
  return real(fd, iov, n);
}
ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) {
  static auto real = lmdb_fault::Real<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  TXJ_FAULT_HOOK(fd, "pwritev");
  return real(fd, iov, n, off);
}
// While armed, LMDB's meta-page descriptor is opened without O_DSYNC (and
// syncs below return at once): see the note there.
int open(const char* path, int flags, ...) {
  static auto real = lmdb_fault::Real<int (*)(const char*, int, ...)>("open");
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  if (lmdb_fault::active.load(std::memory_order_acquire)) {
    const std::size_t n = std::strlen(path);
    if (n >= 8 && std::strcmp(path + n - 8, "data.mdb") == 0) flags &= ~(O_DSYNC | O_SYNC);
  }
  return real(path, flags, mode);
}

// While armed, a sync that does not fail returns without syncing: the runs
// check what a process sees after reopening, not what a power loss leaves
// (tests/power_loss_test.cc does), and syncs would make the walk take
// minutes on a busy disk.
int fdatasync(int fd) {
  static auto real = lmdb_fault::Real<int (*)(int)>("fdatasync");
  TXJ_FAULT_HOOK(fd, "fdatasync");
  if (lmdb_fault::active.load(std::memory_order_acquire)) return 0;
  return real(fd);
}
int fsync(int fd) {
  static auto real = lmdb_fault::Real<int (*)(int)>("fsync");
  TXJ_FAULT_HOOK(fd, "fsync");
  if (lmdb_fault::active.load(std::memory_order_acquire)) return 0;
  return real(fd);
}
int ftruncate(int fd, off_t len) noexcept {
  static auto real = lmdb_fault::Real<int (*)(int, off_t)>("ftruncate");
  TXJ_FAULT_HOOK(fd, "ftruncate");
  return real(fd, len);
}
int ftruncate64(int fd, off64_t len) noexcept {
  static auto real = lmdb_fault::Real<int (*)(int, off64_t)>("ftruncate64");
  TXJ_FAULT_HOOK(fd, "ftruncate64");
  return real(fd, len);
}

}  // extern "C"

using namespace txj;
using txj::test::TempDir;

namespace {

// What a run saw: errors (each must name the catalog), and what it was told
// succeeded.
struct Run {
  std::vector<std::string> errors;
  void Error(const std::string& what, const Status& s) { errors.push_back(what + ": " + s.ToString()); }
};

// Commit durability off: only the catalog's writes are under test (and a
// clean close makes every commit durable).
Options JournalOptions() { return test::SmallOptions(Durability::kNone); }

// The first error of a run (the fault's own; later ones may be its
// consequences, such as a session key left to finish) must say which
// catalog (its path) failed.
std::string ErrorsNameCatalog(const std::string& dir, const Run& run) {
  if (run.errors.empty() || run.errors.front().find(dir + "/catalog") != std::string::npos) return std::string();
  return "the error does not name the catalog " + dir + "/catalog: " + run.errors.front();
}

// ---- workload: plain commits (the background checkpoints), over two opens ----

struct Commits : Run {
  std::vector<std::pair<std::uint64_t, std::string>> acked;  // first offset, payload
  int attempts = 0;
};

void CommitSome(Journal& j, int n, const std::string& tag, Commits* run) {
  for (int i = 0; i < n; ++i) {
    auto tx = j.begin();
    if (!tx.ok()) return run->Error("begin", tx.status());
    const std::string payload = tag + "-" + std::to_string(i) + std::string(700, 'p');
    if (Status s = tx->append("t", "e", payload); !s.ok()) return run->Error("append", s);
    ++run->attempts;
    auto info = tx->commit();
    if (!info.ok()) return run->Error("commit", info.status());
    run->acked.emplace_back(info->first_offset, payload);
  }
}

// Bytes of a torn write just past the last record of a cleanly closed
// journal: the next writable open cuts them as a crash tail, which drops
// the catalog's index entries past the cut (a catalog write while opening).
// Returns false when no segment holds a record.
bool TearTail(const std::string& dir) {
  std::string last;
  std::size_t end = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".seg") continue;
    const std::string data = test::ReadFile(f.path().string());
    std::size_t n = data.size();
    while (n > 4096 && data[n - 1] == '\0') --n;  // records start after the 4 KiB header page
    if (n > 4096 && (last.empty() || f.path().string() > last)) {
      last = f.path().string();
      end = (n + 7) & ~std::size_t{7};
    }
  }
  if (last.empty()) return false;
  std::fstream out(last, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(static_cast<std::streamoff>(end));
  const std::string torn(40, '\xa5');
  out.write(torn.data(), static_cast<std::streamsize>(torn.size()));
  return static_cast<bool>(out);
}

// Commits over two opens (the background checkpoints). With `tear`, torn
// bytes after the first session's last record, which the second open must
// cut (dropping index entries: a catalog write while opening).
void RunCheckpoints(const std::string& dir, Commits* run, bool tear = false) {
  for (int session = 0; session < 2; ++session) {
    auto j = Journal::open(dir, JournalOptions());
    if (!j.ok()) {
      run->Error("open", j.status());
      continue;
    }
    // A run where a fault failed that open has the check's open cut it.
    if (tear && session == 1) CHECK((*j)->recovery_report().repairs.size() == 1);
    CommitSome(**j, session == 0 ? (tear ? 40 : 12) : (tear ? 4 : 6), "s" + std::to_string(session), run);
    if (Status c = (*j)->close(); !c.ok()) run->Error("close", c);
    if (tear && session == 0) REQUIRE(TearTail(dir));
  }
}

std::string CheckCommits(const std::string& dir, const Commits& run) {
  if (!std::filesystem::exists(dir + "/JOURNAL")) {
    return run.acked.empty() ? std::string() : "no manifest, but commits were acknowledged";
  }
  auto j = Journal::open(dir, JournalOptions());
  if (!j.ok()) return "reopen: " + j.status().ToString();
  auto view = test::ReadView(**j, 0, Filter::for_topics({"t"}));
  if (!view.ok()) return "read: " + view.status().ToString();
  std::map<std::uint64_t, std::string> got;
  for (const auto& e : *view) got[e.offset] = e.payload;
  for (const auto& [off, payload] : run.acked) {
    auto it = got.find(off);
    if (it == got.end() || it->second != payload) return "acknowledged commit at offset " + std::to_string(off) + " is missing or differs";
  }
  // At most the one commit in flight when a run stopped is there unacknowledged.
  if (got.size() > run.acked.size() + 1 || static_cast<int>(got.size()) > run.attempts) {
    return std::to_string(got.size()) + " events, " + std::to_string(run.acked.size()) + " acknowledged";
  }
  // Positioning from the catalog's index lands where a scan does.
  for (const auto& [off, payload] : run.acked) {
    auto cur = (*j)->open_cursor(off, Filter::for_topics({"t"}));
    if (!cur.ok()) return "cursor at " + std::to_string(off) + ": " + cur.status().ToString();
    auto e = cur->next();
    if (!e.ok() || !e->has_value() || (**e).offset != off || std::string((**e).payload) != payload) {
      return "a cursor opened at offset " + std::to_string(off) + " does not start with its event";
    }
  }
  if (Status c = (*j)->close(); !c.ok()) return "close after reopen: " + c.ToString();
  if (std::string p = test::WalkProblems(dir, /*allow_tail=*/false); !p.empty()) return "after reopen: " + p;
  return std::string();
}

// ---- workload: consumer offsets (commit_with with state, and save) ----

struct Offsets : Run {
  std::uint64_t acked_c1 = 0, acked_c2 = 0;  // last offsets whose save returned OK
  std::vector<std::string> in_process;        // problems seen before reopening
};

constexpr int kOffsetEvents = 8;

void RunOffsets(const std::string& dir, Offsets* run) {
  auto j = Journal::open(dir, JournalOptions());
  if (!j.ok()) return run->Error("open", j.status());
  Commits unused;
  CommitSome(**j, kOffsetEvents, "o", &unused);
  for (const auto& e : unused.errors) run->errors.push_back(e);
  auto st = OffsetStore::open(**j);
  if (!st.ok()) {
    run->Error("offset store", st.status());
    (void)(*j)->close();
    return;
  }
  OffsetStore& store = **st;
  int consecutive_failures = 0;
  for (std::uint64_t next = 1; next <= kOffsetEvents && consecutive_failures < 2;) {
    Status a = store.commit_with("c1", next, [&](KvTxn& t) { return t.put("state", "c1", std::to_string(next)); });
    if (a.ok()) run->acked_c1 = next;
    else run->Error("commit_with c1 " + std::to_string(next), a);
    Status b = a.ok() ? store.save("c2", next) : Status::OK();
    if (!b.ok()) run->Error("save c2 " + std::to_string(next), b);
    if (a.ok() && b.ok()) run->acked_c2 = next;
    if (a.ok() && b.ok()) {
      consecutive_failures = 0;
      ++next;
      continue;
    }
    ++consecutive_failures;  // the consumer retries the same offset once
    // A save that failed is not reported saved.
    auto l1 = store.load("c1");
    if (l1.ok() && *l1 != run->acked_c1) {
      run->in_process.push_back("after a failed save, load(c1) says " + std::to_string(*l1) + ", acknowledged " + std::to_string(run->acked_c1));
    }
    auto l2 = store.load("c2");
    if (l2.ok() && *l2 != run->acked_c2) {
      run->in_process.push_back("after a failed save, load(c2) says " + std::to_string(*l2) + ", acknowledged " + std::to_string(run->acked_c2));
    }
  }
  if (Status c = (*j)->close(); !c.ok()) run->Error("close", c);
}

std::string CheckOffsets(const std::string& dir, const Offsets& run) {
  if (!run.in_process.empty()) return run.in_process.front();
  if (!std::filesystem::exists(dir + "/JOURNAL")) return std::string();
  auto j = Journal::open(dir, JournalOptions());
  if (!j.ok()) return "reopen: " + j.status().ToString();
  auto st = OffsetStore::open(**j);
  if (!st.ok()) return "offset store after reopen: " + st.status().ToString();
  auto c1 = (*st)->load("c1");
  auto c2 = (*st)->load("c2");
  auto state = (*st)->get("state", "c1");
  if (!c1.ok() || !c2.ok() || !state.ok()) return "load after reopen failed";
  if (*c1 != run.acked_c1) {
    return "consumer c1 reopened at " + std::to_string(*c1) + ", its last acknowledged save was " + std::to_string(run.acked_c1);
  }
  if (*c2 != run.acked_c2) {
    return "consumer c2 reopened at " + std::to_string(*c2) + ", its last acknowledged save was " + std::to_string(run.acked_c2);
  }
  const std::string want = run.acked_c1 ? std::to_string(run.acked_c1) : std::string();
  if (state->value_or("") != want) return "the state saved with c1's offset differs from it (exactly-once broken)";
  // It goes on.
  if (Status s = (*st)->save("c2", run.acked_c2 + 1); !s.ok()) return "save after reopen: " + s.ToString();
  if (Status c = (*j)->close(); !c.ok()) return "close after reopen: " + c.ToString();
  return std::string();
}

// ---- workload: multi-store sessions (the decisions live in the catalog) ----

constexpr int kSessions = 3;

struct Sessions : Run {
  std::map<std::string, std::string> ids;  // sessions whose commit() returned an id
  std::vector<std::string> in_process;
};

void RunSessions(const std::string& dir, const std::string& kv_dir, Sessions* run) {
  auto j = Journal::open(dir, JournalOptions());
  if (!j.ok()) return run->Error("open", j.status());
  test::SessionStores st;
  if (!test::OpenSessionStoresForRun(**j, kv_dir, &st, &run->errors)) {
    (void)(*j)->close();
    return;
  }
  for (int s = 0; s < kSessions; ++s) {
    const std::string key = test::SessionKey(s);
    auto id = test::CommitSession(st, key, [&] {
      Status a = st.jp->append("orders", "placed", "order " + key, {.key = key});
      return a.ok() ? st.kvp->put("balance/" + key, std::to_string(100 + s)) : a;
    });
    if (id.ok()) {
      run->ids[key] = *id;
    } else {
      run->Error(key, id.status());
    }
  }
  if (Status c = (*j)->close(); !c.ok()) run->Error("close", c);
}

std::string CheckSessions(const std::string& dir, const std::string& kv_dir, const Sessions& run) {
  if (!std::filesystem::exists(dir + "/JOURNAL")) return run.ids.empty() ? std::string() : "no manifest, but sessions committed";
  auto j = Journal::open(dir, JournalOptions());
  if (!j.ok()) return "reopen: " + j.status().ToString();
  test::SessionStores st;
  std::vector<test::SessionSeen> seen;
  if (std::string e = test::RecoverSessions(**j, kv_dir, kSessions, &st, &seen); !e.empty()) return e;
  for (const test::SessionSeen& x : seen) {
    const bool in_kv = x.balance.has_value();
    if (x.events > 1) return "session " + x.key + " applied twice in the journal";
    if ((x.events == 1) != in_kv) return "session " + x.key + " is in " + (in_kv ? "the kv store only" : "the journal only");
    auto it = run.ids.find(x.key);
    if (it != run.ids.end()) {
      if (!in_kv) return "session " + x.key + " committed (id " + it->second + ") but is in neither store";
      if (x.result != it->second) return "session " + x.key + ": its key no longer answers id " + it->second;
    } else if (x.result.has_value() != in_kv) {
      return "session " + x.key + " is applied but its key has no result, or the reverse";
    }
  }
  if (Status b = st.mc->begin("after"); !b.ok()) return "begin after reopen: " + b.ToString();
  if (auto id = st.mc->commit("after"); !id.ok()) return "commit after reopen: " + id.status().ToString();
  if (Status c = (*j)->close(); !c.ok()) return "close after reopen: " + c.ToString();
  return std::string();
}

// ---- workload: compaction (topics and index entries of rewritten segments) ----

struct Compaction : Run {
  struct Attempt {
    bool kv = false;
    std::string key, payload;
    bool acked = false;
    std::uint64_t first_offset = 0;
  };
  std::vector<Attempt> attempts;
  int compactions_ok = 0;
};

void RunCompaction(const std::string& dir, Compaction* run) {
  int i = 0;
  for (int session = 0; session < 2; ++session) {
    auto j = Journal::open(dir, JournalOptions());
    if (!j.ok()) {
      run->Error("open", j.status());
      continue;
    }
    if (Status r = (*j)->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()); !r.ok()) {
      run->Error("register", r);
      (void)(*j)->close();
      continue;
    }
    for (int k = 0; k < 12; ++k, ++i) {
      Compaction::Attempt a;
      a.kv = i % 2 == 1;
      auto tx = (*j)->begin();
      if (!tx.ok()) {
        run->Error("begin", tx.status());
        break;
      }
      Status s;
      if (a.kv) {
        a.key = "k" + std::to_string(i % 3);
        a.payload = "v" + std::to_string(i);
        s = tx->append("kv", "set", a.payload, {.key = a.key});
      } else {
        a.payload = std::string(6000, static_cast<char>('a' + i % 26));
        s = tx->append("t", "e", a.payload);
      }
      if (!s.ok()) {
        run->Error("append", s);
        break;
      }
      run->attempts.push_back(a);
      auto info = tx->commit();
      if (!info.ok()) {
        run->Error("commit", info.status());
        break;
      }
      run->attempts.back().acked = true;
      run->attempts.back().first_offset = info->first_offset;
      if (k == 7 || k == 11) {
        auto snap = (*j)->compact("kv");
        if (!snap.ok()) run->Error("compact", snap.status());
        else ++run->compactions_ok;
      }
    }
    auto topics = (*j)->topics();  // catches the topics table up: a catalog write
    if (!topics.ok()) run->Error("topics", topics.status());
    if (Status c = (*j)->close(); !c.ok()) run->Error("close", c);
  }
}

std::string CheckCompaction(const std::string& dir, const Compaction& run) {
  if (!std::filesystem::exists(dir + "/JOURNAL")) return std::string();
  if (std::string p = test::WalkProblems(dir, /*allow_tail=*/true); !p.empty()) return "before reopening: " + p;
  auto j = Journal::open(dir, JournalOptions());
  if (!j.ok()) return "reopen: " + j.status().ToString();
  if (Status s = (*j)->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()); !s.ok()) {
    return "register: " + s.ToString();
  }
  // Every attempt is acknowledged here (nothing in the journal's own I/O
  // fails), so the journal holds exactly them.
  std::uint64_t pos = 0;
  LatestByKeyCompactor fold;
  auto want = fold.initial();
  std::map<std::uint64_t, std::string> plain;
  for (const auto& a : run.attempts) {
    if (!a.acked) return "a commit failed though only catalog writes failed";
    if (a.first_offset != pos) return "acknowledged commit at offset " + std::to_string(a.first_offset) + ", expected " + std::to_string(pos);
    if (a.kv) {
      Event e;
      e.offset = pos;
      e.topic = "kv";
      e.type = "set";
      e.key = a.key;
      e.payload = a.payload;
      if (Status s = fold.apply(*want, e); !s.ok()) return "fold: " + s.ToString();
    } else {
      plain[pos] = a.payload;
    }
    ++pos;
  }
  if ((*j)->next_offset() != pos) return "the journal ends at " + std::to_string((*j)->next_offset()) + ", the commits at " + std::to_string(pos);
  auto view = test::ReadView(**j, 0, Filter::for_topics({"t"}));
  if (!view.ok()) return "read: " + view.status().ToString();
  if (view->size() != plain.size()) return "plain topic has " + std::to_string(view->size()) + " events, " + std::to_string(plain.size()) + " committed";
  for (const auto& e : *view) {
    if (plain[e.offset] != e.payload) return "plain event at offset " + std::to_string(e.offset) + " differs";
  }
  // Positioning by the catalog's index after rewritten segments.
  for (const auto& [off, payload] : plain) {
    auto cur = (*j)->open_cursor(off, Filter::for_topics({"t"}));
    if (!cur.ok()) return "cursor: " + cur.status().ToString();
    auto e = cur->next();
    if (!e.ok() || !e->has_value() || (**e).offset != off) return "a cursor opened at offset " + std::to_string(off) + " starts elsewhere";
  }
  auto got = (*j)->rebuild("kv");
  if (!got.ok()) return "rebuild: " + got.status().ToString();
  if (got->encoded != fold.encode(*want)) return "the rebuilt state of kv differs from the fold of its commits";
  if (run.compactions_ok > 0) {
    auto snaps = (*j)->snapshots("kv");
    if (!snaps.ok() || snaps->empty()) return "a compaction returned OK but no snapshot of kv is listed";
  }
  auto topics = (*j)->topics();
  if (!topics.ok()) return "topics: " + topics.status().ToString();
  for (const auto& t : *topics) {
    const std::uint64_t want_events = t.name == "t" ? plain.size() : pos - plain.size();
    if (t.events != want_events) {
      return "topic " + t.name + " counts " + std::to_string(t.events) + " events, " + std::to_string(want_events) + " committed";
    }
  }
  if (auto snap = (*j)->compact("kv"); !snap.ok()) return "compact after reopen: " + snap.status().ToString();
  if (Status c = (*j)->close(); !c.ok()) return "close after reopen: " + c.ToString();
  if (std::string p = test::WalkProblems(dir, /*allow_tail=*/false); !p.empty()) return "after reopen: " + p;
  return std::string();
}

// ---- the walk ----

struct Variant {
  int err;
  bool sticky;
  const char* name;
};
constexpr Variant kVariants[] = {{EIO, false, "EIO once"}, {ENOSPC, true, "ENOSPC from then on"}};

std::string Describe(const Run& run) {
  std::string s = std::to_string(run.errors.size()) + " errors:";
  for (std::size_t e = 0; e < run.errors.size() && e < 3; ++e) s += " [" + run.errors[e] + "]";
  return s;
}

// Runs `workload(dir, run)` clean (counting its catalog calls), then with
// each call failing in each variant; `check(dir, run)` afterwards, without
// faults. Returns the number of faulted runs.
template <typename R, typename Work, typename Check>
int Walk(const char* name, Work work, Check check) {
  long total = 0;
  {
    TempDir d;
    R run;
    lmdb_fault::Arm(d.sub("j"), 0, 0, false);
    work(d.path(), &run);
    total = lmdb_fault::Disarm();
    const std::string desc = std::string(name) + " clean run: " + Describe(run);
    INFO(desc);
    REQUIRE(run.errors.empty());
    REQUIRE(total > 0);  // the hooks see LMDB's writes
    CHECK(check(d.path(), run) == "");
  }
  int runs = 0, with_errors = 0, sampled_out = 0;
  test::ScaledSample sample(0xca7a);  // below full scale (TSan), a seeded sample of the calls
  for (const Variant& v : kVariants) {
    for (long at = 1; at <= total; ++at) {
      if (at != 1 && at != total && !sample.Keep()) {
        ++sampled_out;
        continue;
      }
      TempDir d;
      R run;
      lmdb_fault::Arm(d.sub("j"), at, v.err, v.sticky);
      work(d.path(), &run);
      lmdb_fault::Disarm();
      const std::string what = lmdb_fault::fired_what.load();
      const std::string desc = std::string(name) + ": catalog call " + std::to_string(at) + " of " + std::to_string(total) +
                               " (" + what + ") failed, " + v.name + "; " + Describe(run);
      INFO(desc);
      CHECK(ErrorsNameCatalog(d.sub("j"), run) == "");
      lmdb_fault::Arm("/nonexistent", 0, 0, false);  // no faults, no syncs
      CHECK(check(d.path(), run) == "");
      lmdb_fault::Disarm();
      ++runs;
      with_errors += run.errors.empty() ? 0 : 1;
    }
  }
  std::printf("catalog faults, %s: %ld catalog calls, %d faulted runs, %d of them reported an error\n", name, total, runs,
              with_errors);
  if (!sample.full()) {
    std::printf("catalog faults, %s: scale %d%%: %d faulted runs sampled out, each kept with probability %.2f\n", name,
                test::Scaled(100), sampled_out, sample.probability());
  }
  return runs;
}

}  // namespace

TEST_CASE("the hooks see the catalog's writes and syncs, and a failed one reaches LMDB as its errno") {
  TempDir d;
  lmdb_fault::Arm(d.sub("j"), 0, 0, false);
  auto j = test::RequireOk(Journal::open(d.sub("j"), JournalOptions()));
  const long on_open = lmdb_fault::Disarm();
  CHECK(on_open > 0);
  // Every catalog write fails from now on: the next offset save says so,
  // naming the catalog, with the code of a full disk.
  auto st = test::RequireOk(OffsetStore::open(**j));
  lmdb_fault::Arm(d.sub("j"), 1, ENOSPC, true);
  Status s = (*st)->save("c", 1);
  lmdb_fault::Disarm();
  CHECK(lmdb_fault::failed.load() > 0);
  CHECK(s.code() == Code::kNoSpace);
  CHECK(s.message().find(d.sub("j") + "/catalog") != std::string::npos);
  TXJ_CHECK_OK((*j)->close());
}

namespace {

// The fault walk over RunCheckpoints (with `tear`: a torn tail for the
// second open to cut), checked by CheckCommits.
void WalkCheckpoints(const char* name, bool tear) {
  Walk<Commits>(name, [tear](const std::string& root, Commits* r) { RunCheckpoints(root + "/j", r, tear); },
                [](const std::string& root, const Commits& r) { return CheckCommits(root + "/j", r); });
}

}  // namespace

TEST_CASE("a failing catalog write at checkpoints or while opening loses no acknowledged commit") {
  WalkCheckpoints("checkpoints and opening", /*tear=*/false);
}

TEST_CASE("a failing catalog write while an open cuts a torn tail loses no acknowledged commit, and the next open heals") {
  WalkCheckpoints("cutting a torn tail", /*tear=*/true);
}

TEST_CASE("a consumer offset whose catalog write failed is not reported saved, and every acknowledged one survives") {
  Walk<Offsets>("consumer offsets",
                [](const std::string& root, Offsets* r) { RunOffsets(root + "/j", r); },
                [](const std::string& root, const Offsets& r) { return CheckOffsets(root + "/j", r); });
}

TEST_CASE("a session whose decision failed to reach the catalog is not applied, and every committed one survives") {
  Walk<Sessions>("sessions",
                 [](const std::string& root, Sessions* r) { RunSessions(root + "/j", root + "/kv", r); },
                 [](const std::string& root, const Sessions& r) { return CheckSessions(root + "/j", root + "/kv", r); });
}

TEST_CASE("a failing catalog write during compaction loses no commit and leaves the compacted state whole") {
  Walk<Compaction>("compaction",
                   [](const std::string& root, Compaction* r) { RunCompaction(root + "/j", r); },
                   [](const std::string& root, const Compaction& r) { return CheckCompaction(root + "/j", r); });
}

namespace {

std::uint64_t CountOf(Journal& j, const std::string& topic) {
  auto t = j.topics();
  REQUIRE(t.ok());
  for (const auto& i : *t) {
    if (i.name == topic) return i.events;
  }
  return 0;
}

void CommitTo(Journal& j, const std::string& topic, int n) {
  for (int i = 0; i < n; ++i) {
    test::CommitOne(j, topic, "e", "x" + std::to_string(i), {.key = "k" + std::to_string(i)});
  }
}

}  // namespace

TEST_CASE("events whose topic counts failed to reach the catalog are counted again, not dropped from the counts") {
  TempDir d;
  const std::string dir = d.sub("j");
  {
    auto j = test::OpenOrDie(dir, JournalOptions());
    CommitTo(*j, "a", 3);
    lmdb_fault::Arm(dir, 1, ENOSPC, true);
    auto t = j->topics();
    lmdb_fault::Disarm();
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().code() == Code::kNoSpace);
    CHECK(t.status().message().find(dir + "/catalog") != std::string::npos);
    CHECK(CountOf(*j, "a") == 3);
    CommitTo(*j, "a", 1);
    CHECK(CountOf(*j, "a") == 4);
    TXJ_REQUIRE_OK(j->close());
  }
  auto j = test::OpenOrDie(dir, JournalOptions());
  CHECK(CountOf(*j, "a") == 4);
  TXJ_CHECK_OK(j->close());
}

TEST_CASE("topic counts carried by a checkpoint that failed are counted again, not dropped from the counts") {
  TempDir d;
  const std::string dir = d.sub("j");
  int committed = 0;
  {
    auto j = test::OpenOrDie(dir, JournalOptions());
    // A policy makes every checkpoint carry the topic counts.
    TXJ_REQUIRE_OK(j->register_compactor("a", std::make_shared<LatestByKeyCompactor>(), {.every_events = 100000}));
    CommitTo(*j, "a", 2);
    committed += 2;
    // Checkpoints fail for a while (one at least: big commits seal segments,
    // and each seal writes one), then go through again.
    lmdb_fault::Arm(dir, 1, ENOSPC, true);
    for (int i = 0; i < 400 && lmdb_fault::failed.load() == 0; ++i) {
      test::CommitOne(*j, "a", "e", std::string(20000, 'z'), {.key = "big"});
      ++committed;
      if (i > 8) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    lmdb_fault::Disarm();
    REQUIRE(lmdb_fault::failed.load() > 0);
    CommitTo(*j, "a", 2);
    committed += 2;
    TXJ_REQUIRE_OK(j->close());
  }
  auto j = test::OpenOrDie(dir, JournalOptions());
  CHECK(CountOf(*j, "a") == static_cast<std::uint64_t>(committed));
  TXJ_CHECK_OK(j->close());
}

TEST_CASE("an offset save that fails in the catalog names the consumer and the offset, and the last saved one stays") {
  TempDir d;
  const std::string dir = d.sub("j");
  auto j = test::OpenOrDie(dir, JournalOptions());
  auto st = test::RequireOk(OffsetStore::open(*j));
  TXJ_REQUIRE_OK((*st)->commit_with("c1", 1, [](KvTxn& t) { return t.put("state", "c1", "1"); }));
  lmdb_fault::Arm(dir, 1, ENOSPC, true);
  Status s = (*st)->commit_with("c1", 2, [](KvTxn& t) { return t.put("state", "c1", "2"); });
  lmdb_fault::Disarm();
  REQUIRE_FALSE(s.ok());
  INFO(s.ToString());
  CHECK(s.code() == Code::kNoSpace);
  CHECK(s.message().find("consumer c1") != std::string::npos);
  CHECK(s.message().find("offset 2") != std::string::npos);
  CHECK(s.message().find(dir + "/catalog") != std::string::npos);
  // A handler's own error comes back as it was.
  Status mine = (*st)->commit_with("c1", 2, [](KvTxn&) { return Status::InvalidArgument("handler says no"); });
  CHECK(mine.message() == "handler says no");
  auto off = test::RequireOk((*st)->load("c1"));
  CHECK(*off == 1);
  auto state = test::RequireOk((*st)->get("state", "c1"));
  CHECK(state->value_or("") == "1");
  TXJ_CHECK_OK(j->close());
}

TEST_CASE("a session whose decision fails to reach the catalog says it is not committed, and recover() rolls it back") {
  TempDir d;
  const std::string dir = d.sub("j");
  auto j = test::OpenOrDie(dir, JournalOptions());
  std::shared_ptr<KvParticipant> kvp = test::RequireOk(KvParticipant::open(d.sub("kv"))).value();
  auto mc = test::RequireOk(MultiCommitter::open(*j));
  TXJ_REQUIRE_OK((*mc)->register_participant("kv", kvp));
  TXJ_REQUIRE_OK((*mc)->begin("s0"));
  TXJ_REQUIRE_OK(kvp->put("balance", "100"));
  // The kv participant prepares in its own store; the first catalog write
  // of commit() is the decision.
  lmdb_fault::Arm(dir, 1, ENOSPC, true);
  auto id = (*mc)->commit("s0");
  lmdb_fault::Disarm();
  REQUIRE_FALSE(id.ok());
  INFO(id.status().ToString());
  CHECK(id.status().code() == Code::kNoSpace);
  CHECK(id.status().message().find("session s0") != std::string::npos);
  CHECK(id.status().message().find("not committed") != std::string::npos);
  CHECK(id.status().message().find(dir + "/catalog") != std::string::npos);
  auto bal = test::RequireOk(kvp->get("balance"));
  CHECK_FALSE(bal->has_value());
  auto rec = test::RequireOk((*mc)->recover());
  CHECK(rec->value_or("") == "s0");
  bal = kvp->get("balance");
  TXJ_REQUIRE_OK(bal);
  CHECK_FALSE(bal->has_value());
  auto done = test::RequireOk((*mc)->result_of("s0"));
  CHECK_FALSE(done->has_value());
  TXJ_REQUIRE_OK((*mc)->begin("s1"));
  TXJ_REQUIRE_OK(kvp->put("balance", "200"));
  TXJ_REQUIRE_OK((*mc)->commit("s1"));
  TXJ_CHECK_OK(j->close());
}

TEST_CASE("after a catalog meta-page write failed, later catalog errors say to reopen the journal, and reopening heals it") {
  TempDir d;
  const std::string dir = d.sub("j");
  std::uint64_t saved = 0;
  {
    auto j = test::OpenOrDie(dir, JournalOptions());
    auto st = test::RequireOk(OffsetStore::open(*j));
    TXJ_REQUIRE_OK((*st)->save("c", ++saved));
    // The write of the meta page fails (LMDB writes it after the data
    // pages and their sync), once.
    lmdb_fault::Arm(dir, 1, EIO, false);
    lmdb_fault::meta_only = true;
    Status meta = (*st)->save("c", saved + 1);
    lmdb_fault::Disarm();
    REQUIRE(lmdb_fault::failed.load() == 1);
    INFO("failed call: ", std::string(lmdb_fault::fired_what.load()), "; ", meta.ToString());
    CHECK_FALSE(meta.ok());
    Status later = (*st)->save("c", saved + 1);
    INFO(later.ToString());
    CHECK(later.code() == Code::kIOError);
    CHECK(later.message().find("consumer c") != std::string::npos);
    CHECK(later.message().find(dir + "/catalog") != std::string::npos);
    CHECK(later.message().find("open it again") != std::string::npos);
    CHECK_FALSE((*st)->load("c").ok());
    (void)j->close();
  }
  auto j = test::OpenOrDie(dir, JournalOptions());
  auto st = test::RequireOk(OffsetStore::open(*j));
  auto off = test::RequireOk((*st)->load("c"));
  CHECK(*off == saved);
  TXJ_CHECK_OK((*st)->save("c", saved + 1));
  TXJ_CHECK_OK(j->close());
}
