// Keeps a file truncated under one of the journal's mappings from killing
// the process.
//
// Touching a page of a shared file mapping past the end of the file raises
// SIGBUS. The journal never truncates a file it maps, but another process
// can (or a full disk under a sparse copy). Each mapping of a segment or
// of the HEAD page is registered here; a SIGBUS inside a registered range
// is absorbed by mapping a private zero page over the faulting page (reads
// then see zeros, which never verify as records; writes land in that page
// and are lost) and counting the fault against the range. Owners check the
// count where it matters: cursors before handing out an event, the writer
// after a sync (it then fails closed), the walk after each segment.
//
// The handler is installed on the first registration and chains to the
// handler that was there before for addresses it does not know (a SIGBUS
// elsewhere still ends the process as it would have). LMDB's catalog map
// is not covered.
#ifndef TXJOURNAL_LIB_MAPPING_GUARD_H_
#define TXJOURNAL_LIB_MAPPING_GUARD_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "non_copyable.h"

namespace txj::internal {

class MappingGuard : NonCopyable {
 public:
  // A registered range; an unregistered (default) guard reports no faults.
  MappingGuard() = default;
  MappingGuard(const void* addr, std::size_t len) { Register(addr, len); }
  ~MappingGuard() { Unregister(); }

  // Registers [addr, addr + len), replacing any earlier range. If the table
  // of ranges is full the range is not guarded (a SIGBUS there is fatal).
  void Register(const void* addr, std::size_t len);
  // Call before unmapping the range.
  void Unregister();
  // Faults absorbed in the range since it was registered.
  std::uint32_t faults() const;

  // Faults absorbed in any range since the process started: a cheap check
  // before looking at individual ranges.
  // (Inline: a cursor checks it on every event.)
  static std::uint64_t TotalFaults() { return total_faults_.load(std::memory_order_acquire); }

 private:
  friend void CountFault();
  static std::atomic<std::uint64_t> total_faults_;  // counted by the signal handler
  int slot_ = -1;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_MAPPING_GUARD_H_
