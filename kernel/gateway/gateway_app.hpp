#pragma once
// Entry point of the gateway role (`agenthost run` with `role: gateway`): loads the
// configured plugins, opens the durable state (executed record + spool), dials the
// backend with reconnect/backoff, runs commands through the single executor and
// ships telemetry until SIGINT/SIGTERM. Returns the process exit code (0 on a clean
// stop, 1 on a runtime failure, 2 on a configuration error found at start-up).

#include "kernel/config/kernel_config.hpp"

namespace agenthost::gateway {

int run_gateway(const config::KernelConfig& cfg);

}  // namespace agenthost::gateway
