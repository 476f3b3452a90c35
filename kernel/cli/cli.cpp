#include "kernel/cli/cli.hpp"

#include <cstdio>

namespace agenthost::cli {
int main(int, char**) {
    std::fprintf(stderr, "usage: agenthost run|check-config|version|plugins|keys|pin|migrate|audit\n");
    return 2;
}
}  // namespace agenthost::cli
