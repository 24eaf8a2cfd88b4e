// Structure-aware mutation of fuzz_dir.h inputs (journals) for the
// recovery and dump targets: LLVMFuzzerCustomMutator and
// LLVMFuzzerCustomCrossOver, defined by including this header in exactly
// one target source with TXJ_FUZZ_JOURNAL_MUTATOR defined.
//
// A byte-level mutation of a journal almost always breaks a record
// checksum, and the scan stops there: the transaction grammar
// (txn_checker.cc), the tail rules (recovery.cc) and the walk (walk.cc)
// past the first record are rarely reached. This mutator parses an input
// into segments and records, changes the journal at the record level
// (a record's type, depth, transaction or sub-transaction id, epoch, flags,
// a body field or its length; records dropped, duplicated, swapped, moved
// to another segment, cut short, or new ones inserted; the watermark; the
// layout flags), then, most of the time, makes the transaction bookkeeping
// consistent again (commit markers' record counts, running hashes, begin
// positions and offsets, sub-transaction counts), sometimes perturbs one
// field after that, and recomputes every record checksum (XXH3, seeded
// with the journal's salt and the record's LSN, lib/log/checksum.h) so that
// the journal reaches the checks after the checksum. One time in five, and
// for inputs it cannot parse (raw mode), it leaves the work to libFuzzer's
// byte-level LLVMFuzzerMutate.
#ifndef TXJOURNAL_FUZZ_JOURNAL_MUTATOR_H_
#define TXJOURNAL_FUZZ_JOURNAL_MUTATOR_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "checksum.h"
#include "format.h"
#include "fuzz_dir.h"
#include "txn_hash.h"

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace txj::fuzz::mutator {

struct Record {
  format::RecordHeader h{};
  std::vector<std::uint8_t> body;  // length - header; padding to 8 is added on output
  bool raw = false;                // bytes that do not parse as a record: kept as they are (in body)
  bool keep_sum = false;           // do not recompute the checksum (a torn or damaged record)
  bool gap_before = false;         // starts the next page after a gap (format 2): zeros before it, flagged
};

struct Segment {
  std::uint8_t watermark[24] = {};
  std::vector<Record> records;
  bool recycled = false;  // format 3 flag (bit 31 of the length): gaps hold old bytes
};

struct Journal {
  std::uint8_t flags = 0;
  std::uint8_t id[16] = {};
  std::uint64_t epoch = 1;
  std::uint64_t start[3] = {};  // with flag bit 6: first_lsn, first_offset, last_txn_id_before
  std::vector<Segment> segs;
  std::uint64_t salt = 0;
};

inline constexpr std::size_t kSegData = kFuzzSegmentSize - format::kSegmentHeaderSize;

// The next record of a segment being parsed into a reused journal: an old
// one, reset (its body keeps its capacity: no allocation per record and
// call), or a new one.
inline Record& NextRecord(std::vector<Record>& v, std::size_t* n) {
  if (*n == v.size()) v.emplace_back();
  Record& r = v[(*n)++];
  r.h = {};
  r.body.clear();
  r.raw = r.keep_sum = r.gap_before = false;
  return r;
}

// Parses `data` (fuzz_dir.h layout, not raw mode) into `j`, which may hold
// an earlier journal (its vectors are reused). False if it cannot.
inline bool Parse(const std::uint8_t* data, std::size_t size, Journal* j) {
  if (size < 1 + 16 + 8 || (data[0] & 0x80)) return false;
  std::memset(j->start, 0, sizeof j->start);
  j->flags = data[0];
  std::memcpy(j->id, data + 1, 16);
  std::memcpy(&j->epoch, data + 17, 8);
  j->salt = internal::Hash64(j->id, 16, 0x74786a);  // ManifestData::salt()
  std::size_t p = 25;
  if (j->flags & 0x40) {
    if (size - p < 24) return false;
    std::memcpy(j->start, data + p, 24);
    p += 24;
  }
  std::size_t segs = 0;
  for (int s = 0; s < 4 && size - p >= 4; ++s) {
    std::uint32_t n;
    std::memcpy(&n, data + p, 4);
    p += 4;
    if (segs == j->segs.size()) j->segs.emplace_back();
    Segment& seg = j->segs[segs++];
    seg.recycled = (n >> 31) != 0;
    n &= 0x7fffffffu;
    std::memset(seg.watermark, 0, sizeof seg.watermark);
    std::size_t recs = 0;
    const std::size_t wm = size - p < 24 ? size - p : 24;
    std::memcpy(seg.watermark, data + p, wm);
    p += wm;
    std::size_t take = n;
    if (take > size - p) take = size - p;
    if (take > kSegData) take = kSegData;
    const std::uint8_t* d = data + p;
    std::size_t off = 0;
    bool gap = false;
    while (off < take) {
      Record& r = NextRecord(seg.records, &recs);  // every pass ends with one record
      // Zeros up to the next page with a record there: a gap (the segment's
      // data starts on a page boundary, so offsets align as LSNs do).
      if (const std::size_t q = format::PageUp(off); q != off && q + format::kRecordHeaderSize <= take &&
                                                     std::all_of(d + off, d + q, [](std::uint8_t c) { return c == 0; }) &&
                                                     !std::all_of(d + q, d + q + format::kRecordHeaderSize,
                                                                  [](std::uint8_t c) { return c == 0; })) {
        off = q;
        gap = true;
      }
      if (take - off >= format::kRecordHeaderSize) {
        std::memcpy(&r.h, d + off, sizeof r.h);
        if (r.h.length >= format::kRecordHeaderSize && r.h.length <= take - off) {
          r.body.assign(d + off + format::kRecordHeaderSize, d + off + r.h.length);
          r.gap_before = gap;
          gap = false;
          off += format::AlignUp(r.h.length);
          continue;
        }
      }
      // The rest does not parse: kept raw (with whatever header was read).
      r.raw = true;
      r.body.assign(d + off, d + take);
      break;
    }
    seg.records.resize(recs);
    p += take;
  }
  j->segs.resize(segs);
  return true;
}

inline std::uint64_t SegmentBase(const Journal& j, std::size_t s) {
  std::uint64_t index = s;
  if (s >= 1 && (j.flags & 1)) ++index;
  if (s >= 2 && (j.flags & 2)) ++index;
  return index * kFuzzSegmentSize;
}

// memcpy for a vector's bytes, which may be none (a null data()).
inline void Copy(void* to, const void* from, std::size_t n) {
  if (n) std::memcpy(to, from, n);
}

template <typename T>
T Body(const Record& r) {
  T t{};
  Copy(&t, r.body.data(), r.body.size() < sizeof t ? r.body.size() : sizeof t);
  return t;
}
template <typename T>
void SetBody(Record& r, const T& t) {
  if (r.body.size() < sizeof t) r.body.resize(sizeof t);
  std::memcpy(r.body.data(), &t, sizeof t);
}

// The transaction state along the records, as txn_checker.cc follows it.
struct TxnFollow {
  bool open = false;
  std::uint64_t begin_lsn = 0, records = 0, running = 0, next_offset = 0, top_events = 0, txn = 0;
  // Format 4 (kFlagHashedTxn on the begin): the transaction's record bytes
  // as readers hash them, for the commit marker's transaction hash.
  bool hashed = false;
  std::vector<std::uint8_t> txn_bytes;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> stack;  // sub id, events
  std::uint32_t max_sub = 0;
  std::uint32_t epoch = 0;

  // Makes `r` (of `type`) consistent with the state: ids, depth, counts and
  // bodies as a writer would have written them.
  void Fix(Record& r, RecordType type) {
    if (r.h.epoch < epoch) r.h.epoch = epoch;
    std::uint64_t& top_count = stack.empty() ? top_events : stack.back().second;
    const std::uint32_t top = stack.empty() ? 0 : stack.back().first;
    auto inside = [&](std::uint16_t depth, std::uint32_t sub) {
      r.h.txn_id = txn;
      r.h.depth = depth;
      r.h.sub_id = sub;
    };
    switch (type) {
      case RecordType::kBegin:
        r.h.depth = 0;
        r.h.sub_id = 0;
        r.body.resize(sizeof(format::BeginBody));
        if (r.h.txn_id <= txn) r.h.txn_id = txn + 1;
        break;
      case RecordType::kSubBegin: {
        inside(static_cast<std::uint16_t>(stack.size() + 1), r.h.sub_id <= max_sub ? max_sub + 1 : r.h.sub_id);
        auto b = Body<format::SubBeginBody>(r);
        b.parent_sub_id = top;
        b.reserved = 0;
        r.body.resize(sizeof b);
        SetBody(r, b);
        break;
      }
      case RecordType::kEvent:
      case RecordType::kNames: inside(static_cast<std::uint16_t>(stack.size()), top); break;
      case RecordType::kSubCommit:
      case RecordType::kSubRollback:
        inside(static_cast<std::uint16_t>(stack.size()), top);
        r.body.resize(8);
        SetBody(r, top_count);
        break;
      case RecordType::kCommit: {
        inside(0, 0);
        r.h.flags &= format::kFlagRewritten;
        format::CommitBody c = Body<format::CommitBody>(r);
        c.first_offset = next_offset;
        c.event_count = top_events;
        c.record_count = records;
        c.running_hash = hashed ? internal::TxnHashOf(txn_bytes.data(), txn_bytes.size()) : running;
        c.begin_lsn = begin_lsn;
        r.body.resize(sizeof c);
        SetBody(r, c);
        break;
      }
      case RecordType::kRollback: {
        inside(0, 0);
        format::RollbackBody b{records, begin_lsn};
        r.body.resize(sizeof b);
        SetBody(r, b);
        break;
      }
      case RecordType::kSegmentEnd:
        r.h.txn_id = 0;
        r.h.depth = 0;
        r.h.sub_id = 0;
        r.h.flags = 0;
        r.body.clear();
        break;
      case RecordType::kPadding:
        if (r.body.size() < sizeof(format::PaddingBody)) r.body.resize(sizeof(format::PaddingBody));
        if (open) inside(static_cast<std::uint16_t>(stack.size()), top);
        break;
    }
    if (type == RecordType::kBegin) {
      r.h.flags &= format::kFlagHashedTxn;
    } else if (type != RecordType::kEvent && type != RecordType::kCommit) {
      r.h.flags = 0;
    }
    if (type == RecordType::kEvent) FixEventBody(r);
    if (type == RecordType::kNames) FixNamesBody(r);
  }

  // A names record's lengths add up to its body.
  static void FixNamesBody(Record& r) {
    if (r.body.size() < sizeof(format::NamesBody) + 1) r.body.resize(sizeof(format::NamesBody) + 1, 'n');
    format::NamesBody b = Body<format::NamesBody>(r);
    b.reserved = 0;
    const std::size_t names = r.body.size() - sizeof b;
    b.topic_length =
        static_cast<std::uint8_t>(std::clamp<std::size_t>(b.topic_length, 1, std::min<std::size_t>(names, 255)));
    b.type_length = static_cast<std::uint8_t>(std::min<std::size_t>(names - b.topic_length, 255));
    r.body.resize(sizeof b + b.topic_length + b.type_length);
    SetBody(r, b);
  }

  // An event's body lengths add up to it.
  static void FixEventBody(Record& r) {
    if (r.body.size() < sizeof(format::EventBody) + 1) r.body.resize(sizeof(format::EventBody) + 1, 'x');
    format::EventBody e = Body<format::EventBody>(r);
    r.h.flags &= format::kFlagHasKey | format::kFlagNameRef;
    if (e.topic_length == 0 && (r.h.flags & format::kFlagNameRef) == 0) e.topic_length = 1;
    if ((r.h.flags & format::kFlagHasKey) == 0) e.key_length = 0;
    std::size_t fixed = sizeof e + format::InlineNamesLength(e, r.h.flags) + e.key_length;
    if (fixed > r.body.size()) r.body.resize(fixed, 'y');
    e.payload_length = static_cast<std::uint32_t>(r.body.size() - fixed);
    SetBody(r, e);
  }

  // Follows the structure (as the checker does) past `r` at `lsn`.
  void Follow(const Record& r, RecordType type, std::uint64_t lsn) {
    if (r.h.epoch > epoch) epoch = r.h.epoch;
    // The record's bytes as they will lie in the file (a padding's header
    // and body only, as its checksum).
    auto hash_bytes = [&] {
      const std::size_t n = type == RecordType::kPadding ? format::kPaddingCheckedSize : format::AlignUp(r.h.length);
      const std::size_t at = txn_bytes.size();
      txn_bytes.resize(at + n, 0);
      std::memcpy(txn_bytes.data() + at, &r.h, std::min(n, sizeof r.h));
      if (n > sizeof r.h) Copy(txn_bytes.data() + at + sizeof r.h, r.body.data(), std::min(n - sizeof r.h, r.body.size()));
    };
    auto count = [&] {
      ++records;
      running = format::RunningHashStep(running, r.h.checksum);
      if (hashed) hash_bytes();
    };
    switch (type) {
      case RecordType::kBegin:
        open = true;
        txn = r.h.txn_id;
        begin_lsn = lsn;
        records = 1;
        running = format::RunningHashStep(format::kRunningHashInit, r.h.checksum);
        hashed = (r.h.flags & format::kFlagHashedTxn) != 0;
        txn_bytes.clear();
        if (hashed) hash_bytes();
        top_events = 0;
        stack.clear();
        max_sub = 0;
        break;
      case RecordType::kCommit:
        if (open) next_offset += top_events;
        open = false;
        stack.clear();
        break;
      case RecordType::kRollback:
        open = false;
        stack.clear();
        break;
      case RecordType::kSegmentEnd: break;
      case RecordType::kPadding:
        if (!open) {
          next_offset += Body<format::PaddingBody>(r).skipped_events;
          txn = std::max<std::uint64_t>(txn, Body<format::PaddingBody>(r).last_txn_id);
          break;
        }
        (stack.empty() ? top_events : stack.back().second) += Body<format::PaddingBody>(r).skipped_events;
        count();
        break;
      default:
        if (!open) break;
        if (type == RecordType::kSubBegin) {
          stack.push_back({r.h.sub_id, 0});
          if (r.h.sub_id > max_sub) max_sub = r.h.sub_id;
        } else if (type == RecordType::kEvent) {
          ++(stack.empty() ? top_events : stack.back().second);
        } else if ((type == RecordType::kSubCommit || type == RecordType::kSubRollback) && !stack.empty()) {
          const std::uint64_t n = stack.back().second;
          stack.pop_back();
          if (type == RecordType::kSubCommit) (stack.empty() ? top_events : stack.back().second) += n;
        }
        count();
        break;
    }
  }
};

// The checksum of `r` at `lsn`, as a writer computes it.
inline std::uint64_t ChecksumOf(const Journal& j, const Record& r, RecordType type, std::uint64_t lsn) {
  // One buffer for every record (an allocation per record cost more than
  // the checksum under ASan, which records a stack per allocation).
  static thread_local std::vector<std::uint8_t> bytes;
  bytes.assign(format::AlignUp(r.h.length), 0);
  std::memcpy(bytes.data(), &r.h, sizeof r.h);
  Copy(bytes.data() + sizeof r.h, r.body.data(), r.body.size());
  const std::uint32_t checked = type == RecordType::kPadding && r.h.length >= format::kPaddingCheckedSize
                                    ? format::kPaddingCheckedSize
                                    : r.h.length;
  return internal::RecordChecksum(bytes.data(), checked, j.salt, lsn);
}

// Gives every record the LSN it will have, makes the transaction
// bookkeeping consistent if `fix`, and computes the checksums.
inline void Finish(Journal& j, bool fix, std::mt19937_64&) {
  TxnFollow t;
  if (j.flags & 0x40) {  // the manifest's start: offsets and ids go on from there
    t.next_offset = j.start[1];
    t.txn = j.start[2];
  }
  for (std::size_t s = 0; s < j.segs.size(); ++s) {
    std::uint64_t lsn = SegmentBase(j, s) + format::kSegmentHeaderSize;
    for (auto& r : j.segs[s].records) {
      if (r.raw) {
        lsn += r.body.size();
        continue;
      }
      const auto type = static_cast<RecordType>(r.h.type);
      if (fix) t.Fix(r, type);
      if (r.gap_before) {
        lsn = format::PageUp(lsn);
        r.h.flags |= format::kFlagFollowsGap;
      }
      r.h.length = static_cast<std::uint32_t>(format::kRecordHeaderSize + r.body.size());
      if (!r.keep_sum) r.h.checksum = ChecksumOf(j, r, type, lsn);
      t.Follow(r, type, lsn);
      lsn += format::AlignUp(r.h.length);
    }
  }
}

// A segment's watermark slot, valid, at `lsn` (see segment.cc).
inline void SetWatermark(Journal& j, std::size_t s, std::uint64_t lsn, std::uint64_t epoch) {
  const std::uint64_t base = SegmentBase(j, s);
  format::WatermarkSlot w{lsn, epoch, 0};
  w.checksum = internal::Hash64(&w, offsetof(format::WatermarkSlot, checksum), j.salt ^ (base * 31 + 7));
  std::memcpy(j.segs[s].watermark, &w, sizeof w);
}

inline std::size_t SegmentBytes(const Segment& s) {
  std::size_t n = 0;
  for (const auto& r : s.records) {
    if (r.gap_before && !r.raw) n = format::PageUp(n);
    n += r.raw ? r.body.size() : format::AlignUp(format::kRecordHeaderSize + r.body.size());
  }
  return n;
}

// Writes `j` into `out` (at most `max` bytes); returns the size.
inline std::size_t Serialize(const Journal& j, std::uint8_t* out, std::size_t max) {
  static thread_local std::vector<std::uint8_t> b;  // reused: no allocation per call
  b.clear();
  b.push_back(j.flags);
  b.insert(b.end(), j.id, j.id + 16);
  const auto* e = reinterpret_cast<const std::uint8_t*>(&j.epoch);
  b.insert(b.end(), e, e + 8);
  if (j.flags & 0x40) {
    const auto* st = reinterpret_cast<const std::uint8_t*>(j.start);
    b.insert(b.end(), st, st + 24);
  }
  for (const auto& s : j.segs) {
    const std::size_t n0 = b.size();
    b.resize(n0 + 4);
    b.insert(b.end(), s.watermark, s.watermark + 24);
    std::size_t n = 0;
    for (const auto& r : s.records) {
      if (n >= kSegData) break;
      if (r.raw) {
        b.insert(b.end(), r.body.begin(), r.body.end());
        n += r.body.size();
        continue;
      }
      if (r.gap_before) {  // zeros to the next page; old bytes in a recycled segment
        const std::size_t pad = format::PageUp(n) - n;
        b.resize(b.size() + pad, s.recycled ? 0xa5 : 0);
        n += pad;
      }
      const std::size_t at = b.size();
      b.resize(at + format::AlignUp(r.h.length), 0);
      std::memcpy(b.data() + at, &r.h, sizeof r.h);
      Copy(b.data() + at + sizeof r.h, r.body.data(), r.body.size());
      n += format::AlignUp(r.h.length);
    }
    if (n > kSegData) {
      b.resize(b.size() - (n - kSegData));
      n = kSegData;
    }
    const auto n32 = static_cast<std::uint32_t>(n) | (s.recycled ? 0x80000000u : 0u);
    std::memcpy(b.data() + n0, &n32, 4);
  }
  if (b.size() > max) b.resize(max);
  Copy(out, b.data(), b.size());
  return b.size();
}

// Picks a parsed (non-raw) record; null if there is none.
inline Record* Pick(Journal& j, std::mt19937_64& rng, std::size_t* seg = nullptr, std::size_t* idx = nullptr) {
  std::vector<std::pair<std::size_t, std::size_t>> all;
  for (std::size_t s = 0; s < j.segs.size(); ++s) {
    for (std::size_t i = 0; i < j.segs[s].records.size(); ++i) {
      if (!j.segs[s].records[i].raw) all.emplace_back(s, i);
    }
  }
  if (all.empty()) return nullptr;
  auto [s, i] = all[rng() % all.size()];
  if (seg) *seg = s;
  if (idx) *idx = i;
  return &j.segs[s].records[i];
}

inline std::uint64_t Nudge(std::uint64_t v, std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0: return v + 1;
    case 1: return v - 1;
    case 2: return 0;
    case 3: return v + 1 + rng() % 4;
    case 4: return rng() % 8;
    default: return ~std::uint64_t{0} - rng() % 2;
  }
}

