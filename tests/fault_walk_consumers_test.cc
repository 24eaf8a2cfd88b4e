// Fault injection with a consumer: every file-system call of a writer that
// commits while a consumer in the same process follows the journal (its
// offset and state in the catalog, StoredOffsetHandler) is failed in turn.
// Afterwards the journal is reopened with the default file system and the
// consumer resumes to the end: every committed event must have been handled
// exactly once across both runs, every acknowledged commit must be there,
// and the walk must be clean.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "fault_fs.h"
#include "fault_walk.h"
#include "fault_walk_common.h"
#include "reliability_workload.h"
#include "test_util.h"
#include "txjournal/consumer.h"
#include "txjournal/offset_store.h"

using namespace txj;
using namespace std::chrono_literals;

namespace {

constexpr int kCommits = 24;

struct Run {
  std::vector<std::uint64_t> acked_offsets;  // first offset of each acknowledged commit (2 events each)
  std::vector<std::string> errors;
};

// Counts each event in the catalog, in the same LMDB transaction as the
// offset: "total" and one row per offset with how often it was handled.
StoredOffsetHandler::Fn Counting() {
  return [](const Event& e, KvTxn& t) -> Status {
    auto cur = t.get("counts", "total");
    if (!cur.ok()) return cur.status();
    const std::uint64_t n = cur->has_value() ? std::stoull(**cur) : 0;
    TXJ_RETURN_IF_ERROR(t.put("counts", "total", std::to_string(n + 1)));
    const std::string k = std::to_string(e.offset);
    auto seen = t.get("seen", k);
    if (!seen.ok()) return seen.status();
    const std::uint64_t times = seen->has_value() ? std::stoull(**seen) : 0;
    return t.put("seen", k, std::to_string(times + 1));
  };
}

// Runs a consumer until it has handled everything below `end` or `deadline`.
void Consume(Journal& j, OffsetStore& store, std::stop_source& stop) {
  StoredOffsetHandler h(store, "counter", Counting());
  ConsumerOptions co;
  co.filter = Filter::all();
  Consumer c(j, h, co);
  (void)c.run(stop.get_token());
}

void RunWriterAndConsumer(const std::string& dir, const std::shared_ptr<FileSystem>& fs, Run* run) {
  auto j = test::OpenOnFaults(dir, fs, &run->errors);
  if (!j) return;
  auto store = OffsetStore::open(*j);
  if (!store.ok()) {
    run->errors.push_back("offset store: " + store.status().ToString());
    (void)j->close();
    return;
  }
  std::stop_source stop;
  std::thread consumer([&] { Consume(*j, **store, stop); });
  for (int i = 0; i < kCommits; ++i) {
    auto tx = j->begin();
    if (!tx.ok()) {
      run->errors.push_back("begin: " + tx.status().ToString());
      break;
    }
    const std::string payload(1500 + 500 * (i % 7), static_cast<char>('a' + i % 26));
    Status s = tx->append("t", "e", payload);
    if (s.ok()) s = tx->append("t", "f", payload);
    if (!s.ok()) {
      run->errors.push_back("append: " + s.ToString());
      break;
    }
    auto info = tx->commit();
    if (!info.ok()) {
      run->errors.push_back("commit: " + info.status().ToString());
      break;
    }
    run->acked_offsets.push_back(info->first_offset);
  }
  // Let the consumer catch up with what is visible, then stop it.
  const std::uint64_t visible = j->next_offset();
  for (int w = 0; w < 300; ++w) {
    auto off = (*store)->load("counter");
    if (!off.ok() || *off >= visible) break;
    std::this_thread::sleep_for(5ms);
  }
  stop.request_stop();
  consumer.join();
  Status c = j->close();
  if (!c.ok()) run->errors.push_back("close: " + c.ToString());
}

std::string Check(const std::string& dir, const Run& run) {
  std::unique_ptr<Journal> j;
  const std::string promised = run.acked_offsets.empty() ? "" : "no manifest, but commits were acknowledged";
  if (std::string p = test::ReopenForCheck(dir, promised, &j); !j) return p;
  const std::uint64_t end = j->next_offset();
  for (std::size_t k = 0; k < run.acked_offsets.size(); ++k) {
    if (run.acked_offsets[k] != 2 * k) return "acknowledged commit " + std::to_string(k) + " at an unexpected offset";
  }
  if (end < 2 * run.acked_offsets.size()) return "acknowledged commits missing: the journal ends at " + std::to_string(end);
  if (end > 2 * run.acked_offsets.size() + 2 || end % 2 != 0) {
    return "the journal ends at offset " + std::to_string(end) + ": more than the in-flight commit, or half of it";
  }
  auto store = OffsetStore::open(*j);
  if (!store.ok()) return "offset store: " + store.status().ToString();
  std::stop_source stop;
  std::thread consumer([&] { Consume(*j, **store, stop); });
  std::uint64_t reached = 0;
  for (int w = 0; w < 1000; ++w) {
    auto off = (*store)->load("counter");
    if (off.ok()) reached = *off;
    if (reached >= end) break;
    std::this_thread::sleep_for(5ms);
  }
  stop.request_stop();
  consumer.join();
  if (reached != end) return "the consumer reached offset " + std::to_string(reached) + " of " + std::to_string(end);
  auto total = (*store)->get("counts", "total");
  const std::uint64_t handled = total.ok() && total->has_value() ? std::stoull(**total) : 0;
  if (handled != end) return std::to_string(handled) + " events handled for " + std::to_string(end) + " committed";
  for (std::uint64_t off = 0; off < end; ++off) {
    auto seen = (*store)->get("seen", std::to_string(off));
    if (!seen.ok() || !seen->has_value() || **seen != "1") {
      return "event " + std::to_string(off) + " handled " + (seen.ok() && seen->has_value() ? **seen : "0") + " times";
    }
  }
  return test::ClosesSound(*j, dir);
}

std::string Describe(const Run& run) {
  std::string s = std::to_string(run.acked_offsets.size()) + " of " + std::to_string(kCommits) +
                  " commits acknowledged; errors:";
  return s + test::FirstErrors(run.errors);
}

}  // namespace

TEST_CASE("every file-system call of a writer followed by a consumer can fail and each event is handled once") {
  test::RunFaultWalk(test::OneJournalWalk<Run>("consumers", RunWriterAndConsumer, Check, Describe,
                                               [](const Run& run) { return run.acked_offsets.size() == kCommits; }));
}
