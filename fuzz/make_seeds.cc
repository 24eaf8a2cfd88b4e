// Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/) from a
// small real journal: see fuzz/build.sh --seeds. Deterministic apart from
// the journal's random identity and timestamps.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dump_tool.h"
#include "format.h"
#include "fuzz_dir.h"
#include "manifest.h"
#include "record.h"
#include "txjournal/journal.h"

namespace fs = std::filesystem;
using namespace txj;

namespace {

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Put(const std::string& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
void Append(std::string* s, const T& v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof v);
}

// The fuzz_dir.h input for the journal in `dir`: its identity, epoch, and
// each segment's watermark slot and data up to its last non-zero byte
// (at most `limit` bytes of data in all).
std::string DirInput(const std::string& dir, std::uint8_t flags, std::size_t limit = SIZE_MAX) {
  internal::ManifestData m;
  if (!internal::ReadManifest(*DefaultFileSystem(), dir, &m).ok()) std::abort();
  std::string in;
  in.push_back(static_cast<char>(flags));
  in.append(reinterpret_cast<const char*>(m.journal_id), 16);
  Append(&in, m.epoch);
  std::vector<std::string> segs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") segs.push_back(e.path().string());
  }
  std::sort(segs.begin(), segs.end());
  for (const auto& p : segs) {
    std::string f = ReadFile(p);
    std::size_t end = f.size();
    while (end > format::kSegmentHeaderSize && f[end - 1] == 0) --end;
    std::uint32_t n = static_cast<std::uint32_t>(end - format::kSegmentHeaderSize);
    if (n > limit) n = static_cast<std::uint32_t>(limit);
    limit -= n;
    Append(&in, n);
    in.append(f, format::kWatermarkOffset, sizeof(format::WatermarkSlot));
    in.append(f, format::kSegmentHeaderSize, n);
    if (limit == 0) break;
  }
  return in;
}

void Workload(Journal& j, std::mt19937_64& rng, int txns) {
  const char* topics[] = {"orders", "stock", "ördér"};
  for (int t = 0; t < txns; ++t) {
    auto tx = j.begin();
    if (!tx.ok()) std::abort();
    const int n = static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      std::string payload(rng() % 1500, 'p');
      AppendOptions ao;
      std::string key = "k" + std::to_string(rng() % 10);
      if (i % 2) ao.key = key;
      (void)tx->append(topics[rng() % 3], i % 2 ? "created" : "updated", payload, ao);
    }
    if (rng() % 2) {
      auto sub = tx->begin();
      (void)sub->append("stock", "reserved", "{\"n\":1}");
      if (rng() % 3) (void)sub->commit();
      else (void)sub->rollback();
    }
    if (rng() % 5) (void)tx->commit();
    else (void)tx->rollback();
  }
}

// Record seeds: windows of the clean journal's first segment at record
// starts (every other event, every other record type).
void PutRecordSeeds(const std::string& out, const std::string& clean) {
  internal::ManifestData m;
  (void)internal::ReadManifest(*DefaultFileSystem(), clean, &m);
  const std::uint64_t salt = m.salt();
  const std::string seg = ReadFile(clean + "/0000000000000000.seg");
  std::uint64_t pos = format::kSegmentHeaderSize;
  for (int k = 0; pos + format::kRecordHeaderSize <= seg.size() && k < 24; ++k) {
    internal::RecordView r;
    auto e = internal::DecodeRecord(reinterpret_cast<const std::uint8_t*>(seg.data()) + pos, seg.size() - pos, pos,
                                    salt, &r);
    if (e != internal::DecodeError::kNone) break;
    if (k % 2 == 0 || r.type != RecordType::kEvent) {
      std::string in;
      Append(&in, pos);
      Append(&in, salt);
      in.append(seg, pos, std::min<std::size_t>(2048, seg.size() - pos));
      Put(out + "/record", "record-" + std::to_string(k), in);
    }
    pos = r.next_lsn();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out = argc > 1 ? argv[1] : "fuzz/corpus";
  const std::string work = fuzz::WorkDir() + "-seeds";
  fs::remove_all(work);
  fs::create_directories(work);
  std::mt19937_64 rng(20261122);
  Options o;
  o.segment_size = fuzz::kFuzzSegmentSize;
  o.durability = Durability::kNone;
  const std::string clean = work + "/clean";
  {
    auto j = Journal::open(clean, o);
    if (!j.ok()) std::abort();
    Workload(**j, rng, 45);  // a little over one segment
    (void)(*j)->close();
  }
  // A copy taken while a transaction is open and its last record torn.
  const std::string open_tail = work + "/open_tail";
  {
    auto j = Journal::open(open_tail, o);
    if (!j.ok()) std::abort();
    Workload(**j, rng, 10);
    auto tx = (*j)->begin();
    (void)tx->append("orders", "created", std::string(700, 'x'));
    (void)tx->append("orders", "created", std::string(300, 'y'));
    fs::copy(open_tail, open_tail + "-copy", fs::copy_options::recursive);
    (void)tx->rollback();
  }
  const std::string clean_in = DirInput(clean, 0);
  const std::string tail_in = DirInput(open_tail + "-copy", 0);
  // The same, cut inside its last record (the harness zero-fills the rest).
  const std::string torn_in = tail_in.substr(0, tail_in.size() - 150);
  Put(out + "/recovery", "clean", clean_in);
  Put(out + "/recovery", "open-transaction-at-tail", tail_in);
  Put(out + "/recovery", "torn-record", torn_in);
  Put(out + "/recovery", "missing-middle-segment", DirInput(clean, 1));
  Put(out + "/dump", "clean", clean_in);
  Put(out + "/dump", "open-transaction-at-tail", tail_in);
  {
    std::string raw(1, static_cast<char>(0x80));
    raw += ReadFile(clean + "/JOURNAL");
    raw += ReadFile(clean + "/0000000000000000.seg").substr(0, 8192);
    Put(out + "/dump", "raw-files", raw);
  }
  PutRecordSeeds(out, clean);
  // journal-load input: the raw JSON lines journal-dump prints.
  {
    std::ostringstream dump, err;
    if (tools::RunDump({"--raw", "--format", "jsonl", clean}, dump, err) != 0) {
      std::fprintf(stderr, "journal-dump: %s\n", err.str().c_str());
      std::abort();
    }
    std::string s = dump.str();
    if (s.size() > 60000) s.resize(s.rfind('\n', 60000) + 1);
    Put(out + "/load", "dump-raw", s);
    Put(out + "/load", "nested",
        "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"a\",\"type\":\"t\",\"data\":\"x\",\"key\":\"k\"}\n"
        "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"b\",\"type\":\"\",\"data_b64\":\"AAEC\"}\n"
        "{\"op\":\"rollback\"}\n{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"c\",\"type\":\"u\",\"data\":\"\","
        "\"ts\":5}\n{\"op\":\"commit\"}\n{\"op\":\"commit\"}\n");
    Put(out + "/load", "unterminated", "{\"op\":\"begin\"}\n{\"op\":\"event\",\"topic\":\"a\",\"type\":\"t\"");
  }
  fs::remove_all(work);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
