// txjournal: library and on-disk format versions.
//
// The library version follows semantic versioning. The format version is
// separate: a journal written with an unknown format version is reported as
// kNotSupported, never as corruption.
#ifndef TXJOURNAL_VERSION_H_
#define TXJOURNAL_VERSION_H_

#include <cstdint>

namespace txj {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;
inline constexpr const char* kVersionString = "0.1.0";

// Version of the on-disk format this build reads and writes.
inline constexpr std::uint32_t kFormatVersion = 1;

}  // namespace txj

#endif  // TXJOURNAL_VERSION_H_