inline Record NewRecord(RecordType t, const Record* like, std::mt19937_64& rng) {
  Record r;
  r.h.type = static_cast<std::uint8_t>(t);
  if (like) {
    r.h.txn_id = like->h.txn_id;
    r.h.epoch = like->h.epoch;
    r.h.sub_id = like->h.sub_id;
    r.h.depth = like->h.depth;
  }
  switch (t) {
    case RecordType::kBegin: r.body.resize(8); break;
    case RecordType::kSubBegin: r.body.resize(8); break;
    case RecordType::kEvent: {
      format::EventBody e{rng() % 1000, 0, 0, 1, 1};
      r.body.resize(sizeof e + 2 + rng() % 40, 'e');
      SetBody(r, e);
      break;
    }
    case RecordType::kSubCommit:
    case RecordType::kSubRollback: r.body.resize(8); break;
    case RecordType::kCommit: r.body.resize(sizeof(format::CommitBody)); break;
    case RecordType::kRollback: r.body.resize(sizeof(format::RollbackBody)); break;
    case RecordType::kSegmentEnd: break;
    case RecordType::kPadding: r.body.resize(sizeof(format::PaddingBody) + 8 * (rng() % 4)); break;
    case RecordType::kNames: {
      format::NamesBody b{static_cast<std::uint16_t>(rng() % 4), 1, 1, 0};
      r.body.resize(sizeof b + 2, 'n');
      SetBody(r, b);
      break;
    }
  }
  return r;
}

