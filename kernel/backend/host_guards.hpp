#pragma once
// The backend host's resource guards and own health checks (docs/guards.md):
//   - admission limits for the agent listener (per-address cap, handshake rate,
//     memory watermark) from `limits:`;
//   - every configured limit as agenthost_limit{limit} in /metrics;
//   - checks "connections:count" (vs max_connections; fail at the cap),
//     "memory:rss" (vs the watermark; warn above) and
//     "certificates:agent_listener" (days to expiry; fail once expired, warn < 14 d).
// apply_host_limits() may be called again after a config reload.

#include "kernel/config/kernel_config.hpp"
#include "kernel/net/agent_server.hpp"

namespace agenthost::runtime {
class Runtime;
}

namespace agenthost::backend {

net::AdmissionLimits admission_limits(const config::KernelConfig& cfg);
void apply_host_limits(runtime::Runtime& rt, net::AgentServer& agents,
                       const config::KernelConfig& cfg);
// `agents` must outlive the runtime's health and metrics scrapes (run_backend order).
void register_host_health(runtime::Runtime& rt, net::AgentServer& agents,
                          const config::KernelConfig& cfg);

}  // namespace agenthost::backend
