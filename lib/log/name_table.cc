#include "name_table.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "log_reader.h"
#include "txn_hash.h"

namespace txj::internal {

namespace {
std::string Num(std::uint64_t v) { return std::to_string(v); }
}  // namespace

void NameTable::Scope(const std::shared_ptr<Segment>& seg, std::uint32_t epoch) {
  if (seg.get() == seg_.get() && epoch == epoch_) return;
  // Epochs never go down along a segment: an older session's names are
  // named by no later event.
  seg_ = seg;
  epoch_ = epoch;
  ++scope_number_;
  slots_.clear();
}

namespace {

// The id and names the names record `r` binds.
void NamesOf(const RecordView& r, std::uint16_t* id, std::string_view* topic, std::string_view* type) {
  format::NamesBody b;
  std::memcpy(&b, r.body, sizeof b);
  const char* s = reinterpret_cast<const char*>(r.body) + sizeof b;
  *id = b.id;
  *topic = std::string_view(s, b.topic_length);
  *type = std::string_view(s + b.topic_length, b.type_length);
}

// The transaction whose begin marker `begin` a reader of `seg` just read
// (verified), taken whole: when it is flagged hashed (format 4) and its
// commit marker ends before `limit`, its records are stepped over by the
// lengths in their headers alone, and the step holds if a commit marker of
// the same transaction verifies at the LSN reached, names `begin`, and
// carries the transaction hash of the bytes from the begin marker to it
// (the proof a cursor takes before it hands out events). Then *commit is
// the commit marker and *names the names records in between, each
// verified. False when anything of that does not hold: the caller reads
// the records one by one, which says what is wrong. The transaction hash
// takes XXH3's vector loop over the whole transaction where each record's
// checksum took its scalar one.
bool TakeHashedTxn(const Segment& seg, std::uint64_t salt, const RecordView& begin, std::uint64_t limit,
                   RecordView* commit, std::vector<RecordView>* names) {
  if (begin.type != RecordType::kBegin || (begin.flags & format::kFlagHashedTxn) == 0) return false;
  names->clear();
  const std::uint64_t end = std::min(limit, seg.end());
  std::uint64_t at = begin.next_lsn();
  while (at < end && end - at >= format::kRecordHeaderSize) {
    // The next record's place depends on this one's length: memory that no
    // cache holds would be waited for record by record. A page ahead, as
    // the cursor reads.
    __builtin_prefetch(seg.at(at) + 4096);
    format::RecordHeader h;
    std::memcpy(&h, seg.at(at), sizeof h);
    if (h.length < format::kRecordHeaderSize || h.length > end - at) return false;
    if (h.type == static_cast<std::uint8_t>(RecordType::kNames)) {
      RecordView n;
      if (DecodeRecord(seg.at(at), seg.end() - at, at, salt, &n) != DecodeError::kNone) return false;
      names->push_back(n);
    } else if (h.type == static_cast<std::uint8_t>(RecordType::kCommit)) {
      if (DecodeRecord(seg.at(at), seg.end() - at, at, salt, commit) != DecodeError::kNone || commit->follows_gap ||
          commit->txn_id != begin.txn_id || commit->epoch != begin.epoch) {
        return false;
      }
      const auto body = ReadBody<format::CommitBody>(*commit);
      return body.begin_lsn == begin.lsn && TxnHashOf(seg.at(begin.lsn), at - begin.lsn) == body.running_hash;
    }
    at += format::AlignUp(h.length);
  }
  return false;
}

}  // namespace

Status NameTable::Bind(std::uint16_t id, std::string_view topic, std::string_view type) {
  if (id >= slots_.size()) slots_.resize(std::size_t{id} + 1);
  Slot& slot = slots_[id];
  if (!slot.topic.empty() && (slot.topic != topic || slot.type != type)) {
    return Status::Corruption("binds id " + Num(id) + " of writer session " + Num(epoch_) + " to " +
                              std::string(topic) + "/" + std::string(type) + ", an earlier one to " +
                              std::string(slot.topic) + "/" + std::string(slot.type));
  }
  slot = {topic, type};
  return Status::OK();
}

Status NameTable::Define(const std::shared_ptr<Segment>& seg, const RecordView& r) {
  std::uint16_t id;
  std::string_view topic, type;
  NamesOf(r, &id, &topic, &type);
  Scope(seg, r.epoch);
  if (Status s = Bind(id, topic, type); !s.ok()) return Status::Corruption("names record " + s.message());
  return Status::OK();
}

Status NameTable::Resolve(const std::shared_ptr<Segment>& seg, std::uint64_t salt, std::uint64_t lsn,
                          std::uint32_t epoch, std::uint16_t id, std::string_view* topic, std::string_view* type) {
  if (Find(seg.get(), epoch, id, topic, type)) return Status::OK();
  Scope(seg, epoch);
  // What this process's readers (or its writer) found in the segment
  // before `lsn`; the rest is read here, and left for the next reader.
  SegmentNames& shared = seg->names();
  Status bound;
  const std::uint64_t known = shared.Copy(epoch, lsn, [&](std::uint16_t bid, const SegmentNames::Binding& b) {
    if (!bound.ok()) return;
    bound = Bind(bid, b.topic, b.type);
    if (bound.ok() && b.rebound_lsn != 0 && b.rebound_lsn < lsn) {
      bound = Status::Corruption("names record at byte " + Num(seg->file_offset(b.rebound_lsn)) + " binds id " +
                                 Num(bid) + " of writer session " + Num(epoch) + " to other names than " + b.topic +
                                 "/" + b.type + " (bound at byte " + Num(seg->file_offset(b.lsn)) + ")");
    }
  });
  if (!bound.ok()) return bound;
  const std::uint64_t first = seg->first_record_lsn();
  if (!Find(seg.get(), epoch, id, topic, type)) {
    // The rest of the segment before `lsn`; all of it when the table held
    // everything the writer wrote there (an id missing then is corruption,
    // which the read confirms: the shared table never decides that alone).
    const std::uint64_t from = known < lsn ? std::max(known, first) : first;
    std::uint64_t at = from;
    std::uint32_t min_epoch = 0;
    std::vector<SegmentNames::Found> found;
    auto take = [&](const RecordView& r) -> Status {
      SegmentNames::Found f{r.epoch, 0, r.lsn, {}, {}};
      NamesOf(r, &f.id, &f.topic, &f.type);
      found.push_back(f);
      if (r.epoch != epoch) return Status::OK();
      if (Status s = Bind(f.id, f.topic, f.type); !s.ok()) {
        return Status::Corruption("names record at byte " + Num(seg->file_offset(r.lsn)) + " " + s.message());
      }
      return Status::OK();
    };
    std::vector<RecordView> names;
    while (at < lsn) {
      RecordView r;
      // Up to and with the event: a gap that ends at the event (the
      // transaction went on past a page a sync had covered) is crossed to
      // it, and the read is done.
      const DecodeError e = DecodeAcrossGap(*seg, &at, salt, lsn + 1, min_epoch, &r);
      if (e == DecodeError::kNone && at >= lsn) break;
      if (e != DecodeError::kNone) {
        return Status::Corruption("cannot find the event's names: " + std::string(DecodeErrorName(e)) + " at byte " +
                                  Num(seg->file_offset(at)) + " before it");
      }
      min_epoch = r.epoch;
      RecordView commit;
      if (TakeHashedTxn(*seg, salt, r, lsn, &commit, &names)) {
        for (const RecordView& n : names) {
          TXJ_RETURN_IF_ERROR(take(n));
        }
        at = commit.next_lsn();
        continue;
      }
      if (r.type == RecordType::kNames) {
        TXJ_RETURN_IF_ERROR(take(r));
      }
      at = r.next_lsn();
    }
    shared.AddScanned(first, from, at, found);
  }
  if (Find(seg.get(), epoch, id, topic, type)) return Status::OK();
  return Status::Corruption("event names its topic and type by id " + Num(id) +
                            ", which no names record of writer session " + Num(epoch) +
                            " before it in the segment binds");
}

Status NameTable::Decode(const std::shared_ptr<Segment>& seg, std::uint64_t salt, const RecordView& r, EventFields* f) {
  *f = DecodeEventBody(r);
  if (!f->name_ref) return Status::OK();
  return Resolve(seg, salt, r.lsn, r.epoch, f->name_id, &f->topic, &f->type);
}

}  // namespace txj::internal
