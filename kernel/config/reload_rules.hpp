#pragma once
// What a live reload (SIGHUP) may change. The new file is loaded and validated by the
// same fail-closed loader as at start-up; then the settings that only take effect at
// start-up are compared with the running config. Any difference there rejects the
// whole reload with a message naming the setting (docs/operations.md lists them):
//
//   both roles  role, host_id, state_dir, log.*, threads.*, plugin_paths, the plugin
//               set (names, enabled, path) and every plugin's config section
//   backend     listen.agents, listen.admin, listen.health, identity.binding
//   gateway     gateway.agent_id, gateway.url, gateway.kid, gateway.key_file,
//               gateway.reconnect.*, gateway.executor.*, gateway.spool.*, protocol.*,
//               limits.*
//
// Everything else is applied live: backend tls.* (new SSL_CTX for new connections),
// keys (HMAC keyring), operators, protocol.* and limits.* (new sessions; the
// connection cap at once); gateway gateway.ca/cert/key/pins and tls.min_version (the
// next dial; the live session keeps its context).

#include <string>
#include <vector>

#include "kernel/config/kernel_config.hpp"

namespace agenthost::config {

// One message per start-up-only setting that differs, e.g.
// "listen.agents: 127.0.0.1:8444 -> 127.0.0.1:9444 (requires a restart)". Empty: the
// new config may be applied live.
std::vector<std::string> restart_required_changes(const KernelConfig& running,
                                                  const KernelConfig& next);

}  // namespace agenthost::config
