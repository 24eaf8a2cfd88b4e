// journal-load as a function, so tests run it in-process.
#ifndef TXJOURNAL_TOOLS_LOAD_TOOL_H_
#define TXJOURNAL_TOOLS_LOAD_TOOL_H_

#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "txjournal/journal.h"

namespace txj::tools {

inline constexpr int kLoadOk = 0;
// A malformed line (named), input ending inside a transaction, an unreadable
// input stream, or a copy (journal-dump --raw --format jsonl) that cannot be
// reproduced faithfully or ends before its end line.
inline constexpr int kLoadBadInput = 1;
inline constexpr int kLoadUsage = 2;     // bad command line; input that cannot be opened, a directory, closed stdin
inline constexpr int kLoadJournal = 3;   // the journal refused (cannot open, I/O error, not empty for a copy, ...)
inline constexpr int kLoadWriteError = 4;  // the commit lines could not be written to the output

struct LoadEnv {
  bool stdin_closed = false;  // standard input was closed when the program started
  // Opens the journal: Journal::open when empty (fuzz/load_fuzzer.cc opens
  // it in an in-memory file system, without a catalog).
  std::function<Result<std::unique_ptr<Journal>>(const std::string& dir, const Options& options)> open;
};

// `args` excludes the program name; `in` is used when no input file is named
// (or it is "-").
int RunLoad(const std::vector<std::string>& args, std::istream& in, std::ostream& out, std::ostream& err,
            const LoadEnv& env = {});

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_LOAD_TOOL_H_
