// libFuzzer target: recovering an arbitrary journal. The journal is built
// from the input by fuzz_dir.h, in memory (mem_fs.h), and goes through what
// a user's open and tools go through on a corrupt journal:
//
// - the walk (WalkJournal, through the in-memory file system): segment
//   checks, the record scan, the transaction grammar, the tail rules;
// - a read-only Journal::open (manifest, segments, the scan of
//   lib/journal/recovery.cc) and a cursor reading every committed event
//   (the open does not try an LMDB catalog, which cannot be in memory,
//   unless the manifest needs one: fuzz_dir.h, OpenReadOnlyInMemory);
// - the writable recovery (internal::Recover on a writable state: the cut
//   of a crash tail, the rollback of a transaction left open, the removal
//   of segments past the tail), without the catalog and background threads
//   that a full open adds (their LMDB environment and threads cost more than
//   the rest together), then the repaired journal reopened and walked.
//
// Besides memory errors and crashes it checks what must hold whatever the
// bytes: a cursor's offsets are dense; next() and next_batch() hand out the
// same events, and so do cursors that start at a transaction inside a
// segment (their names found by id from there); a journal that the writable recovery accepted reopens with
// nothing to repair and walks clean.
//
// With TXJ_FUZZ_FULL=1 (the corpus replays of CI and of the test suite) each
// input also goes through the slow path on disk: the whole writable
// Journal::open with its catalog, a commit, close, and a reopen that must
// find nothing to repair.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cursor_impl.h"
#include "fuzz_dir.h"
#include "head_page.h"
#include "journal_mutator.h"  // the custom mutator, in the libFuzzer build
#include "journal_state.h"
#include "log_reader.h"
#include "mem_fs.h"
#include "recovery.h"
#include "txjournal/journal.h"
#include "txjournal/walk.h"
#include "walk_fs.h"

