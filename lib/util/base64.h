// Base64 (RFC 4648 alphabet, with padding): the NAME_b64 fields of the dump
// format (include/txjournal/dump.h exports these two).
#ifndef TXJOURNAL_LIB_BASE64_H_
#define TXJOURNAL_LIB_BASE64_H_

#include <optional>
#include <string>
#include <string_view>

namespace txj::internal {

std::string Base64Encode(std::string_view in);
// nullopt for text that is not base64 (wrong length, a byte outside the
// alphabet, padding other than at the end).
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_BASE64_H_
