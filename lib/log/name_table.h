// The topic and type names that events of format 5 refer to by id
// (format::kFlagNameRef): what the names records of one segment, written
// by one writer session, bound (docs/format.md "Names").
//
// A reader gives it every names record it passes (Define) and asks it for
// the names of each event by id (Find, inline; Resolve when Find misses).
// A reader that started in the middle of a segment, or skipped part of
// one, has not passed every names record before its position: Resolve then
// takes what the segment's shared table (Segment::names(), SegmentNames)
// holds from this process's other readers and its writer, reads the rest of
// the segment up to the event, checking each record, and leaves what it
// found in the shared table. Only an id no names record before the event
// binds is an error.
//
// The names are views into the segment's mapping or its shared table,
// which the table keeps alive until it moves to another segment. Not
// thread-safe: one reader's.
#ifndef TXJOURNAL_LIB_NAME_TABLE_H_
#define TXJOURNAL_LIB_NAME_TABLE_H_

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "record.h"
#include "segment.h"
#include "txjournal/status.h"

namespace txj::internal {

class NameTable {
 public:
  // Takes the names record `r`, read in `seg`. Errors: kCorruption when it
  // binds an id again to other names (the caller adds where).
  Status Define(const std::shared_ptr<Segment>& seg, const RecordView& r);

  // The names bound to `id` for events of `epoch` in `seg`, if a record
  // this table was given binds them.
  bool Find(const Segment* seg, std::uint32_t epoch, std::uint16_t id, std::string_view* topic,
            std::string_view* type) const {
    return InScope(seg, epoch) && FindInScope(id, topic, type);
  }
  // Find() in steps, for a run of events of one segment and epoch: the
  // table's slots, indexed by id, while InScope (a slot with an empty topic
  // binds nothing).
  bool InScope(const Segment* seg, std::uint32_t epoch) const { return seg == seg_.get() && epoch == epoch_; }
  struct Slot {
    std::string_view topic, type;
  };
  const Slot* slots() const { return slots_.data(); }
  std::size_t size() const { return slots_.size(); }
  // Changes whenever the scope does: an id's names, once bound, stay the
  // same for as long as this is unchanged (a reader may keep what it
  // derived from them per id).
  std::uint64_t scope_number() const { return scope_number_; }
  bool FindInScope(std::uint16_t id, std::string_view* topic, std::string_view* type) const {
    if (id >= slots_.size()) [[unlikely]]
      return false;
    const Slot& s = slots_[id];
    if (s.topic.empty()) [[unlikely]]
      return false;
    *topic = s.topic;
    *type = s.type;
    return true;
  }

  // Find(), taking the names records of `seg` before `lsn` that this table
  // was not given from the segment's shared table, or reading them. Errors:
  // kCorruption when no names record before it binds the id, a record
  // before it in the segment does not verify, or two bind the id to
  // different names. The message names the id and any other record by its
  // byte in `seg`; the caller adds where the event is (as for Define).
  Status Resolve(const std::shared_ptr<Segment>& seg, std::uint64_t salt, std::uint64_t lsn, std::uint32_t epoch,
                 std::uint16_t id, std::string_view* topic, std::string_view* type);
  // DecodeEventBody() of the event `r` in `seg`, its names found (Resolve)
  // when the event refers to them by id.
  Status Decode(const std::shared_ptr<Segment>& seg, std::uint64_t salt, const RecordView& r, EventFields* f);

 private:
  // Makes (seg, epoch) the table's scope, emptied when it was another.
  void Scope(const std::shared_ptr<Segment>& seg, std::uint32_t epoch);
  // Binds `id` in the table's scope. Errors: kCorruption when it is bound
  // to other names.
  Status Bind(std::uint16_t id, std::string_view topic, std::string_view type);

  std::shared_ptr<Segment> seg_;  // keeps the names' mapping alive
  std::uint32_t epoch_ = 0;
  std::uint64_t scope_number_ = 0;
  std::vector<Slot> slots_;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_NAME_TABLE_H_
