// journal-bench: the engines compared, behind one small interface.
#ifndef TXJOURNAL_BENCH_ENGINE_H_
#define TXJOURNAL_BENCH_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../tests/forwarding_fs.h"
#include "txjournal/file_system.h"

namespace bench {

struct Shape {
  std::size_t payload = 100;     // bytes per event
  std::size_t per_txn = 100;     // events per top-level transaction
  bool durable = false;          // sync on commit (as each engine allows)
  bool nested = false;           // txjournal only: sub-transactions, depth 3, a tenth rolled back
};

// One engine writing events in transactions to a fresh directory.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;
  // Opens a fresh store in `dir`. False (with a reason in error()) if the
  // engine cannot run this shape.
  virtual bool Open(const std::string& dir, const Shape& shape) = 0;
  // Writes one transaction of shape.per_txn events; false on error.
  virtual bool Commit(const std::string& payload) = 0;
  // Reads everything back (checksums verified where the engine has them);
  // returns events read.
  virtual std::uint64_t Scan() { return 0; }
  // Closes the store; false (with a reason in error) if closing failed or
  // an error of the engine's own background work (TxjReused's retention)
  // was found only now.
  virtual bool Close() = 0;
  // True when what Open writes is the baseline's precondition (a zero-filled
  // file, prefaulted pages), not a cost of the engine: the device-byte count
  // then starts after Open.
  virtual bool OpenWritesAreSetup() const { return false; }
  // False for the limits: they model the cost of writing records into
  // memory, not a store; their files are discarded unwritten.
  virtual bool HasDeviceBytes() const { return true; }
  // fdatasync calls made so far by the engine, -1 if it cannot tell.
  virtual std::int64_t DataSyncs() const { return -1; }
  std::string error;
};

// Every engine built into this binary, in report order.
std::vector<std::unique_ptr<Engine>> MakeEngines();

// Versions of the libraries compared (name, version), from their version
// functions (what is linked) and macros (what was compiled against).
std::vector<std::pair<std::string, std::string>> LibraryVersions();

// The POSIX file system, counting DataSync (fdatasync) and SyncDir calls:
// the journal makes every sync through its FileSystem (file_system.h), so
// this counts every fdatasync it makes on its segments and manifest (not
// LMDB's own syncs of the catalog, which no workload here touches).
class CountingFileSystem final : public txj::test::ForwardingFileSystem {
 public:
  std::uint64_t data_syncs() const { return data_syncs_.load(std::memory_order_relaxed); }
  std::uint64_t dir_syncs() const { return dir_syncs_.load(std::memory_order_relaxed); }

  int DataSync(int fd) override {
    data_syncs_.fetch_add(1, std::memory_order_relaxed);
    return base_->DataSync(fd);
  }
  int SyncDir(const std::string& p) override {
    dir_syncs_.fetch_add(1, std::memory_order_relaxed);
    return base_->SyncDir(p);
  }

 private:
  std::atomic<std::uint64_t> data_syncs_{0}, dir_syncs_{0};
};

}  // namespace bench

#endif  // TXJOURNAL_BENCH_ENGINE_H_
