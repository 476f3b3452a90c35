#pragma once
// Live reload of the gateway role (SIGHUP): the backend pin set, the CA and the
// gateway's client certificate take effect at the next dial; the live session keeps
// the TLS context it was established with, so adding the next pin (certificate
// rotation, docs/certificate_management.md) never drops the link. Everything else
// needs a restart (kernel/config/reload_rules.hpp); such a change, an invalid file or
// an unusable certificate rejects the reload, and the running config stays.
// Audited as config.reloaded / config.reload_rejected. Call from one thread.

#include <memory>
#include <string>

#include <agenthost/status.hpp>

#include "kernel/config/kernel_config.hpp"
#include "kernel/net/tls.hpp"

namespace agenthost::runtime {
class Runtime;
}

namespace agenthost::gateway {

class Dialer;

// The gateway's client TLS context (CA, client certificate, backend pins).
sdk::Result<std::shared_ptr<net::TlsContext>> make_gateway_tls(const config::KernelConfig& cfg);

class GatewayReload {
public:
    // `key` is the HMAC key read at start-up (its content may not change live).
    GatewayReload(runtime::Runtime& rt, config::KernelConfig running, std::string key,
                  Dialer& dialer);
    GatewayReload(const GatewayReload&) = delete;
    GatewayReload& operator=(const GatewayReload&) = delete;

    struct Result {
        bool applied = false;
        std::string message;  // the rejection reason, or a summary
    };
    Result reload();

private:
    runtime::Runtime& rt_;
    config::KernelConfig running_;
    std::string key_;
    Dialer& dialer_;
};

}  // namespace agenthost::gateway
