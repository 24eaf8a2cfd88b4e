// journal-load as a function, so tests run it in-process.
#ifndef TXJOURNAL_TOOLS_LOAD_TOOL_H_
#define TXJOURNAL_TOOLS_LOAD_TOOL_H_

#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace txj::tools {

inline constexpr int kLoadOk = 0;
inline constexpr int kLoadBadInput = 1;  // a malformed line (named), or input ending inside a transaction
inline constexpr int kLoadUsage = 2;
inline constexpr int kLoadJournal = 3;   // the journal refused (cannot open, I/O error, ...)

// `args` excludes the program name; `in` is used when no input file is named
// (or it is "-").
int RunLoad(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_LOAD_TOOL_H_
