// The journal's door for the layers above it (consumers, sessions,
// replication): the few calls they need of an open journal, so that none of
// them sees the journal's private state (journal_state.h).
#ifndef TXJOURNAL_LIB_JOURNAL_DOOR_H_
#define TXJOURNAL_LIB_JOURNAL_DOOR_H_

#include <atomic>
#include <memory>

#include "txjournal/status.h"
#include "user_tables.h"

namespace txj {
class Journal;
}

namespace txj::internal {

// True when `journal` is open for writing and has a catalog: what a store
// that keeps data in the catalog's user tables needs.
bool HasWritableCatalog(Journal& journal);

// Records, in the catalog and the manifest, that the catalog of `journal`
// now holds data the journal cannot rebuild (offsets, sessions, eventbox
// states). Errors: kInvalidState without a writable catalog; those of
// writing the catalog or the manifest.
Status MarkCatalogPrecious(Journal& journal);

// The user tables of `journal`'s catalog, named "DIR/catalog" in messages.
// REQUIRES: HasWritableCatalog(journal). The tables use the catalog's LMDB
// environment: they must not be used once the journal is closed (check
// AliveFlag and AcceptingFlag).
std::unique_ptr<UserTables> OpenUserTables(Journal& journal);

// False once the Journal object is destroyed; shared, so it can be read
// after that.
std::shared_ptr<std::atomic<bool>> AliveFlag(Journal& journal);
// False once the journal's close() has begun.
std::shared_ptr<std::atomic<bool>> AcceptingFlag(Journal& journal);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_JOURNAL_DOOR_H_
