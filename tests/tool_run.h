// Running journal-dump and journal-load in-process, for the tests of the
// tools (dump_load_test, tools_cli_test): what a run returned and printed.
#ifndef TXJOURNAL_TESTS_TOOL_RUN_H_
#define TXJOURNAL_TESTS_TOOL_RUN_H_

#include <sstream>
#include <string>
#include <vector>

#include "dump_tool.h"
#include "load_tool.h"

namespace txj::test {

struct Run {
  int code;
  std::string out, err;
};

// journal-dump with `args` (without the program name).
inline Run Dump(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  int code = tools::RunDump(args, out, err);
  return {code, out.str(), err.str()};
}

// journal-load with `args`, reading `input`.
inline Run Load(const std::vector<std::string>& args, const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out, err;
  int code = tools::RunLoad(args, in, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace txj::test

#endif  // TXJOURNAL_TESTS_TOOL_RUN_H_
