// A model of the committed view and a driver of random nested transactions,
// shared by the model-based and crash tests.
//
// The driver runs one random top-level transaction at a time against a
// journal: a random tree of sub-transactions with random appends, sub
// commits, sub rollbacks and abandoned handles, ending in a commit, a
// rollback or an abandoned top-level handle. Alongside it keeps the events
// that must survive, in record order, so the caller can extend its model of
// the committed view exactly as the journal must.
#ifndef TXJOURNAL_TESTS_TXN_MODEL_H_
#define TXJOURNAL_TESTS_TXN_MODEL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace txj::test {

struct ModelEvent {
  std::uint64_t offset = 0;
  std::uint64_t txn_id = 0;
  std::uint64_t timestamp_ns = 0;  // 0: not chosen by the test (not compared)
  std::string topic, type;
  std::optional<std::string> key;
  std::string payload;
};

inline bool SameEvent(const ModelEvent& want, const Event& got, std::string* why) {
  auto fail = [&](const std::string& what) {
    *why = "offset " + std::to_string(want.offset) + ": " + what;
    return false;
  };
  if (got.offset != want.offset) return fail("offset is " + std::to_string(got.offset));
  if (got.txn_id != want.txn_id) {
    return fail("txn id is " + std::to_string(got.txn_id) + ", want " + std::to_string(want.txn_id));
  }
  if (got.topic != want.topic) return fail("topic is '" + std::string(got.topic) + "', want '" + want.topic + "'");
  if (got.type != want.type) return fail("type is '" + std::string(got.type) + "', want '" + want.type + "'");
  if (got.key.has_value() != want.key.has_value()) return fail("key presence differs");
  if (got.key && *got.key != *want.key) return fail("key differs");
  if (got.payload != want.payload) {
    return fail("payload differs (" + std::to_string(got.payload.size()) + " bytes, want " +
                std::to_string(want.payload.size()) + ")");
  }
  if (want.timestamp_ns != 0 && got.timestamp_ns != want.timestamp_ns) return fail("timestamp differs");
  if (want.timestamp_ns == 0 && got.timestamp_ns == 0) return fail("no timestamp");
  return true;
}

