// syslinkctl: the operators' CLI for meshd's admin API. See cli.h, or run
// `syslinkctl --help`; docs/operations.md has examples.
#include <signal.h>
#include <stdlib.h>

#include <iostream>
#include <string>
#include <vector>

#include "tools/syslinkctl/cli.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // `syslinkctl ... | head` must not die mid-write
  std::vector<std::string> args(argv + 1, argv + argc);
  const int code = syslinkctl::Main(args, getenv("SYSLINK_ADMIN"), std::cout, std::cerr);
  std::cout.flush();
  return code;
}
