// agenthost: one binary, two roles (backend, gateway). See kernel/cli/ for commands.
#include "kernel/cli/cli.hpp"

int main(int argc, char** argv) { return agenthost::cli::main(argc, argv); }
