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
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace txj::internal {

class ValidatedNames {
 public:
  // A checked pair, and the id a names record bound it to in the active
  // segment (format 5, docs/format.md "Names"): valid while `segment` is
  // the active segment's base LSN.
  struct Slot {
    std::string topic, type;
    std::uint64_t segment = ~std::uint64_t{0};
    std::uint16_t id = 0;
  };

  // The pair's slot if it was checked, else null; a hit becomes the first
  // one looked at.
  Slot* Find(std::string_view topic, std::string_view type) {
    if (last_ < used_ && Equal(slots_[last_], topic, type)) [[likely]] {
      return &slots_[last_];
    }
    for (std::size_t i = 0; i < used_; ++i) {
      if (i != last_ && Equal(slots_[i], topic, type)) {
        last_ = i;
        return &slots_[i];
      }
    }
    return nullptr;
  }
  bool Contains(std::string_view topic, std::string_view type) { return Find(topic, type) != nullptr; }
  // Remembers a pair that passed the checks; once every slot is taken, in
  // the slots in turn (a pair stays for kSlots - 1 additions after its own).
  Slot* Add(std::string_view topic, std::string_view type) {
    const std::size_t i = used_ < kSlots ? used_++ : next_victim_++ % kSlots;
    slots_[i].topic.assign(topic);
    slots_[i].type.assign(type);
    slots_[i].segment = ~std::uint64_t{0};
    last_ = i;
    return &slots_[i];
  }

  static constexpr std::size_t kSlots = 16;

 private:
  static bool Equal(const Slot& s, std::string_view topic, std::string_view type) {
    return Same(s.type, type) && Same(s.topic, topic);
  }
  // a == b; names of up to 16 bytes (the usual) compared with two
  // overlapping loads from each instead of a call to memcmp.
  static bool Same(const std::string& a, std::string_view b) {
    const std::size_t n = a.size();
    if (n != b.size()) return false;
    const char* x = a.data();
    const char* y = b.data();
    if (n >= 8) {
      if (n > 16) return std::memcmp(x, y, n) == 0;
      return (Load<std::uint64_t>(x) ^ Load<std::uint64_t>(y)) == 0 &&
             (Load<std::uint64_t>(x + n - 8) ^ Load<std::uint64_t>(y + n - 8)) == 0;
    }
    if (n >= 4) {
      return (Load<std::uint32_t>(x) ^ Load<std::uint32_t>(y)) == 0 &&
             (Load<std::uint32_t>(x + n - 4) ^ Load<std::uint32_t>(y + n - 4)) == 0;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (x[i] != y[i]) return false;
    }
    return true;
  }
  template <typename T>
  static T Load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  std::array<Slot, kSlots> slots_;
  std::size_t used_ = 0, last_ = 0, next_victim_ = 0;  // slots below used_ hold checked pairs
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_VALIDATED_NAMES_H_
