// journal-dump: see tools/dump_tool.h and --help.
#include <iostream>

#include "dump_tool.h"

int main(int argc, char** argv) {
  return txj::tools::RunDump(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
