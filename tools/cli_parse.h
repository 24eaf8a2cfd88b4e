// The parse-and-report step every tool's command line goes through first.
#ifndef TXJOURNAL_TOOLS_CLI_PARSE_H_
#define TXJOURNAL_TOOLS_CLI_PARSE_H_

#include <CLI/CLI.hpp>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "tool_util.h"
#include "txjournal/replication.h"

namespace txj::tools {

// Exit codes of the outcomes of ParseCommandLine that end the program.
struct ParseExits {
  int ok = 0;     // --help or --version was printed
  int usage = 2;  // the command line is wrong
  // When set, `out` is checked after --help or --version (OutputOk) and this
  // is returned if it could not be written.
  std::optional<int> write_error;
};

// Parses `argv` with `app`. Returns nullopt when the tool should go on;
// otherwise the code to exit with: --version prints the version text and
// --help the help to `out`; a wrong command line prints
// "<tool>: <what>\nRun with --help for usage." to `err`.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, std::string_view tool, const ParseExits& exits);

// The --version flag every tool has (VersionText); set after the tool's
// options so that --help lists it last.
inline void AddVersionFlag(CLI::App& app, std::string_view tool) {
  app.set_version_flag("--version", VersionText(tool),
                       "print the program, library and on-disk format versions and exit");
}

// For a tool run as a function: `args` excludes the program name, which is
// `tool`. Sets the --version flag (VersionText) after the tool's options,
// then parses as ParseCommandLine does.
inline std::optional<int> ParseToolArgs(CLI::App& app, const std::vector<std::string>& args, std::ostream& out,
                                        std::ostream& err, std::string_view tool, const ParseExits& exits) {
  std::vector<std::string> argv_s = {std::string(tool)};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& s : argv_s) argv.push_back(s.c_str());
  AddVersionFlag(app, tool);
  return ParseCommandLine(app, static_cast<int>(argv.size()), argv.data(), out, err, tool, exits);
}

// For an installed tool's main(): sets the --version flag (VersionText)
// after the tool's options, then parses as ParseCommandLine does, printing
// to std::cout and std::cerr with the default exit codes.
std::optional<int> ParseMainArgs(CLI::App& app, int argc, const char* const* argv, std::string_view tool);

// Prints "<tool>: <what>" to std::cerr; returns the usage exit code, 2.
int UsageExit(std::string_view tool, const std::string& what);

// What the tools that follow a journal over NATS (journal-replicate,
// journal-mirror) take first: the journal directory and where the stream is.
struct NatsToolArgs {
  std::string dir;
  std::vector<std::string> servers;  // --server URLs, until TakeServers
  ReplicationOptions ro;
};

// Adds DIR (required, described by `dir_help`), --server URL (required,
// repeatable), --stream and --prefix.
void AddNatsToolOptions(CLI::App& app, const std::string& dir_help, NatsToolArgs* a);

// After parsing: the usage error when a --server URL is empty; otherwise
// copies the URLs into a->ro and returns nullopt.
std::optional<std::string> TakeServers(NatsToolArgs* a);

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_CLI_PARSE_H_
