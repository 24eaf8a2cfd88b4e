// Helpers shared by the command-line tools.
#ifndef TXJOURNAL_TOOLS_TOOL_UTIL_H_
#define TXJOURNAL_TOOLS_TOOL_UTIL_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace txj::tools {

// Parses a non-negative decimal integer in [min, max]: digits only (no sign,
// no spaces, no base prefix), no overflow. On failure returns a message
// naming `option`, e.g. "--from: \"-1\" is not a non-negative integer".
std::optional<std::string> ParseU64(std::string_view option, std::string_view text, std::uint64_t min,
                                    std::uint64_t max, std::uint64_t* out);

// What every tool's --version prints: the program's version (the headers it
// was built with), the library's it runs with, and the on-disk format
// version that library reads and writes. The first line is
// "<tool> (txjournal) <version>" (help2man reads it).
std::string VersionText(std::string_view tool);

// Exit code every tool uses when its output cannot be written (stdout full,
// closed, a file system error): the output is incomplete.
inline constexpr int kWriteErrorExit = 4;

// True when `out` is still good after a flush. Otherwise writes
// "<tool>: write error: <reason>" to `err` (the reason from errno when the
// failed call left one).
bool OutputOk(std::ostream& out, std::ostream& err, std::string_view tool);

// For main(): descriptors 0, 1 and 2 that are closed at start are reopened
// on /dev/null so that no file the tool opens can take their numbers (a
// journal file at descriptor 1 would receive the tool's output). Standard
// input is reopened write-only and standard output and error read-only, so
// that reading or writing them still fails as it would on a closed
// descriptor. Returns which were closed (bit 0: stdin, 1: stdout, 2: stderr).
unsigned GuardStandardDescriptors();
inline constexpr unsigned kStdinWasClosed = 1, kStdoutWasClosed = 2, kStderrWasClosed = 4;

// For main(), after the tool ran: flushes and closes standard output.
// Returns `code`, or kWriteErrorExit (with a message on stderr) when the
// flush or the close failed and `code` was a success or a damage report.
int FinishStdout(int code, std::string_view tool);

// The whole main() of a tool whose work is `run`: guards the standard
// descriptors, runs, then finishes standard output (FinishStdout).
inline int RunAsMain(int argc, char** argv, std::string_view tool, int (*run)(int, char**)) {
  GuardStandardDescriptors();
  return FinishStdout(run(argc, argv), tool);
}

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_TOOL_UTIL_H_
