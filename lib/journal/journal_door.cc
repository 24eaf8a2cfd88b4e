#include "journal_door.h"

#include "journal_state.h"

namespace txj::internal {

bool HasWritableCatalog(Journal& journal) {
  const JournalState& s = JournalAccess::state(journal);
  return !s.read_only && s.catalog;
}

Status MarkCatalogPrecious(Journal& journal) { return MarkCatalogPrecious(JournalAccess::state(journal)); }

std::unique_ptr<UserTables> OpenUserTables(Journal& journal) {
  JournalState& s = JournalAccess::state(journal);
  return std::make_unique<UserTables>(s.catalog->env(), JoinPath(s.dir, "catalog"));
}

std::shared_ptr<std::atomic<bool>> AliveFlag(Journal& journal) { return JournalAccess::state(journal).alive; }

std::shared_ptr<std::atomic<bool>> AcceptingFlag(Journal& journal) { return JournalAccess::state(journal).accepting; }

}  // namespace txj::internal