// The mutations of MutateOnce that take more than a line.

// A body field nudged (or a bit of a short body flipped).
inline void NudgeBodyField(Record& r, std::mt19937_64& rng) {
  if (r.body.size() >= 8) {
    const std::size_t f = 8 * (rng() % (r.body.size() / 8 < 6 ? r.body.size() / 8 : 6));
    std::uint64_t v;
    std::memcpy(&v, r.body.data() + f, 8);
    v = Nudge(v, rng);
    std::memcpy(r.body.data() + f, &v, 8);
  } else if (!r.body.empty()) {
    r.body[rng() % r.body.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
  }
}

// The body's length changed.
inline void ResizeBody(Record& r, std::mt19937_64& rng) {
  std::size_t n = r.body.size();
  const unsigned k = static_cast<unsigned>(rng() % 4);
  n = k == 0 ? n + 1 + rng() % 64 : k == 1 ? (n ? n - 1 - rng() % n : 0) : k == 2 ? n + 8 : rng() % 80;
  r.body.resize(n, static_cast<std::uint8_t>(rng()));
}

// A torn record: the segment cut inside record `i`, its checksum left as it was.
inline void TearRecord(std::vector<Record>& recs, std::size_t i, std::mt19937_64& rng) {
  Record t = recs[i];
  t.keep_sum = true;
  const std::size_t len = format::kRecordHeaderSize + t.body.size();
  std::vector<std::uint8_t> raw(len);
  std::memcpy(raw.data(), &t.h, sizeof t.h);
  Copy(raw.data() + sizeof t.h, t.body.data(), t.body.size());
  raw.resize(1 + rng() % len);
  Record torn;
  torn.raw = true;
  torn.body = std::move(raw);
  recs.resize(i);
  recs.push_back(std::move(torn));
}

// A segment's tail moved to the next segment (or back).
inline void MoveSegmentTail(Journal& j, std::mt19937_64& rng) {
  if (j.segs.size() < 4 && (j.segs.size() == 1 || rng() % 2)) j.segs.emplace_back();
  if (j.segs.size() < 2) return;
  const std::size_t from = rng() % j.segs.size(), to = (from + 1) % j.segs.size();
  auto& a = j.segs[from].records;
  const std::size_t cut = a.empty() ? 0 : rng() % a.size();
  auto& b = j.segs[to].records;
  b.insert(b.begin(), a.begin() + static_cast<std::ptrdiff_t>(cut), a.end());
  a.resize(cut);
  if (rng() % 2) a.push_back(NewRecord(RecordType::kSegmentEnd, nullptr, rng));
}

// A valid watermark at a record boundary (or the segment end).
inline void PlaceWatermark(Journal& j, std::mt19937_64& rng) {
  const std::size_t seg = rng() % (j.segs.empty() ? 1 : j.segs.size());
  if (seg >= j.segs.size()) return;
  std::uint64_t lsn = SegmentBase(j, seg) + format::kSegmentHeaderSize;
  const auto& rs = j.segs[seg].records;
  const std::size_t upto = rs.empty() ? 0 : rng() % (rs.size() + 1);
  for (std::size_t k = 0; k < upto; ++k) {
    if (rs[k].gap_before && !rs[k].raw) lsn = format::PageUp(lsn);
    lsn += rs[k].raw ? rs[k].body.size() : format::AlignUp(format::kRecordHeaderSize + rs[k].body.size());
  }
  if (rng() % 8 == 0) lsn = SegmentBase(j, seg) + kFuzzSegmentSize;
  SetWatermark(j, seg, lsn, j.epoch);
}

// The manifest's flags, or where it says the journal starts.
inline void MutateManifest(Journal& j, std::mt19937_64& rng) {
  if (rng() % 2) {
    j.flags = static_cast<std::uint8_t>((j.flags & 0x80) | (rng() & 0x7f));
    return;
  }
  j.flags |= 0x40;
  const unsigned k = static_cast<unsigned>(rng() % 3);
  j.start[k] = k == 0 && rng() % 2 ? (rng() % 5) * kFuzzSegmentSize + format::kSegmentHeaderSize
                                   : Nudge(j.start[k], rng);
}

// A segment dropped or duplicated.
inline void DropOrDuplicateSegment(Journal& j, std::mt19937_64& rng) {
  if (j.segs.size() > 1 && rng() % 2) {
    j.segs.erase(j.segs.begin() + static_cast<std::ptrdiff_t>(rng() % j.segs.size()));
  } else if (!j.segs.empty() && j.segs.size() < 4) {
    j.segs.push_back(j.segs[rng() % j.segs.size()]);
  }
}

// One record-level change.
inline void MutateOnce(Journal& j, std::mt19937_64& rng) {
  std::size_t s = 0, i = 0;
  Record* r = Pick(j, rng, &s, &i);
  const unsigned op = static_cast<unsigned>(rng() % 20);
  if (!r && op < 16) {
    // Nothing to change: start a transaction in the first segment.
    if (j.segs.empty()) j.segs.emplace_back();
    auto& recs = j.segs[0].records;
    recs.insert(recs.begin(), NewRecord(RecordType::kBegin, nullptr, rng));
    recs.insert(recs.begin() + 1, NewRecord(RecordType::kEvent, nullptr, rng));
    recs.insert(recs.begin() + 2, NewRecord(RecordType::kCommit, nullptr, rng));
    return;
  }
  auto& recs = r ? j.segs[s].records : j.segs.empty() ? (j.segs.emplace_back(), j.segs[0].records) : j.segs[0].records;
  switch (op) {
    case 0: r->h.type = static_cast<std::uint8_t>(1 + rng() % 10); break;
    case 1: r->h.type = static_cast<std::uint8_t>(rng() % 3 ? 1 + rng() % 10 : rng() % 256); break;
    case 2: r->h.depth = static_cast<std::uint16_t>(Nudge(r->h.depth, rng)); break;
    case 3: r->h.txn_id = Nudge(r->h.txn_id, rng); break;
    case 4: r->h.sub_id = static_cast<std::uint32_t>(Nudge(r->h.sub_id, rng)); break;
    case 5: r->h.epoch = static_cast<std::uint32_t>(Nudge(r->h.epoch, rng)); break;
    case 6:  // flags, the gap flag now and then (also off a page boundary), or a gap before it
      if (rng() % 3 == 0) {
        r->gap_before = !r->gap_before;
      } else {
        r->h.flags = static_cast<std::uint8_t>(rng() % 16 | (rng() % 8 == 0 ? format::kFlagFollowsGap : 0));
      }
      break;
    case 7: NudgeBodyField(*r, rng); break;
    case 8: ResizeBody(*r, rng); break;
    case 9: recs.erase(recs.begin() + static_cast<std::ptrdiff_t>(i)); break;
    case 10: recs.insert(recs.begin() + static_cast<std::ptrdiff_t>(i), *r); break;
    case 11: {  // swap with a neighbour
      const std::size_t k = i + 1 < recs.size() ? i + 1 : (i ? i - 1 : i);
      std::swap(recs[i], recs[k]);
      break;
    }
    case 12: recs.resize(i + 1 + (rng() % 2 ? 0 : (recs.size() - i - 1) / 2)); break;  // cut the segment
    case 13: TearRecord(recs, i, rng); break;
    case 14: {  // a new record after it
      const auto t = static_cast<RecordType>(1 + rng() % 10);
      recs.insert(recs.begin() + static_cast<std::ptrdiff_t>(i) + 1, NewRecord(t, r, rng));
      break;
    }
    case 15: r->keep_sum = true; r->h.checksum ^= 1ull << (rng() % 64); break;  // a bad checksum
    case 16: MoveSegmentTail(j, rng); break;
    case 17: PlaceWatermark(j, rng); break;
    case 18: MutateManifest(j, rng); break;
    default:
      if (!j.segs.empty() && rng() % 3 == 0) {  // a segment becomes, or stops being, a recycled one
        Segment& seg = j.segs[rng() % j.segs.size()];
        seg.recycled = !seg.recycled;
      } else {
        DropOrDuplicateSegment(j, rng);
      }
      break;
  }
}

inline std::size_t Mutate(std::uint8_t* data, std::size_t size, std::size_t max_size, unsigned seed) {
  std::mt19937_64 rng(seed);
  static thread_local Journal j;  // reused: Parse keeps its vectors' capacity
  if (rng() % 5 == 0 || !Parse(data, size, &j)) return LLVMFuzzerMutate(data, size, max_size);
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < n; ++k) MutateOnce(j, rng);
  // Mostly consistent bookkeeping; then, sometimes, one field off again.
  const bool fix = rng() % 4 != 0;
  if (fix && rng() % 3 == 0) {
    Finish(j, true, rng);
    MutateOnce(j, rng);
    Finish(j, false, rng);
  } else {
    Finish(j, fix, rng);
  }
  for (std::size_t s = 0; s < j.segs.size(); ++s) {
    while (SegmentBytes(j.segs[s]) > kSegData && !j.segs[s].records.empty()) j.segs[s].records.pop_back();
  }
  return Serialize(j, data, max_size);
}

