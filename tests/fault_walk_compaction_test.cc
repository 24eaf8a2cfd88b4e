// Fault injection over compaction: every file-system call of a workload that
// commits to a plain topic and to a compacted one, and compacts it in both
// of two sessions, is failed in turn (EIO once or from then on, ENOSPC,
// short writes: tests/fault_fs.h). Compaction goes through the same
// file-system layer (snapshot, mark, segment rewrites, manifest, removals).
//
// After each run the journal is reopened with the default file system and
// must: walk clean; hold every acknowledged commit at its offset, and of the
// others only the one that was in flight, whole or not at all; give the
// plain topic's events exactly; rebuild the compacted topic (snapshot plus
// the rest) to the fold of the commits present; and take a new commit and a
// new compaction.
//
// TXJ_FAULT_VARIANTS=all runs every variant at every call.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fault_fs.h"
#include "fault_walk.h"
#include "fault_walk_common.h"
#include "reliability_workload.h"
#include "test_util.h"
#include "txjournal/compactor.h"

using namespace txj;

namespace {

struct Attempt {
  bool kv = false;
  std::string key, payload;  // kv: the event; plain: the payload of its two events
  std::uint64_t count = 0;
  bool acked = false;
  std::uint64_t first_offset = 0;  // when acked
};

struct Run {
  std::vector<Attempt> attempts;
  std::vector<std::string> errors;
  int compactions_ok = 0;
};

// Two sessions; a session stops at its first error (the journal may have
// failed closed), so at most one commit per session is in doubt.
void RunWorkload(const std::string& dir, const std::shared_ptr<FileSystem>& fs, Run* run) {
  std::mt19937_64 rng(test::Seed() ^ 0xfa17);
  int i = 0;
  for (int session = 0; session < 2; ++session) {
    auto j = Journal::open(dir, test::OnFaults(fs));
    if (!j.ok()) {
      run->errors.push_back("open: " + j.status().ToString());
      continue;
    }
    Status reg = (*j)->register_compactor("kv", std::make_shared<LatestByKeyCompactor>());
    if (!reg.ok()) {
      run->errors.push_back("register: " + reg.ToString());
      (void)(*j)->close();
      continue;
    }
    bool stop = false;
    for (int k = 0; k < 16 && !stop; ++k, ++i) {
      Attempt a;
      a.kv = i % 2 == 1;
      auto tx = (*j)->begin();
      if (!tx.ok()) {
        run->errors.push_back("begin: " + tx.status().ToString());
        break;
      }
      Status s;
      if (a.kv) {
        a.key = "k" + std::to_string(rng() % 4);
        a.payload = "v" + std::to_string(i);
        a.count = 1;
        AppendOptions ao;
        ao.key = a.key;
        s = tx->append("kv", "set", a.payload, ao);
      } else {
        a.payload = std::string(2500 + rng() % 2500, static_cast<char>('a' + i % 26));
        a.count = 2;
        s = tx->append("t", "e", a.payload);
        if (s.ok()) s = tx->append("t", "e", a.payload);
      }
      if (!s.ok()) {
        run->errors.push_back("append: " + s.ToString());
        break;  // the transaction is abandoned: rolled back, never committed
      }
      run->attempts.push_back(a);
      auto info = tx->commit();
      if (!info.ok()) {
        run->errors.push_back("commit: " + info.status().ToString());
        break;
      }
      run->attempts.back().acked = true;
      run->attempts.back().first_offset = info->first_offset;
      if (k == 9 || k == 15) {
        auto snap = (*j)->compact("kv");
        if (!snap.ok()) {
          run->errors.push_back("compact: " + snap.status().ToString());
          stop = snap.status().code() == Code::kFailed;
        } else {
          ++run->compactions_ok;
        }
      }
    }
    Status c = (*j)->close();
    if (!c.ok()) run->errors.push_back("close: " + c.ToString());
  }
}

std::string Check(const std::string& dir, const Run& run) {
  const bool acked = std::any_of(run.attempts.begin(), run.attempts.end(), [](const auto& a) { return a.acked; });
  std::unique_ptr<Journal> j;
  if (std::string p = test::ReopenForCheck(dir, acked ? "no manifest, but commits were acknowledged" : "", &j); !j) {
    return p;
  }
  if (Status s = j->register_compactor("kv", std::make_shared<LatestByKeyCompactor>()); !s.ok()) {
    return "register: " + s.ToString();
  }
  const std::uint64_t end = j->next_offset();
  // Which attempts are in the journal: acknowledged ones at their offsets;
  // one not acknowledged is there whole if the offsets up to the next
  // known position make room for exactly it.
  std::vector<std::pair<const Attempt*, std::uint64_t>> present;  // attempt, first offset
  std::uint64_t pos = 0;
  for (std::size_t a = 0; a < run.attempts.size(); ++a) {
    const Attempt& at = run.attempts[a];
    if (at.acked) {
      if (at.first_offset != pos) {
        return "acknowledged commit " + std::to_string(a) + " at offset " + std::to_string(at.first_offset) +
               ", but the commits before it end at " + std::to_string(pos);
      }
      present.push_back({&at, pos});
      pos += at.count;
      continue;
    }
    std::uint64_t next_known = end;
    for (std::size_t b = a + 1; b < run.attempts.size(); ++b) {
      if (run.attempts[b].acked) {
        next_known = run.attempts[b].first_offset;
        break;
      }
    }
    if (next_known == pos + at.count) {
      present.push_back({&at, pos});
      pos += at.count;
    } else if (next_known != pos) {
      return "offsets " + std::to_string(pos) + ".." + std::to_string(next_known) +
             " hold neither nothing nor the whole in-flight commit " + std::to_string(a);
    }
  }
  if (pos != end) return "the journal ends at offset " + std::to_string(end) + ", the commits at " + std::to_string(pos);
  // The plain topic, event for event.
  auto view = test::ReadView(*j, 0, Filter::for_topics({"t"}));
  if (!view.ok()) return "read: " + view.status().ToString();
  std::size_t k = 0;
  for (const auto& [at, first] : present) {
    if (at->kv) continue;
    for (std::uint64_t e = 0; e < at->count; ++e, ++k) {
      if (k >= view->size()) return "plain event at offset " + std::to_string(first + e) + " is missing";
      if ((*view)[k].offset != first + e || (*view)[k].payload != at->payload) {
        return "plain event at offset " + std::to_string((*view)[k].offset) + " differs";
      }
    }
  }
  if (k != view->size()) return "plain events that no commit wrote";
  // The compacted topic.
  LatestByKeyCompactor fold;
  auto want = fold.initial();
  for (const auto& [at, first] : present) {
    if (!at->kv) continue;
    Event e;
    e.offset = first;
    e.topic = "kv";
    e.type = "set";
    e.key = at->key;
    e.payload = at->payload;
    if (Status s = fold.apply(*want, e); !s.ok()) return "fold: " + s.ToString();
  }
  auto got = j->rebuild("kv");
  if (!got.ok()) return "rebuild: " + got.status().ToString();
  if (got->encoded != fold.encode(*want)) return "the rebuilt state of kv differs from the fold of its commits";
  // It goes on: a commit and a compaction.
  {
    auto tx = j->begin();
    if (!tx.ok()) return "begin after reopen: " + tx.status().ToString();
    AppendOptions ao;
    ao.key = "k0";
    if (Status s = tx->append("kv", "set", "after", ao); !s.ok()) return "append after reopen: " + s.ToString();
    if (auto info = tx->commit(); !info.ok()) return "commit after reopen: " + info.status().ToString();
    if (auto snap = j->compact("kv"); !snap.ok()) return "compact after reopen: " + snap.status().ToString();
  }
  return test::ClosesSound(*j, dir);
}

std::string Describe(const Run& run) {
  int acked = 0;
  for (const auto& a : run.attempts) acked += a.acked ? 1 : 0;
  std::string s = std::to_string(acked) + " of " + std::to_string(run.attempts.size()) + " commits acknowledged, " +
                  std::to_string(run.compactions_ok) + " compactions; errors:";
  return s + test::FirstErrors(run.errors);
}

}  // namespace

TEST_CASE("every file-system call of a compacting workload can fail without losing a commit or the compacted state") {
  test::RunFaultWalk(test::OneJournalWalk<Run>("compaction", RunWorkload, Check, Describe,
                                               [](const Run& run) { return run.compactions_ok == 4; }));
}
