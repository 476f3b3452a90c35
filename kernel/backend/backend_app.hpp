#pragma once
// The backend role's process: runtime, plugins, operator API, health and agent
// listeners, signal handling and graceful drain. Called by the CLI (`agenthost run`)
// once the config has been loaded and validated.

#include "kernel/config/kernel_config.hpp"

namespace agenthost::backend {

// Runs the backend until SIGINT/SIGTERM. Returns the process exit code:
// 0 after a clean drain, 1 on a runtime failure, 2 on a config-class failure
// (e.g. an unreadable key file or a plugin section the loader refuses).
int run_backend(const config::KernelConfig& cfg);

}  // namespace agenthost::backend
