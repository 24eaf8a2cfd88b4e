#include "txjournal/version.h"

namespace txj {

const char* LibraryVersion() noexcept { return kVersionString; }
std::uint32_t LibraryFormatVersion() noexcept { return kFormatVersion; }

}  // namespace txj
