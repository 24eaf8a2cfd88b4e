// journal-load: see tools/load_tool.h and --help.
#include <iostream>

#include "load_tool.h"
#include "tool_util.h"

int main(int argc, char** argv) {
  const unsigned closed = txj::tools::GuardStandardDescriptors();
  std::ios::sync_with_stdio(false);
  txj::tools::LoadEnv env;
  env.stdin_closed = (closed & txj::tools::kStdinWasClosed) != 0;
  const int rc =
      txj::tools::RunLoad(std::vector<std::string>(argv + 1, argv + argc), std::cin, std::cout, std::cerr, env);
  return txj::tools::FinishStdout(rc, "journal-load");
}