// Order-sensitive digest of a transaction's surviving events (FNV-1a over
// length-prefixed fields), for comparing across processes.
inline std::uint64_t DigestEvents(const std::vector<ModelEvent>& events) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    std::uint64_t n = s.size();
    for (int i = 0; i < 8; ++i) {
      h ^= (n >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  for (const auto& e : events) {
    mix(e.topic);
    mix(e.type);
    mix(e.key ? "k" + *e.key : std::string("-"));
    mix(e.payload);
  }
  return h;
}

inline ModelEvent Copy(const Event& e) {
  ModelEvent m;
  m.offset = e.offset;
  m.txn_id = e.txn_id;
  m.timestamp_ns = e.timestamp_ns;
  m.topic = std::string(e.topic);
  m.type = std::string(e.type);
  if (e.key) m.key = std::string(*e.key);
  m.payload = std::string(e.payload);
  return m;
}

// Reads the committed view from `from` (at most `limit` events).
inline Result<std::vector<ModelEvent>> ReadView(Journal& j, std::uint64_t from = 0, const Filter& f = Filter::all(),
                                                std::size_t limit = SIZE_MAX) {
  auto c = j.open_cursor(from, f);
  if (!c.ok()) return c.status();
  std::vector<ModelEvent> out;
  while (out.size() < limit) {
    auto e = c->next();
    if (!e.ok()) return e.status();
    if (!e->has_value()) break;
    out.push_back(Copy(**e));
  }
  return out;
}

inline const std::vector<std::string>& ModelTopics() {
  static const std::vector<std::string> t = {"orders", "stock", "billing", "ördér", "日本語", "a.b/c d", "x"};
  return t;
}
inline const std::vector<std::string>& ModelTypes() {
  static const std::vector<std::string> t = {"created", "updated", "", "deleted"};
  return t;
}

// What a driven top-level transaction ended as.
// Ends the deepest of the nested open transactions, whose handles are
// `handles` and whose events so far are `levels` (one per depth): when it
// committed, its events become its parent's; otherwise they are dropped.
template <class Ev>
void PopLevel(std::vector<std::vector<Ev>>* levels, std::vector<Transaction>* handles, bool committed) {
  auto evs = std::move(levels->back());
  levels->pop_back();
  handles->pop_back();
  if (committed) {
    for (auto& e : evs) levels->back().push_back(std::move(e));
  }
}

struct TxnOutcome {
  enum Kind { kCommitted, kRolledBack, kAbandoned } kind = kCommitted;
  std::uint64_t txn_id = 0;
  CommitInfo info;                  // when committed
  std::vector<ModelEvent> events;   // surviving events in order (offsets filled in when committed)
};

class TxnDriver {
 public:
  struct Config {
    int max_ops = 40;              // operations per top-level transaction
    int max_depth = 14;
    std::size_t max_payload = 3000;  // usual payloads are below this
    std::size_t big_payload = 0;   // occasionally a payload this big (0: never)
    bool check_errors = true;      // probe kInvalidState rules on the way
  };

  explicit TxnDriver(std::uint64_t seed, Config c) : rng_(seed), cfg_(c) {}
  TxnDriver(std::uint64_t seed) : TxnDriver(seed, Config{}) {}

  std::mt19937_64& rng() { return rng_; }

  // Runs one random top-level transaction. `before_commit` (if set) is
  // called with the transaction id and its surviving events just before the
  // top-level commit() is called. Errors are reported as failed checks;
  // returns false if the journal refused something unexpectedly.
  // `failure` receives a description when false is returned.
  bool Run(Journal& j, TxnOutcome* out, std::string* failure,
           const std::function<void(std::uint64_t, const std::vector<ModelEvent>&)>& before_commit = {}) {
    out->events.clear();
    auto top = j.begin();
    if (!top.ok()) return Fail(failure, "begin: " + top.status().ToString());
    out->txn_id = top->id();
    std::vector<Transaction> handles;
    std::vector<std::vector<ModelEvent>> levels;
    handles.push_back(std::move(top).value());
    levels.emplace_back();
    const int ops = static_cast<int>(Uniform(0, static_cast<std::uint64_t>(cfg_.max_ops)));
    for (int i = 0; i < ops; ++i) {
      const std::uint64_t pick = Uniform(0, 99);
      const std::size_t depth = handles.size() - 1;
      if (pick < 50) {
        ModelEvent e = RandomEvent(out->txn_id);
        AppendOptions ao;
        if (e.key) ao.key = std::string_view(*e.key);
        ao.timestamp_ns = e.timestamp_ns;
        Status s = handles.back().append(e.topic, e.type, e.payload, ao);
        if (!s.ok()) return Fail(failure, "append at depth " + std::to_string(depth) + ": " + s.ToString());
        levels.back().push_back(std::move(e));
      } else if (pick < 65) {
        if (depth >= static_cast<std::size_t>(cfg_.max_depth)) continue;
        if (cfg_.check_errors && depth > 0 && Uniform(0, 9) == 0) {
          // The parent of the innermost level is blocked while it is open.
          Transaction& parent = handles[depth - 1];
          if (parent.append("t", "x", "y").code() != Code::kInvalidState) return Fail(failure, "parent append");
          if (parent.begin().status().code() != Code::kInvalidState) return Fail(failure, "parent begin");
          if (parent.commit().status().code() != Code::kInvalidState) return Fail(failure, "parent commit");
          if (parent.rollback().code() != Code::kInvalidState) return Fail(failure, "parent rollback");
        }
        auto sub = handles.back().begin();
        if (!sub.ok()) return Fail(failure, "sub begin: " + sub.status().ToString());
        if (sub->depth() != depth + 1 || sub->id() != out->txn_id || sub->is_top_level()) {
          return Fail(failure, "sub-transaction handle fields");
        }
        handles.push_back(std::move(sub).value());
        levels.emplace_back();
      } else if (pick < 80) {
        if (depth == 0) continue;
        auto info = handles.back().commit();
        if (!info.ok()) return Fail(failure, "sub commit: " + info.status().ToString());
        if (info->count != levels.back().size() || info->txn_id != out->txn_id || info->sub_id == 0) {
          return Fail(failure, "sub commit info counts " + std::to_string(info->count) + ", want " +
                                   std::to_string(levels.back().size()));
        }
        if (cfg_.check_errors && handles.back().append("t", "x", "y").code() != Code::kInvalidState) {
          return Fail(failure, "append on a committed sub-transaction");
        }
        PopLevel(&levels, &handles, /*committed=*/true);
      } else if (pick < 90) {
        if (depth == 0) continue;
        Status s = handles.back().rollback();
        if (!s.ok()) return Fail(failure, "sub rollback: " + s.ToString());
        PopLevel(&levels, &handles, /*committed=*/false);
      } else {
        if (depth == 0) continue;
        // Abandon a random open level: destroying its handle rolls it back
        // with every open descendant; the descendants' handles end too.
        const std::size_t k = static_cast<std::size_t>(Uniform(1, depth));
        if (Uniform(0, 1) == 0) {
          handles[k] = Transaction();  // move-assignment abandons the old one
        } else {
          Transaction doomed = std::move(handles[k]);
          (void)doomed;
        }
        for (std::size_t d = k; d < handles.size(); ++d) {
          if (handles[d].is_open()) return Fail(failure, "a level under an abandoned one is still open");
          if (cfg_.check_errors && handles[d].append("t", "x", "y").code() != Code::kInvalidState) {
            return Fail(failure, "append on an abandoned level");
          }
        }
        handles.resize(k);
        levels.resize(k);
        if (!handles.back().is_open()) return Fail(failure, "the parent of an abandoned level ended");
      }
    }
    // Close the open subs.
    while (handles.size() > 1) {
      if (Uniform(0, 3) != 0) {
        auto info = handles.back().commit();
        if (!info.ok()) return Fail(failure, "sub commit: " + info.status().ToString());
        PopLevel(&levels, &handles, /*committed=*/true);
      } else {
        Status s = handles.back().rollback();
        if (!s.ok()) return Fail(failure, "sub rollback: " + s.ToString());
        PopLevel(&levels, &handles, /*committed=*/false);
      }
    }
    const std::uint64_t end = Uniform(0, 99);
    if (end < 80) {
      if (before_commit) before_commit(out->txn_id, levels[0]);
      auto info = handles[0].commit();
      if (!info.ok()) return Fail(failure, "commit: " + info.status().ToString());
      out->kind = TxnOutcome::kCommitted;
      out->info = *info;
      out->events = std::move(levels[0]);
      for (std::size_t i = 0; i < out->events.size(); ++i) out->events[i].offset = info->first_offset + i;
      if (info->count != out->events.size() || info->txn_id != out->txn_id || info->sub_id != 0) {
        return Fail(failure, "commit info counts " + std::to_string(info->count) + ", want " +
                                 std::to_string(out->events.size()));
      }
      if (cfg_.check_errors && handles[0].commit().status().code() != Code::kInvalidState) {
        return Fail(failure, "second commit");
      }
    } else if (end < 90) {
      Status s = handles[0].rollback();
      if (!s.ok()) return Fail(failure, "rollback: " + s.ToString());
      out->kind = TxnOutcome::kRolledBack;
    } else {
      handles.clear();  // destroying the open top-level handle rolls it back
      out->kind = TxnOutcome::kAbandoned;
    }
    return true;
  }

  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }

  std::string Bytes(std::size_t n) {
    std::string s(n, '\0');
    std::size_t i = 0;
    while (i < n) {
      std::uint64_t v = rng_();
      for (int b = 0; b < 8 && i < n; ++b, ++i) s[i] = static_cast<char>(v >> (8 * b));
    }
    return s;
  }

  ModelEvent RandomEvent(std::uint64_t txn_id) {
    ModelEvent e;
    e.txn_id = txn_id;
    e.topic = ModelTopics()[Uniform(0, ModelTopics().size() - 1)];
    e.type = ModelTypes()[Uniform(0, ModelTypes().size() - 1)];
    const std::uint64_t k = Uniform(0, 9);
    if (k < 2) {
      e.key = std::string();
    } else if (k < 6) {
      e.key = "key-" + std::to_string(Uniform(0, 50));
    }
    if (Uniform(0, 3) == 0) e.timestamp_ns = 1'600'000'000'000'000'000ull + Uniform(0, 1'000'000'000'000ull);
    std::size_t n;
    const std::uint64_t p = Uniform(0, 99);
    if (p < 15) {
      n = 0;
    } else if (cfg_.big_payload && p < 17) {
      n = static_cast<std::size_t>(Uniform(cfg_.big_payload / 2, cfg_.big_payload));
    } else {
      n = static_cast<std::size_t>(Uniform(1, cfg_.max_payload));
    }
    e.payload = Bytes(n);
    return e;
  }

 private:
  static bool Fail(std::string* failure, std::string what) {
    *failure = std::move(what);
    return false;
  }

  std::mt19937_64 rng_;
  Config cfg_;
};

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_TXN_MODEL_H_
