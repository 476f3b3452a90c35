#pragma once
// Command-line entry: agenthost run|check-config|version|plugins|keys|pin|migrate|audit.
// Exit codes: 0 ok, 1 runtime failure, 2 config/usage error.

namespace agenthost::cli {
int main(int argc, char** argv);
}  // namespace agenthost::cli
