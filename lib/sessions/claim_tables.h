// How the sessions objects that keep their state in the journal's catalog
// (the eventbox, the multi-store committer) begin: the journal must be open
// for writing, its catalog is marked precious, and they get its user tables.
#ifndef TXJOURNAL_LIB_CLAIM_TABLES_H_
#define TXJOURNAL_LIB_CLAIM_TABLES_H_

#include <memory>

#include "journal_door.h"
#include "txjournal/journal.h"
#include "txjournal/status.h"
#include "user_tables.h"

namespace txj::internal {

// Sets `*tables` to the journal's user tables. Errors: kInvalidState when
// `journal` is not open for writing; what marking the catalog precious
// reports.
inline Status ClaimUserTables(Journal& journal, std::unique_ptr<UserTables>* tables) {
  if (!HasWritableCatalog(journal)) {
    return Status::InvalidState("journal " + journal.dir() + " is not open for writing");
  }
  TXJ_RETURN_IF_ERROR(MarkCatalogPrecious(journal));
  *tables = OpenUserTables(journal);
  return Status::OK();
}

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_CLAIM_TABLES_H_
