// libFuzzer target: opening (and so recovering) an arbitrary journal
// directory, read-only and writable, reading every committed event, and
// walking it. The directory is built from the input by fuzz_dir.h.
//
// Besides memory errors and crashes it checks what must hold whatever the
// bytes: a cursor's offsets are dense, and a journal that a writable open
// accepted reopens without anything more to repair.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_dir.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"

namespace {

// Reads the whole committed view; traps on non-dense offsets.
void ReadAll(txj::Journal& j) {
  auto c = j.open_cursor(j.first_offset(), txj::Filter::all());
  if (!c.ok()) return;
  std::uint64_t expect = j.first_offset();
  for (int i = 0; i < 100000; ++i) {
    auto e = c->next();
    if (!e.ok() || !e->has_value()) return;
    const txj::Event& ev = **e;
    if (ev.offset < expect) __builtin_trap();
    expect = ev.offset + 1;
    volatile std::size_t sink = ev.topic.size() + ev.type.size() + ev.payload.size() + (ev.key ? ev.key->size() : 0);
    (void)sink;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string dir = txj::fuzz::BuildJournalDir(data, size);
  (void)txj::WalkJournal(dir, [](const txj::RawRecord& r) {
    volatile std::size_t sink = r.payload.size() + r.topic.size();
    (void)sink;
  });
  {
    txj::Options o;
    o.read_only = true;
    auto j = txj::Journal::open(dir, o);
    if (j.ok()) ReadAll(**j);
  }
  bool writable_ok = false;
  {
    txj::Options o;
    o.segment_size = txj::fuzz::kFuzzSegmentSize;
    o.durability = txj::Durability::kNone;
    auto j = txj::Journal::open(dir, o);
    if (std::getenv("TXJ_FUZZ_DEBUG")) {
      std::fprintf(stderr, "writable open: %s\n%s", j.ok() ? "ok" : j.status().ToString().c_str(),
                   j.ok() ? (*j)->recovery_report().ToString().c_str() : "");
    }
    if (j.ok()) {
      writable_ok = true;
      ReadAll(**j);
      // The repaired journal takes a commit.
      auto tx = (*j)->begin();
      if (tx.ok()) {
        (void)tx->append("fuzz", "after", "x");
        (void)tx->commit();
      }
      (void)(*j)->close();
    }
  }
  if (writable_ok) {
    // Repaired once: the next open finds nothing to repair.
    txj::Options o;
    o.segment_size = txj::fuzz::kFuzzSegmentSize;
    o.durability = txj::Durability::kNone;
    auto j = txj::Journal::open(dir, o);
    if (!j.ok()) {
      std::fprintf(stderr, "reopen after a successful writable open failed: %s\n", j.status().ToString().c_str());
      __builtin_trap();
    }
    if (!(*j)->recovery_report().repairs.empty()) {
      std::fprintf(stderr, "second open repaired again: %s\n", (*j)->recovery_report().ToString().c_str());
      __builtin_trap();
    }
    ReadAll(**j);
  }
  txj::fuzz::CleanWorkDir();
  return 0;
}
