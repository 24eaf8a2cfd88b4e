// The names records of one segment that the readers of one process have
// found, shared by them (a NameTable is one reader's): a reader that starts
// in the middle of a segment reads the segment's records before it once per
// process, not once per cursor, and not at all for the writer's own
// session, whose writer adds each names record it writes
// (docs/format.md "Names").
//
// Bindings are kept by (writer session, id) with the LSN of the record
// that made them; the first binding of a pair is kept, with the LSN of
// the first record found to bind the id again to other names (corruption,
// which a reader past it reports as one that read the segment itself
// would). Thread-safe: a mutex, taken only where a
// reader's own table misses and where the writer writes a names record.
#ifndef TXJOURNAL_LIB_SEGMENT_NAMES_H_
#define TXJOURNAL_LIB_SEGMENT_NAMES_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace txj::internal {

class SegmentNames {
 public:
  struct Binding {
    std::uint64_t lsn = 0;  // of the names record
    std::string topic, type;
    // A later names record of the session that binds the id to other
    // names (corruption: a reader past it reports it); 0: none found.
    std::uint64_t rebound_lsn = 0;
  };
  struct Found {
    std::uint32_t epoch = 0;
    std::uint16_t id = 0;
    std::uint64_t lsn = 0;
    std::string_view topic, type;
  };

  // The writer: it wrote the names record at `lsn` binding `id` of its
  // session `epoch`, before any event naming the id can be read. Every
  // binding of that session in this segment is then here.
  void AddWritten(std::uint32_t epoch, std::uint16_t id, std::string_view topic, std::string_view type,
                  std::uint64_t lsn);

  // A reader read every record of the segment in [from, to) and found the
  // names records `found` there. Kept only when it continues what is here:
  // `from` at most scanned_to(), or the segment's first record `first`.
  void AddScanned(std::uint64_t first, std::uint64_t from, std::uint64_t to, const std::vector<Found>& found);

  // Every names record before this LSN is here (0: none read yet).
  std::uint64_t scanned_to() const {
    std::lock_guard<std::mutex> lock(mu_);
    return scanned_to_;
  }

  // The bytes readers read back in all (the sum of AddScanned's to - from):
  // for tests and probes.
  std::uint64_t read_back() const {
    std::lock_guard<std::mutex> lock(mu_);
    return read_back_;
  }

  // Calls `take(id, binding)` for each binding of session `epoch` made
  // before `lsn`. Returns the LSN up to which that is all of them: `lsn`
  // for the writer's session, else at most scanned_to(). The bindings
  // live as long as this table.
  template <typename Take>
  std::uint64_t Copy(std::uint32_t epoch, std::uint64_t lsn, Take&& take) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = bindings_.lower_bound({epoch, 0}); it != bindings_.end() && it->first.first == epoch; ++it) {
      if (it->second.lsn < lsn) take(it->first.second, it->second);
    }
    return IsWritten(epoch) ? lsn : std::min(lsn, scanned_to_);
  }

 private:
  bool IsWritten(std::uint32_t epoch) const {
    for (std::uint32_t e : written_epochs_) {
      if (e == epoch) return true;
    }
    return false;
  }

  mutable std::mutex mu_;
  // (epoch, id) -> binding; a map's nodes never move, so readers may keep
  // views of the names.
  std::map<std::pair<std::uint32_t, std::uint16_t>, Binding> bindings_;
  std::uint64_t scanned_to_ = 0;
  std::uint64_t read_back_ = 0;
  std::vector<std::uint32_t> written_epochs_;  // sessions whose writer added theirs
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_SEGMENT_NAMES_H_
