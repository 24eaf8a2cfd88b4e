#include "cli_parse.h"

#include <iostream>

#include "tool_util.h"

namespace txj::tools {

std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv, std::ostream& out,
                                    std::ostream& err, std::string_view tool, const ParseExits& exits) {
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

std::optional<int> ParseMainArgs(CLI::App& app, int argc, const char* const* argv, std::string_view tool) {
  AddVersionFlag(app, tool);
  return ParseCommandLine(app, argc, argv, std::cout, std::cerr, tool, {});
}

int UsageExit(std::string_view tool, const std::string& what) {
  std::cerr << tool << ": " << what << "\n";
  return 2;
}

void AddNatsToolOptions(CLI::App& app, const std::string& dir_help, NatsToolArgs* a) {
  app.add_option("dir", a->dir, dir_help)->required();
  app.add_option("--server", a->servers, "NATS server URL, e.g. nats://127.0.0.1:4222 (repeatable)")->required();
  app.add_option("--stream", a->ro.stream, "JetStream stream")->capture_default_str();
  app.add_option("--prefix", a->ro.subject_prefix, "subject prefix")->capture_default_str();
}

std::optional<std::string> TakeServers(NatsToolArgs* a) {
  for (const auto& s : a->servers) {
    if (s.empty()) return std::string("--server: empty URL");
  }
  a->ro.servers = a->servers;
  return std::nullopt;
}

}  // namespace txj::tools
