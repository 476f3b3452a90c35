#pragma once
// The gateway's own health surface (issue 6, docs/guards.md): a plain HTTP listener
// (`gateway.health`, loopback by default) serving /livez (event-loop heartbeat),
// /readyz and /metrics (the health_http plugin's when loaded, else the kernel's), and
// the gateway checks "uplink:connected" (warn while the backend link is down; never
// blocks readiness: the gateway's job is to keep spooling) and "spool:bytes" (vs the
// spool bound). The bound port goes to <state_dir>/ports.json as {"health": N}.

#include <cstdint>
#include <memory>

#include <agenthost/status.hpp>

#include "kernel/config/kernel_config.hpp"

namespace agenthost::runtime {
class Runtime;
}
namespace agenthost::net {
class HttpServer;
}

namespace agenthost::gateway {

class Uplink;
class GatewayStore;

class GatewayHealth {
public:
    GatewayHealth(runtime::Runtime& rt, const config::KernelConfig& cfg);
    ~GatewayHealth();
    GatewayHealth(const GatewayHealth&) = delete;
    GatewayHealth& operator=(const GatewayHealth&) = delete;

    // Registers the routes and checks and starts listening. `uplink` and `store` must
    // outlive stop(). Fails (unavailable) when the address cannot be bound.
    sdk::Status start(const Uplink& uplink, const GatewayStore& store);
    void stop();
    std::uint16_t port() const;

private:
    runtime::Runtime& rt_;
    const config::KernelConfig& cfg_;
    std::unique_ptr<net::HttpServer> server_;
};

}  // namespace agenthost::gateway
