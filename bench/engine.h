// journal-bench: the engines compared, behind one small interface.
#ifndef TXJOURNAL_BENCH_ENGINE_H_
#define TXJOURNAL_BENCH_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
  virtual void Close() = 0;
  std::string error;
};

// Every engine built into this binary, in report order. `mode` filters:
// "all" or an engine name.
std::vector<std::unique_ptr<Engine>> MakeEngines();

}  // namespace bench

#endif  // TXJOURNAL_BENCH_ENGINE_H_
