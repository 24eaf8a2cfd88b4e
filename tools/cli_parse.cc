#include "cli_parse.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include "tool_util.h"

namespace txj::tools {

Arg& Arg::required() {
  o_->required();
  return *this;
}

Arg& Arg::one_of(std::initializer_list<const char*> values) {
  o_->check(CLI::IsMember(std::vector<std::string>(values.begin(), values.end())));
  return *this;
}

Arg& Arg::show_default() {
  o_->capture_default_str();
  return *this;
}

bool Arg::given() const { return o_ != nullptr && o_->count() > 0; }

CommandLine::CommandLine(const std::string& description, const std::string& name)
    : app_(std::make_unique<CLI::App>(description, name)) {}

CommandLine::~CommandLine() = default;

Arg CommandLine::option(const std::string& name, std::string& out, const std::string& help) {
  return Arg(app_->add_option(name, out, help));
}

Arg CommandLine::option(const std::string& name, std::vector<std::string>& out, const std::string& help) {
  return Arg(app_->add_option(name, out, help));
}

Arg CommandLine::flag(const std::string& name, bool& out, const std::string& help) {
  return Arg(app_->add_flag(name, out, help));
}

void AddVersionFlag(CommandLine& cl, std::string_view tool) {
  cl.app().set_version_flag("--version", VersionText(tool),
                            "print the program, library and on-disk format versions and exit");
}

std::optional<int> ParseCommandLine(CommandLine& cl, int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, std::string_view tool, const ParseExits& exits) {
  CLI::App& app = cl.app();
  auto printed = [&]() -> int {
    if (exits.write_error && !OutputOk(out, err, tool)) return *exits.write_error;
    return exits.ok;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& v) {
    out << v.what() << "\n";
    return printed();
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return printed();
  } catch (const CLI::ParseError& e) {
    err << tool << ": " << e.what() << "\nRun with --help for usage.\n";
    return exits.usage;
  }
  return std::nullopt;
}

std::optional<int> ParseToolArgs(CommandLine& cl, const std::vector<std::string>& args, std::ostream& out,
                                 std::ostream& err, std::string_view tool, const ParseExits& exits) {
  std::vector<std::string> argv_s = {std::string(tool)};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const auto& s : argv_s) argv.push_back(s.c_str());
  AddVersionFlag(cl, tool);
  return ParseCommandLine(cl, static_cast<int>(argv.size()), argv.data(), out, err, tool, exits);
}

std::optional<int> ParseMainArgs(CommandLine& cl, int argc, const char* const* argv, std::string_view tool) {
  AddVersionFlag(cl, tool);
  return ParseCommandLine(cl, argc, argv, std::cout, std::cerr, tool, {});
}

int UsageExit(std::string_view tool, const std::string& what) {
  std::cerr << tool << ": " << what << "\n";
  return 2;
}

void AddNatsToolOptions(CommandLine& cl, const std::string& dir_help, NatsToolArgs* a) {
  cl.option("dir", a->dir, dir_help).required();
  cl.option("--server", a->servers, "NATS server URL, e.g. nats://127.0.0.1:4222 (repeatable)").required();
  cl.option("--stream", a->ro.stream, "JetStream stream").show_default();
  cl.option("--prefix", a->ro.subject_prefix, "subject prefix").show_default();
}

std::optional<std::string> TakeServers(NatsToolArgs* a) {
  for (const auto& s : a->servers) {
    if (s.empty()) return std::string("--server: empty URL");
  }
  a->ro.servers = a->servers;
  return std::nullopt;
}

}  // namespace txj::tools
