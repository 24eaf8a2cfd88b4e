// Serialized forms of what participants stage, and the ids derived from them.
#ifndef TXJOURNAL_LIB_STAGED_OPS_H_
#define TXJOURNAL_LIB_STAGED_OPS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "txjournal/status.h"

namespace txj::internal {

// A length-prefixed list of strings, with nullopt entries.
std::string EncodeFields(const std::vector<std::optional<std::string>>& fields);
// Errors: kCorruption naming `what`.
Result<std::vector<std::optional<std::string>>> DecodeFields(std::string_view bytes, const std::string& what);
// XXH3-128 of `bytes` as 32 hex digits.
std::string Id128(std::string_view bytes);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_STAGED_OPS_H_
