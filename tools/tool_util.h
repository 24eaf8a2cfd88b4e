// Helpers shared by the command-line tools.
#ifndef TXJOURNAL_TOOLS_TOOL_UTIL_H_
#define TXJOURNAL_TOOLS_TOOL_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace txj::tools {

std::string Base64Encode(std::string_view in);
// nullopt for invalid base64.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_TOOL_UTIL_H_
