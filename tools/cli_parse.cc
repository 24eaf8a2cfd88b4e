#include "cli_parse.h"

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

}  // namespace txj::tools
