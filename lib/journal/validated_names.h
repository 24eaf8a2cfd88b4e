// The topic and type pairs a writer has checked (names valid, allowed by the
// schema) since it opened: an event naming one of them again is not checked
// again. Applications interleave a few types inside one transaction
// ("order.created", "payment.captured", ...); remembering only the last
// pair checked every name of such a transaction again, event by event.
//
// Not thread-safe: the writer's own (the holder of the write slot). The
// schema is fixed for an open journal, so a pair checked once stays good.
#ifndef TXJOURNAL_LIB_VALIDATED_NAMES_H_
#define TXJOURNAL_LIB_VALIDATED_NAMES_H_

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace txj::internal {

class ValidatedNames {
 public:
  // Whether the pair was checked; a hit becomes the first one looked at.
  bool Contains(std::string_view topic, std::string_view type) {
    if (last_ < used_ && Equal(slots_[last_], topic, type)) [[likely]] {
      return true;
    }
    for (std::size_t i = 0; i < used_; ++i) {
      if (i != last_ && Equal(slots_[i], topic, type)) {
        last_ = i;
        return true;
      }
    }
    return false;
  }
  // Remembers a pair that passed the checks; once every slot is taken, in
  // the slots in turn (a pair stays for kSlots - 1 additions after its own).
  void Add(std::string_view topic, std::string_view type) {
    const std::size_t i = used_ < kSlots ? used_++ : next_victim_++ % kSlots;
    slots_[i].topic.assign(topic);
    slots_[i].type.assign(type);
    last_ = i;
  }

  static constexpr std::size_t kSlots = 16;

 private:
  struct Slot {
    std::string topic, type;
  };
  static bool Equal(const Slot& s, std::string_view topic, std::string_view type) {
    return s.type == type && s.topic == topic;
  }
  std::array<Slot, kSlots> slots_;
  std::size_t used_ = 0, last_ = 0, next_victim_ = 0;  // slots below used_ hold checked pairs
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_VALIDATED_NAMES_H_
