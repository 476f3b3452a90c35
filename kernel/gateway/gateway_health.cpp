#include "kernel/gateway/gateway_health.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kernel/gateway/store.hpp"
#include "kernel/gateway/uplink.hpp"
#include "kernel/net/http_server.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::gateway {

namespace {

// <state_dir>/ports.json by rename, so a reader never sees half a file.
void write_ports(const std::string& state_dir, std::uint16_t health) {
    namespace fs = std::filesystem;
    const fs::path final_path = fs::path(state_dir) / "ports.json";
    const fs::path tmp = fs::path(state_dir) / ("ports.json.tmp." + std::to_string(getpid()));
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << R"({"health":)" << health << R"(,"pid":)" << getpid() << "}\n";
        if (!out) {
            return;
        }
    }
    std::error_code ec;
    fs::rename(tmp, final_path, ec);
    if (ec) {
        fs::remove(tmp, ec);
    }
}

}  // namespace

GatewayHealth::GatewayHealth(runtime::Runtime& rt, const config::KernelConfig& cfg)
    : rt_(rt), cfg_(cfg) {}

GatewayHealth::~GatewayHealth() {
    stop();
}

sdk::Status GatewayHealth::start(const Uplink& uplink, const GatewayStore& store) {
    if (auto st = net::register_livez(rt_); !st.ok()) {
        rt_.logger("gateway")->debug("kernel /livez not registered", {{"reason", st.message()}});
    }
    net::register_health_fallback(rt_);
    rt_.health().add_check("uplink:connected", false, [&uplink] {
        sdk::HealthReport r;
        r.component_type = "component";
        const bool up = uplink.welcomed();
        r.observed_value = up ? 1.0 : 0.0;
        r.observed_unit = "connected";
        if (!up) {
            r.state = sdk::HealthState::warn;
            r.output = "no welcomed backend session (results and telemetry are spooled)";
        }
        return r;
    });
    const double bound = static_cast<double>(cfg_.gateway.spool_max_bytes);
    rt_.health().add_check("spool:bytes", false, [&store, bound] {
        sdk::HealthReport r;
        r.component_type = "datastore";
        const auto c = store.counts();
        r.observed_value = static_cast<double>(c.bytes);
        r.observed_unit = "bytes";
        r.output = std::to_string(c.results) + " results, " + std::to_string(c.telemetry) +
                   " telemetry batches waiting";
        if (bound > 0 && static_cast<double>(c.bytes) >= 0.9 * bound) {
            r.state = sdk::HealthState::warn;
            r.output += "; spool nearly full";
        }
        return r;
    });
    const auto& ep = cfg_.gateway.health;
    server_ = std::make_unique<net::HttpServer>(rt_, net::Endpoint{ep.address, ep.port},
                                                sdk::Listener::health, nullptr);
    if (auto st = server_->start(); !st.ok()) {
        server_.reset();
        return st;
    }
    write_ports(cfg_.state_dir, server_->port());
    rt_.logger("gateway")->info("listening", {{"listener", "health"},
                                              {"address", ep.address},
                                              {"port", std::to_string(server_->port())}});
    return {};
}

void GatewayHealth::stop() {
    if (server_) {
        server_->stop();
    }
}

std::uint16_t GatewayHealth::port() const {
    return server_ ? server_->port() : 0;
}

}  // namespace agenthost::gateway
