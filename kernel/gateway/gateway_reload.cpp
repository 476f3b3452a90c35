#include "kernel/gateway/gateway_reload.hpp"

#include "kernel/crypto/keyring.hpp"
#include "kernel/gateway/dialer.hpp"
#include "kernel/plugin/reload_check.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::gateway {

sdk::Result<std::shared_ptr<net::TlsContext>> make_gateway_tls(const config::KernelConfig& cfg) {
    const config::GatewayConfig& g = cfg.gateway;
    net::TlsClientOptions o;
    o.ca_file = g.ca;
    o.cert_file = g.cert;
    o.key_file = g.key;
    o.pins = g.pins;
    o.min_version = cfg.tls.min_version.empty() ? "1.3" : cfg.tls.min_version;
    return net::TlsContext::make_client(o);
}

GatewayReload::GatewayReload(runtime::Runtime& rt, config::KernelConfig running, std::string key,
                             Dialer& dialer)
    : rt_(rt), running_(std::move(running)), key_(std::move(key)), dialer_(dialer) {}

GatewayReload::Result GatewayReload::reload() {
    auto log = rt_.logger("reload");
    const std::string file = running_.source_path;
    auto reject = [&](const std::string& reason) {
        log->error("config reload rejected; the running config stays",
                   {{"file", file}, {"reason", reason}});
        rt_.audit().record(sdk::AuditEvent{
            "kernel", "config.reload_rejected", file, "failure", {{"reason", reason}}});
        return Result{false, reason};
    };
    auto next = plugin::load_for_reload(running_);
    if (!next.ok()) {
        return reject(next.status().message());
    }
    // Same path, new content: the uplink signs with the key it started with.
    auto key = crypto::read_key_file(next->gateway.key_file, 32);
    if (!key.ok()) {
        return reject("gateway.key_file: " + key.status().message());
    }
    if (!crypto::equal_ct(key.value(), key_)) {
        return reject("gateway.key_file: content changed (requires a restart)");
    }
    auto tls = make_gateway_tls(next.value());
    if (!tls.ok()) {
        return reject("gateway TLS: " + tls.status().message());
    }
    dialer_.set_tls(tls.value());
    sdk::json::array pins;
    for (const auto& p : next->gateway.pins) {
        pins.emplace_back(p);
    }
    const bool pins_changed = next->gateway.pins != running_.gateway.pins;
    running_ = std::move(next.value());
    const std::string summary = pins_changed ? "pin set changed; applies to the next connection"
                                             : "applies to the next connection";
    log->info("config reloaded", {{"file", file}, {"summary", summary}});
    rt_.audit().record(sdk::AuditEvent{"kernel",
                                       "config.reloaded",
                                       file,
                                       "success",
                                       {{"summary", summary}, {"pins", std::move(pins)}}});
    return Result{true, summary};
}

}  // namespace agenthost::gateway
