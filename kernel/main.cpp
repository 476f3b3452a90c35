// agenthost: one binary, two roles (backend, gateway). See kernel/cli/ for commands.
#include "kernel/cli/cli.hpp"
#include "kernel/crypto/openssl_memory.hpp"

int main(int argc, char** argv) {
    // Before anything touches OpenSSL. If something already has (a preloaded library),
    // OpenSSL keeps plain malloc: slower per message, nothing else changes.
    static_cast<void>(agenthost::crypto::install_openssl_record_stash());
    return agenthost::cli::main(argc, argv);
}
