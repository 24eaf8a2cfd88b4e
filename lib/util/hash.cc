#include "hash.h"

#include "txjournal/snapshot.h"

namespace txj {

// Declared with the compactors (snapshots carry it), used by every layer
// that writes or checks a snapshot.
std::string StateHash(std::string_view bytes) { return internal::Hash128Hex(bytes); }

}  // namespace txj
