#include "name_table.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "log_reader.h"

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
  slots_.clear();
  scanned_to_ = 0;
}

Status NameTable::Define(const std::shared_ptr<Segment>& seg, const RecordView& r) {
  format::NamesBody b;
  std::memcpy(&b, r.body, sizeof b);
  const char* s = reinterpret_cast<const char*>(r.body) + sizeof b;
  const std::string_view topic(s, b.topic_length), type(s + b.topic_length, b.type_length);
  Scope(seg, r.epoch);
  if (b.id >= slots_.size()) slots_.resize(std::size_t{b.id} + 1);
  Slot& slot = slots_[b.id];
  if (!slot.topic.empty() && (slot.topic != topic || slot.type != type)) {
    return Status::Corruption("names record binds id " + Num(b.id) + " of writer session " + Num(r.epoch) + " to " +
                              std::string(topic) + "/" + std::string(type) + ", an earlier one to " +
                              std::string(slot.topic) + "/" + std::string(slot.type));
  }
  slot = {topic, type};
  return Status::OK();
}

Status NameTable::Resolve(const std::shared_ptr<Segment>& seg, std::uint64_t salt, std::uint64_t lsn,
                          std::uint32_t epoch, std::uint16_t id, std::string_view* topic, std::string_view* type) {
  if (Find(seg.get(), epoch, id, topic, type)) return Status::OK();
  // The names records before `lsn` this table was not given: all of the
  // segment's from its first record, or from where this read stopped.
  Scope(seg, epoch);
  std::uint64_t at = std::max(scanned_to_, seg->first_record_lsn());
  std::uint32_t min_epoch = 0;
  while (at < lsn) {
    RecordView r;
    const DecodeError e = DecodeAcrossGap(*seg, &at, salt, lsn, min_epoch, &r);
    if (e != DecodeError::kNone) {
      return Status::Corruption("cannot find the names of the event at byte " + Num(seg->file_offset(lsn)) + " of " +
                                seg->path() + ": " + std::string(DecodeErrorName(e)) + " at byte " +
                                Num(seg->file_offset(at)) + " before it");
    }
    min_epoch = r.epoch;
    if (r.type == RecordType::kNames && r.epoch == epoch) TXJ_RETURN_IF_ERROR(Define(seg, r));
    at = r.next_lsn();
  }
  scanned_to_ = std::max(scanned_to_, at);
  if (Find(seg.get(), epoch, id, topic, type)) return Status::OK();
  return Status::Corruption(
      "event at byte " + Num(seg->file_offset(lsn)) + " of " + seg->path() + " names its topic and type by id " +
      Num(id) + ", which no names record of writer session " + Num(epoch) + " before it in the segment binds");
}

Status NameTable::Decode(const std::shared_ptr<Segment>& seg, std::uint64_t salt, const RecordView& r, EventFields* f) {
  *f = DecodeEventBody(r);
  if (!f->name_ref) return Status::OK();
  return Resolve(seg, salt, r.lsn, r.epoch, f->name_id, &f->topic, &f->type);
}

}  // namespace txj::internal
