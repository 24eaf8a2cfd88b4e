// journal-load: see tools/load_tool.h and --help.
#include <iostream>

#include "load_tool.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return txj::tools::RunLoad(std::vector<std::string>(argv + 1, argv + argc), std::cin, std::cout, std::cerr);
}