inline std::size_t CrossOver(const std::uint8_t* d1, std::size_t s1, const std::uint8_t* d2, std::size_t s2,
                             std::uint8_t* out, std::size_t max_out, unsigned seed) {
  std::mt19937_64 rng(seed);
  static thread_local Journal a, b;  // reused, as in Mutate
  if (!Parse(d1, s1, &a) || !Parse(d2, s2, &b) || a.segs.empty() || b.segs.empty()) {
    const std::size_t n = s1 < max_out ? s1 : max_out;
    std::memcpy(out, d1, n);
    return n;
  }
  // The first journal's records up to a point, then the second's from one
  // (in the first journal's identity: the checksums are recomputed).
  const std::size_t sa = rng() % a.segs.size(), sb = rng() % b.segs.size();
  auto& ra = a.segs[sa].records;
  const auto& rb = b.segs[sb].records;
  ra.resize(ra.empty() ? 0 : rng() % (ra.size() + 1));
  const std::size_t from = rb.empty() ? 0 : rng() % rb.size();
  ra.insert(ra.end(), rb.begin() + static_cast<std::ptrdiff_t>(from), rb.end());
  Finish(a, rng() % 4 != 0, rng);
  for (auto& s : a.segs) {
    while (SegmentBytes(s) > kSegData && !s.records.empty()) s.records.pop_back();
  }
  return Serialize(a, out, max_out);
}

}  // namespace txj::fuzz::mutator

#ifdef TXJ_FUZZ_JOURNAL_MUTATOR
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                              unsigned int seed) {
  return txj::fuzz::mutator::Mutate(data, size, max_size, seed);
}
extern "C" std::size_t LLVMFuzzerCustomCrossOver(const std::uint8_t* d1, std::size_t s1, const std::uint8_t* d2,
                                                std::size_t s2, std::uint8_t* out, std::size_t max_out,
                                                unsigned int seed) {
  return txj::fuzz::mutator::CrossOver(d1, s1, d2, s2, out, max_out, seed);
}
#endif

#endif  // TXJOURNAL_FUZZ_JOURNAL_MUTATOR_H_
