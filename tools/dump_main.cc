// journal-dump: see tools/dump_tool.h and --help.
#include <iostream>

#include "dump_tool.h"
#include "tool_util.h"

int main(int argc, char** argv) {
  txj::tools::GuardStandardDescriptors();
  const int rc = txj::tools::RunDump(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
  return txj::tools::FinishStdout(rc, "journal-dump");
}
