// Replication when built without libnats.
#include "txjournal/replication.h"

namespace txj {

Result<std::unique_ptr<Replicator>> Replicator::open(Journal&, ReplicationOptions) {
  return Status::NotSupported("txjournal was built without NATS (install libnats-dev and rebuild)");
}

Result<std::unique_ptr<Mirror>> Mirror::open(Journal&, ReplicationOptions) {
  return Status::NotSupported("txjournal was built without NATS (install libnats-dev and rebuild)");
}

}  // namespace txj
