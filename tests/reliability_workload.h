// The small workload of the reliability tests (fault injection, power
// loss), and the check of what a reopened journal holds afterwards.
//
// The workload runs a fixed number of top-level transactions with nested
// sub-transactions, sub rollbacks, the occasional big event (so that
// transactions span segment rolls of 64 KiB segments), and top-level
// commits and rollbacks. It never stops at an error: a failed call rolls the
// transaction back (by dropping its handles) and the next one is tried, so a
// journal that recovers from a transient failure is seen to go on, and one
// that failed closed is seen to refuse everything after.
//
// It logs every top-level commit() it calls, in order, with the events that
// transaction must hold if it survives, and whether commit() returned OK.
#ifndef TXJOURNAL_TESTS_RELIABILITY_WORKLOAD_H_
#define TXJOURNAL_TESTS_RELIABILITY_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"
#include "txjournal/walk.h"
#include "txn_model.h"

namespace txj::test {

struct WorkloadShape {
  int txns = 24;
  std::size_t max_payload = 2500;
  std::size_t big_payload = 24000;  // about one in ten transactions has one
};

struct AttemptedCommit {
  std::uint64_t txn_id = 0;
  std::vector<ModelEvent> events;  // what it must hold (offsets unknown until matched)
  Code code = Code::kOk;           // what commit() returned
  CommitInfo info;                 // when it returned OK
  bool acked() const { return code == Code::kOk; }
};

struct WorkloadLog {
  std::vector<AttemptedCommit> commits;  // every top-level commit() called, in call order
  // Number of entries of `commits` whose commit() has returned. Read by
  // other threads (the power-loss observer) while the workload runs.
  std::atomic<std::size_t> settled{0};
  // The id of the last top-level transaction begin() handed out (read by the
  // power-loss observer too).
  std::atomic<std::uint64_t> last_begun{0};
  std::vector<std::string> errors;  // every failed call: "what: status"
  Status open_status;
  Status close_status;
  bool saw_failed = false;          // some call returned kFailed (in this session)
  int failed_sessions = 0;          // earlier sessions that failed closed
  bool stuck = false;               // the journal refused commits without having failed closed
  std::string violation;            // set when a call succeeded after kFailed

