// txjournal: what opening a journal found and repaired.
//
// Thread rules: plain values, no shared state: any thread; a value is
// written by one thread at a time, as any C++ value. Nothing here fails.
#ifndef TXJOURNAL_RECOVERY_REPORT_H_
#define TXJOURNAL_RECOVERY_REPORT_H_

#include "txjournal/cxx_standard.h"

#include <cstdint>
#include <string>
#include <vector>

#include "txjournal/export.h"

namespace txj {

struct TXJ_EXPORT RecoveryReport {
  struct Repair {
    std::string file;          // segment file that was repaired
    std::uint64_t file_offset; // byte offset inside that file where the cut is
    std::uint64_t lsn;         // journal address of the cut
    std::uint64_t bytes_dropped;
    std::string reason;        // "torn record", "open transaction rolled back", ...
  };
  bool created = false;             // the journal was created by this open
  std::uint64_t scanned_bytes = 0;  // bytes read to find the tail
  std::uint64_t start_lsn = 0;      // where the scan began (a checkpoint)
  std::uint64_t end_lsn = 0;        // end of valid data after repair
  std::uint64_t next_offset = 0;    // offset the next committed event gets
  std::uint64_t next_txn_id = 0;
  bool catalog_rebuilt = false;     // the catalog was missing or stale
  std::vector<Repair> repairs;      // empty when the journal was clean
  std::vector<std::string> notes;   // other observations (removed temp files, ...)

  std::string ToString() const;
};

}  // namespace txj

#endif  // TXJOURNAL_RECOVERY_REPORT_H_