namespace {

bool Debug() {
  static const bool d = std::getenv("TXJ_FUZZ_DEBUG") != nullptr;
  return d;
}

// What a cursor hands out of one event, copied (an event's views are valid
// only until its cursor moves on), to compare two reads.
struct Seen {
  std::uint64_t offset, txn_id, lsn, timestamp_ns;
  std::string topic, type, payload;
  std::optional<std::string> key;
  bool operator==(const Seen&) const = default;
};

Seen SeenOf(const txj::Event& e) {
  return Seen{e.offset,
              e.txn_id,
              e.lsn,
              e.timestamp_ns,
              std::string(e.topic),
              std::string(e.type),
              std::string(e.payload),
              e.key ? std::optional<std::string>(std::string(*e.key)) : std::nullopt};
}

// Reads `c` through next_batch() into `buf` and compares what it hands out
// with `want`, in order, trapping at the first difference (and at an event
// past `want` unless `want` is only a prefix of what `c` reads); stops at
// an error (sets *failed), at the end, or once `want` is through. Returns
// the number of events compared.
std::size_t CompareBatches(txj::Cursor& c, std::vector<txj::Event>& buf, const std::vector<const Seen*>& want,
                           bool prefix, const char* what, bool* failed) {
  std::size_t got = 0;
  *failed = false;
  while (got < want.size()) {
    auto k = c.next_batch(buf);
    if (!k.ok()) {
      *failed = true;
      if (Debug()) std::fprintf(stderr, "%s: %s\n", what, k.status().ToString().c_str());
    }
    if (!k.ok() || *k == 0) break;
    for (std::size_t i = 0; i < *k; ++i, ++got) {
      if (got >= want.size() && prefix) return got;
      if (got >= want.size() || !(SeenOf(buf[i]) == *want[got])) {
        if (Debug()) {
          std::fprintf(stderr, "%s: event %zu of %zu differs (offset %llu, wanted %llu)\n", what, got, want.size(),
                       static_cast<unsigned long long>(buf[i].offset),
                       got < want.size() ? static_cast<unsigned long long>(want[got]->offset) : 0ull);
        }
        __builtin_trap();
      }
    }
  }
  return got;
}

// Cursors that start inside the journal, at the begin marker of a
// committed transaction (through an offset-index entry made for it, from
// the transaction's first offset to its begin marker, as the writer makes
// every 1 024 events), at the offset of the first event the read from the
// start handed out from it: what each hands out is what the read
// from the start handed out from that offset on, or a prefix of it up to
// an error. Their first events' names come from the segment's shared names
// table or are read back (NameTable::Resolve, SegmentNames), which readers
// from a segment's start never need.
void ReadFromInside(txj::Journal& j, const std::vector<Seen>& one, bool prefix, std::vector<txj::Event>& buf) {
  using namespace txj::internal;
  if (one.size() < 2) return;
  JournalState& s = JournalAccess::state(j);
  // Every begin marker's LSN, by transaction id (LSN order), and the first
  // offset of the transaction it begins (its commit marker's: compaction
  // may have left paddings for events before the first one a reader
  // hands out, so that is not the first event's offset).
  std::map<std::uint64_t, std::vector<std::uint64_t>> begins;
  std::map<std::uint64_t, std::uint64_t> first_offset_of;  // begin LSN -> first offset
  for (const auto& seg : s.segments->All()) {
    std::uint64_t at = seg->first_record_lsn();
    std::uint32_t min_epoch = 0;
    std::map<std::uint64_t, std::uint64_t> open;  // transaction id -> begin LSN
    for (int n = 0; at < seg->end() && n < 100000; ++n) {
      RecordView r;
      if (DecodeAcrossGap(*seg, &at, s.salt, seg->end(), min_epoch, &r) != DecodeError::kNone) break;
      min_epoch = r.epoch;
      if (r.type == txj::RecordType::kBegin) {
        begins[r.txn_id].push_back(r.lsn);
        open[r.txn_id] = r.lsn;
      }
      // Each begin marker with the commit marker that closes it (records
      // past the journal's end, stale ones among them, reuse ids).
      if (r.type == txj::RecordType::kCommit && open.count(r.txn_id)) {
        first_offset_of[open[r.txn_id]] = ReadBody<txj::format::CommitBody>(r).first_offset;
        open.erase(r.txn_id);
      }
      at = r.next_lsn();
    }
  }
  int tried = 0;
  std::uint64_t last_start = 0;
  for (std::size_t probe = 1; probe < one.size() && tried < 4; probe += std::max<std::size_t>(1, one.size() / 5)) {
    // The first event of the transaction event `probe` belongs to.
    std::size_t k = probe;
    while (k > 0 && one[k - 1].txn_id == one[k].txn_id) --k;
    if (k == 0 || k == last_start) continue;
    last_start = k;
    auto it = begins.find(one[k].txn_id);
    if (it == begins.end()) continue;
    // Its begin marker: the last one of that id before the event.
    std::uint64_t begin = 0;
    for (std::uint64_t lsn : it->second) {
      if (lsn < one[k].lsn) begin = lsn;
    }
    if (begin == 0 || !first_offset_of.count(begin)) continue;
    ++tried;
    {
      std::lock_guard<std::mutex> lock(s.index_mu);
      s.index[first_offset_of[begin]] = begin;
    }
    auto c = j.open_cursor(one[k].offset, txj::Filter::all());
    if (Debug()) {
      std::fprintf(stderr, "from inside: offset %llu (transaction %llu from offset %llu at LSN %llu): %s\n",
                   static_cast<unsigned long long>(one[k].offset), static_cast<unsigned long long>(one[k].txn_id),
                   static_cast<unsigned long long>(first_offset_of[begin]), static_cast<unsigned long long>(begin),
                   c.ok() ? "open" : c.status().ToString().c_str());
    }
    if (!c.ok()) continue;
    std::vector<const Seen*> want;
    for (std::size_t i = k; i < one.size(); ++i) want.push_back(&one[i]);
    bool failed;
    const std::size_t got = CompareBatches(*c, buf, want, prefix, "next_batch() from inside", &failed);
    if (got != want.size() && !failed) {
      if (Debug()) std::fprintf(stderr, "from inside: %zu of %zu events\n", got, want.size());
      __builtin_trap();
    }
  }
}

// Reads the whole committed view through next(), then again through
// next_batch() into a small array (events run past its end, so both the
// caller's slots and the read-ahead spill are walked), and once more
// filtered to one topic; traps on non-dense offsets and when the reads
// differ.
void ReadAll(txj::Journal& j) {
  constexpr std::size_t kMax = 100000;
  std::vector<Seen> one;
  {
    auto c = j.open_cursor(j.first_offset(), txj::Filter::all());
    if (!c.ok()) return;
    std::uint64_t expect = j.first_offset();
    while (one.size() < kMax) {
      auto e = c->next();
      if (!e.ok() && Debug()) std::fprintf(stderr, "next(): %s\n", e.status().ToString().c_str());
      if (!e.ok() || !e->has_value()) break;
      const txj::Event& ev = **e;
      if (ev.offset < expect) __builtin_trap();
      expect = ev.offset + 1;
      one.push_back(SeenOf(ev));
    }
  }
  std::vector<txj::Event> buf(7);
  bool failed;
  std::vector<const Seen*> want;
  for (const Seen& e : one) want.push_back(&e);
  {
    auto c = j.open_cursor(j.first_offset(), txj::Filter::all());
    if (!c.ok()) return;
    // Both reads stop at the same error or end, after the same events.
    if (CompareBatches(*c, buf, want, one.size() >= kMax, "next_batch()", &failed) != one.size()) __builtin_trap();
  }
  ReadFromInside(j, one, one.size() >= kMax, buf);
  // A third read, filtered to the first event's topic, hands out exactly
  // those of the first read with that topic, in order (a filtered read may
  // stop early with an error of its own: compaction marks concern topics).
  if (one.empty() || one.size() >= kMax) return;
  const std::string topic = one.front().topic;
  want.clear();
  for (const Seen& e : one) {
    if (e.topic == topic) want.push_back(&e);
  }
  auto f = j.open_cursor(j.first_offset(), txj::Filter::for_topics({topic}));
  if (!f.ok()) return;
  if (CompareBatches(*f, buf, want, false, "filtered next_batch()", &failed) != want.size() && !failed)
    __builtin_trap();
}

// Walks the journal.
void Walk(const std::shared_ptr<txj::FileSystem>& fs, const std::string& dir) {
  (void)txj::internal::WalkJournalOn(fs, dir, [&](const txj::RawRecord& r) {
    volatile std::size_t sink = r.payload.size() + r.topic.size();
    (void)sink;
  });
}

// The writable half of an open (journal.cc, OpenState) up to and with
// Recover, on `fs`, without the lock, the catalog, the head page and the
// background threads. Returns false if the journal was refused.
bool RecoverWritable(const std::shared_ptr<txj::FileSystem>& fs, const std::string& dir,
                     txj::RecoveryReport* report) {
  using namespace txj;
  internal::JournalState s;
  s.dir = dir;
  s.options.segment_size = fuzz::kFuzzSegmentSize;
  s.options.durability = Durability::kNone;
  s.options.file_system = fs;
  s.fs = fs;
  if (!internal::ReadManifest(*fs, dir, &s.manifest).ok()) return false;
  s.salt = s.manifest.salt();
  // OpenState refuses a manifest epoch that no 32-bit writer epoch follows.
  if (s.manifest.epoch >= std::numeric_limits<std::uint32_t>::max()) return false;
  s.epoch = static_cast<std::uint32_t>(s.manifest.epoch + 1);
  s.segments = std::make_unique<internal::SegmentSet>(fs, dir, s.manifest, true);
  if (!s.segments->Refresh().ok() || !s.segments->First()) return false;
  // CheckFirstSegment (journal.cc).
  const std::uint64_t expected = s.manifest.first_lsn ? s.manifest.first_lsn : format::kSegmentHeaderSize;
  s.first_offset = s.manifest.first_offset;
  s.retention_offset = s.manifest.retention_offset;
  if (auto last = s.segments->Last(); !last || last->end() <= expected) return false;
  for (;;) {
    auto first = s.segments->First();
    if (!first || first->first_record_lsn() > expected || (first->first_record_lsn() < expected && first->end() > expected)) {
      return false;
    }
    if (first->first_record_lsn() == expected) break;
    if (fs->Unlink(first->path()) != 0) return false;
    s.segments->DropBefore(first->end());
  }
  Status st = internal::Recover(s);
  if (Debug()) std::fprintf(stderr, "writable recovery: %s\n%s", st.ToString().c_str(), s.report.ToString().c_str());
  if (!st.ok()) return false;
  *report = s.report;
  return true;
}

// A head page as a writer leaves it (head_page.h), naming `last_begun`.
void WriteHead(txj::FileSystem& fs, const std::string& dir, std::uint64_t last_begun) {
  alignas(txj::internal::HeadData) unsigned char page[4096] = {};
  const std::uint64_t magic = txj::internal::kHeadMagic;
  std::memcpy(page + offsetof(txj::internal::HeadData, magic), &magic, sizeof magic);
  std::memcpy(page + offsetof(txj::internal::HeadData, last_begun_txn), &last_begun, sizeof last_begun);
  int fd = -1;
  if (fs.Open(dir + "/" + txj::format::kHeadName, O_RDWR | O_CREAT | O_TRUNC, 0644, &fd) != 0) return;
  (void)fs.PWrite(fd, page, sizeof page, 0);
  fs.Close(fd);
}

// The original, on-disk path: whole opens with catalog, a commit, a reopen.
void FullChecks(const std::uint8_t* data, std::size_t size) {
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
    if (Debug()) {
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
    // Repaired once: the next open finds nothing to repair. A session that
    // took the last 32-bit epoch (records of epoch 2^32 - 2, or a manifest
    // at it) leaves a journal that no writer can follow (OpenState refuses
    // it, by design): that one must refuse a writable open, and is checked
    // read-only.
    txj::internal::ManifestData m;
    const bool exhausted = txj::internal::ReadManifest(*txj::DefaultFileSystem(), dir, &m).ok() &&
                           m.epoch >= std::numeric_limits<std::uint32_t>::max();
    txj::Options o;
    o.segment_size = txj::fuzz::kFuzzSegmentSize;
    o.durability = txj::Durability::kNone;
    if (exhausted) {
      auto w = txj::Journal::open(dir, o);
      if (w.ok() || w.status().code() != txj::Code::kCorruption) {
        std::fprintf(stderr, "a writable open after the last epoch was taken: %s\n",
                     w.ok() ? "ok" : w.status().ToString().c_str());
        __builtin_trap();
      }
      o.read_only = true;
    }
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // One in-memory file system for the process; the directory exists on
  // disk too (empty), for the stat an open makes outside the file system.
  static const std::string dir = txj::fuzz::SideDir("mem");
  static auto* mem = new txj::fuzz::MemFileSystem();
  static const std::shared_ptr<txj::FileSystem> fs(mem, [](txj::FileSystem*) {});
  txj::fuzz::BuildJournalInMemory(data, size, *mem, dir);
  Walk(fs, dir);
  bool readable = false;
  {
    auto j = txj::fuzz::OpenReadOnlyInMemory(fs, dir);
    if (Debug()) std::fprintf(stderr, "read-only open: %s\n", j.ok() ? "ok" : j.status().ToString().c_str());
    if (j.ok()) {
      readable = true;
      ReadAll(**j);
    }
  }
  // Inputs whose last byte has its high bit set give the writable
  // recovery a head page naming the last transaction id a writer handed
  // out (its low six bits): recovery keeps the ids up to it taken
  // (KeepLostIdTaken) when it is ahead of the journal's, and ignores it
  // otherwise. Either way no id up to it is handed out again.
  const bool head = size > 0 && (data[size - 1] & 0x80) != 0;
  const std::uint64_t last_begun = head ? data[size - 1] & 0x3f : 0;
  if (head) WriteHead(*fs, dir, last_begun);
  txj::RecoveryReport report;
  const bool recovered = readable && RecoverWritable(fs, dir, &report);
  mem->Resync();  // the recovery wrote through its mappings
  if (head) {
    (void)fs->Unlink(dir + "/" + txj::format::kHeadName);
    if (recovered && report.next_txn_id <= last_begun) {
      std::fprintf(stderr, "a recovery with a head page naming transaction %llu hands out %llu next\n",
                   static_cast<unsigned long long>(last_begun), static_cast<unsigned long long>(report.next_txn_id));
      __builtin_trap();
    }
  }
  if (recovered && (!report.repairs.empty() || !report.notes.empty())) {
    // Repaired once: a reopen finds nothing to repair, the walk nothing wrong.
    auto j = txj::fuzz::OpenReadOnlyInMemory(fs, dir);
    if (!j.ok()) {
      std::fprintf(stderr, "reopen after a successful recovery failed: %s\n", j.status().ToString().c_str());
      __builtin_trap();
    }
    if (!(*j)->recovery_report().repairs.empty()) {
      std::fprintf(stderr, "reopen after a recovery has more to repair: %s\n",
                   (*j)->recovery_report().ToString().c_str());
      __builtin_trap();
    }
    ReadAll(**j);
    auto w = txj::internal::WalkJournalOn(fs, dir);
    if (!w.ok() || w->damaged() || !w->tail.empty()) {
      std::fprintf(stderr, "walk after a successful recovery: %s%s%s\n", w.ok() ? "" : w.status().ToString().c_str(),
                   w.ok() && w->damaged() ? w->problems.front().message.c_str() : "",
                   w.ok() && !w->tail.empty() ? w->tail.front().c_str() : "");
      __builtin_trap();
    }
  }
  mem->Reset();
  if (txj::fuzz::FullChecks()) FullChecks(data, size);
  return 0;
}