  void Note(const std::string& what, const Status& s) {
    errors.push_back(what + ": " + s.ToString());
    if (s.code() == Code::kFailed) saw_failed = true;
  }
  void NoteSuccess(const std::string& what) {
    if (saw_failed && violation.empty()) violation = what + " succeeded after the journal failed closed";
  }
  std::size_t acked_count() const {
    std::size_t n = 0;
    for (const auto& c : commits) n += c.acked() ? 1 : 0;
    return n;
  }
};

// Runs the workload on an open journal. Does not close it.
inline void RunWorkload(Journal& j, std::uint64_t seed, const WorkloadShape& shape, WorkloadLog* log) {
  TxnDriver::Config cfg;
  cfg.max_payload = shape.max_payload;
  cfg.big_payload = 0;
  TxnDriver gen(seed, cfg);
  for (int t = 0; t < shape.txns; ++t) {
    auto top = j.begin();
    if (!top.ok()) {
      log->Note("begin", top.status());
      continue;
    }
    log->NoteSuccess("begin");
    const std::uint64_t id = top->id();
    log->last_begun = id;
    std::vector<Transaction> handles;
    std::vector<std::vector<ModelEvent>> levels;
    handles.push_back(std::move(top).value());
    levels.emplace_back();
    bool broken = false;
    auto append = [&](std::size_t big) {
      ModelEvent e = gen.RandomEvent(id);
      if (big) e.payload = gen.Bytes(big);
      AppendOptions ao;
      if (e.key) ao.key = std::string_view(*e.key);
      ao.timestamp_ns = e.timestamp_ns;
      Status s = handles.back().append(e.topic, e.type, e.payload, ao);
      if (!s.ok()) {
        log->Note("append", s);
        broken = true;
        return;
      }
      levels.back().push_back(std::move(e));
    };
    auto sub_begin = [&] {
      auto sub = handles.back().begin();
      if (!sub.ok()) {
        log->Note("sub begin", sub.status());
        broken = true;
        return;
      }
      handles.push_back(std::move(sub).value());
      levels.emplace_back();
    };
    auto sub_end = [&](bool commit) {
      if (commit) {
        auto info = handles.back().commit();
        if (!info.ok()) {
          log->Note("sub commit", info.status());
          broken = true;
          return;
        }
        PopLevel(&levels, &handles, /*committed=*/true);
      } else {
        Status s = handles.back().rollback();
        PopLevel(&levels, &handles, /*committed=*/false);
        if (!s.ok()) {
          log->Note("sub rollback", s);
          broken = true;
        }
      }
    };
    const int plan = static_cast<int>(gen.Uniform(0, 99));
    const int top_events = static_cast<int>(gen.Uniform(0, 4));
    for (int i = 0; i < top_events && !broken; ++i) append(0);
    if (plan < 60 && !broken) {
      sub_begin();
      const int n = static_cast<int>(gen.Uniform(1, 3));
      for (int i = 0; i < n && !broken; ++i) append(0);
      if (plan < 25 && !broken) {
        sub_begin();
        const int m = static_cast<int>(gen.Uniform(1, 2));
        for (int i = 0; i < m && !broken; ++i) append(0);
        if (!broken) sub_end(gen.Uniform(0, 2) != 0);
      }
      if (!broken) sub_end(gen.Uniform(0, 9) < 7);
    }
    if (!broken && shape.big_payload && gen.Uniform(0, 9) == 0) {
      append(static_cast<std::size_t>(gen.Uniform(shape.big_payload / 2, shape.big_payload)));
    }
    if (!broken && gen.Uniform(0, 1) == 0) append(0);
    if (broken) {
      handles.clear();  // dropping the top-level handle rolls everything back
      continue;
    }
    if (gen.Uniform(0, 9) < 8) {
      AttemptedCommit c;
      c.txn_id = id;
      c.events = levels[0];
      log->commits.push_back(std::move(c));
      auto info = handles[0].commit();
      AttemptedCommit& mine = log->commits.back();
      if (info.ok()) {
        mine.info = *info;
        log->NoteSuccess("commit of transaction " + std::to_string(id));
      } else {
        mine.code = info.status().code();
        log->Note("commit", info.status());
      }
      log->settled.store(log->commits.size());
    } else {
      Status s = handles[0].rollback();
      if (!s.ok()) log->Note("rollback", s);
    }
    handles.clear();
  }
}

// What a reopened journal must hold, compared with a workload log.
struct ViewCheck {
  // Entries of log.commits below this index that were acknowledged must be
  // present (the power-loss test passes what was acknowledged at the crash).
  std::size_t required_upto = SIZE_MAX;
  // The recovered transactions must be a prefix of the commit order (power
  // loss), instead of an ordered subset of it (failed calls may drop a
  // transaction whose commit() failed while later ones succeed).
  bool prefix = false;
};

// Checks the committed view of `j` against `log`. Returns an empty string
// when it holds, else what is wrong. `*recovered` gets the number of
// transactions of the log found (those without events cannot be seen and
// are not counted).
inline std::string CheckView(Journal& j, const WorkloadLog& log, const ViewCheck& how, std::size_t* recovered = nullptr) {
  auto view = ReadView(j);
  if (!view.ok()) return "reading the committed view: " + view.status().ToString();
  const auto& ev = *view;
  std::size_t i = 0;       // next event of the view
  std::size_t k = 0;       // next entry of log.commits
  std::size_t found = 0;
  bool skipped_visible = false;  // a transaction with events was not found
  const std::size_t n = log.commits.size();
  while (i < ev.size()) {
    const std::uint64_t id = ev[i].txn_id;
    if (ev[i].offset != i) return "offsets are not dense: event " + std::to_string(i) + " has offset " + std::to_string(ev[i].offset);
    while (k < n && log.commits[k].txn_id != id) {
      const auto& c = log.commits[k];
      if (!c.events.empty()) {
        if (c.acked() && k < how.required_upto) {
          return "acknowledged transaction " + std::to_string(c.txn_id) + " (" + std::to_string(c.events.size()) +
                 " events, first offset " + std::to_string(c.info.first_offset) + ") is missing";
        }
        skipped_visible = true;
      }
      ++k;
    }
    if (k == n) {
      return "the view holds events of transaction " + std::to_string(id) + " at offset " + std::to_string(i) +
             " that is not a committed transaction of the workload (or out of order)";
    }
    if (how.prefix && skipped_visible) {
      return "transaction " + std::to_string(id) + " survived but an earlier one did not: not a prefix of the commit order";
    }
    const auto& c = log.commits[k];
    if (c.acked() && c.info.first_offset != i) {
      return "acknowledged transaction " + std::to_string(id) + " starts at offset " + std::to_string(i) +
             ", commit() said " + std::to_string(c.info.first_offset);
    }
    for (std::size_t e = 0; e < c.events.size(); ++e, ++i) {
      if (i >= ev.size() || ev[i].txn_id != id) {
        return "transaction " + std::to_string(id) + " is partial: " + std::to_string(e) + " of " +
               std::to_string(c.events.size()) + " events";
      }
      ModelEvent want = c.events[e];
      want.offset = i;
      const ModelEvent& g = ev[i];
      Event got;
      got.offset = g.offset;
      got.txn_id = g.txn_id;
      got.timestamp_ns = g.timestamp_ns;
      got.topic = g.topic;
      got.type = g.type;
      if (g.key) got.key = std::string_view(*g.key);
      got.payload = g.payload;
      std::string why;
      if (!SameEvent(want, got, &why)) return "transaction " + std::to_string(id) + ": " + why;
    }
    if (i < ev.size() && ev[i].txn_id == id) {
      return "transaction " + std::to_string(id) + " has more events than it committed";
    }
    ++found;
    ++k;
  }
  for (; k < n && k < how.required_upto; ++k) {
    const auto& c = log.commits[k];
    if (c.acked() && !c.events.empty()) {
      return "acknowledged transaction " + std::to_string(c.txn_id) + " (" + std::to_string(c.events.size()) +
             " events, first offset " + std::to_string(c.info.first_offset) + ") is missing at the end";
    }
  }
  if (j.next_offset() != ev.size()) {
    return "next_offset() is " + std::to_string(j.next_offset()) + " but the view holds " + std::to_string(ev.size()) +
           " events";
  }
  if (recovered) *recovered = found;
  return std::string();
}

// Walks the journal (no lock, no change) and returns its problems as text,
// empty when it has none. With `allow_tail`, what a crash leaves at the tail
// is not a problem.
inline std::string WalkProblems(const std::string& dir, bool allow_tail) {
  auto w = WalkJournal(dir);
  if (!w.ok()) return "walk: " + w.status().ToString();
  std::string out;
  for (const auto& p : w->problems) {
    out += p.file + " at byte " + std::to_string(p.file_offset) + ": " + p.message + "; ";
  }
  if (!allow_tail) {
    for (const auto& t : w->tail) out += "tail: " + t + "; ";
  }
  return out;
}

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_RELIABILITY_WORKLOAD_H_
