// Private name of the import API (include/txjournal/import.h), which
// journal-load uses through the shared library.
#ifndef TXJOURNAL_LIB_IMPORT_H_
#define TXJOURNAL_LIB_IMPORT_H_

#include "txjournal/import.h"

namespace txj::internal {

using txj::ImportCompactedMark;
using txj::ImportGap;
using txj::ImportInnerGap;
using txj::ImportNextTxnId;
using txj::ImportOpenTransaction;
using txj::ImportOpenTxn;
using txj::ImportPosition;
using txj::ImportPositionOf;
using txj::ImportSnapshot;

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_IMPORT_H_
