// The tools' command lines: options declared through CommandLine, and the
// parse-and-report step every tool goes through first. CLI11 does the work
// but is included by cli_parse.cc alone: it is the heaviest header of the
// tree (over ten seconds per file compiled, three times that under the
// sanitizers), and each tool file that included it paid that.
#ifndef TXJOURNAL_TOOLS_CLI_PARSE_H_
#define TXJOURNAL_TOOLS_CLI_PARSE_H_

#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "tool_util.h"
#include "txjournal/replication.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace txj::tools {

// One option of a CommandLine: sets its rules, and says after parsing
// whether it was given. Valid as long as its CommandLine.
class Arg {
 public:
  Arg() = default;
  explicit Arg(CLI::Option* o) : o_(o) {}
  // The option must be given (a positional argument, when its name has no dash).
  Arg& required();
  // Its value must be one of `values`.
  Arg& one_of(std::initializer_list<const char*> values);
  // --help shows the variable's value before parsing as the default.
  Arg& show_default();
  // After parsing: given on the command line at least once.
  bool given() const;

 private:
  CLI::Option* o_ = nullptr;
};

// A tool's command line: its description for --help, its name, and its
// options, each stored into a variable of the caller's that must outlive
// the parse. A name without a dash is positional; "-f,--follow" gives two
// spellings. Numbers are taken as text and checked after parsing (ParseU64),
// so every message about them is the tool's own.
class CommandLine {
 public:
  CommandLine(const std::string& description, const std::string& name);
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  Arg option(const std::string& name, std::string& out, const std::string& help);
  // Repeatable: each occurrence adds a value.
  Arg option(const std::string& name, std::vector<std::string>& out, const std::string& help);
  Arg flag(const std::string& name, bool& out, const std::string& help);

  CLI::App& app() { return *app_; }  // for cli_parse.cc

 private:
  std::unique_ptr<CLI::App> app_;
};

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
std::optional<int> ParseCommandLine(CommandLine& cl, int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, std::string_view tool, const ParseExits& exits);

// The --version flag every tool has (VersionText); set after the tool's
// options so that --help lists it last.
void AddVersionFlag(CommandLine& cl, std::string_view tool);

// For a tool run as a function: `args` excludes the program name, which is
// `tool`. Sets the --version flag (VersionText) after the tool's options,
// then parses as ParseCommandLine does.
std::optional<int> ParseToolArgs(CommandLine& cl, const std::vector<std::string>& args, std::ostream& out,
                                 std::ostream& err, std::string_view tool, const ParseExits& exits);

// For an installed tool's main(): sets the --version flag (VersionText)
// after the tool's options, then parses as ParseCommandLine does, printing
// to std::cout and std::cerr with the default exit codes.
std::optional<int> ParseMainArgs(CommandLine& cl, int argc, const char* const* argv, std::string_view tool);

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
void AddNatsToolOptions(CommandLine& cl, const std::string& dir_help, NatsToolArgs* a);

// After parsing: the usage error when a --server URL is empty; otherwise
// copies the URLs into a->ro and returns nullopt.
std::optional<std::string> TakeServers(NatsToolArgs* a);

}  // namespace txj::tools

#endif  // TXJOURNAL_TOOLS_CLI_PARSE_H_
