#include "kernel/backend/host_guards.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "kernel/runtime/process_probes.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost::backend {

namespace {

constexpr double kCertWarnDays = 14.0;
constexpr double kMiB = 1024.0 * 1024.0;

// Limits the checks compare against; replaced as a whole on reload.
struct CurrentLimits {
    std::atomic<std::size_t> max_connections{0};
    std::atomic<std::uint64_t> watermark_bytes{0};
};

std::shared_ptr<CurrentLimits> current_limits() {
    static auto limits = std::make_shared<CurrentLimits>();
    return limits;
}

}  // namespace

net::AdmissionLimits admission_limits(const config::KernelConfig& cfg) {
    net::AdmissionLimits a;
    a.max_per_ip = cfg.limits.max_connections_per_ip;
    a.handshake_rate = static_cast<double>(cfg.limits.handshake_rate);
    a.handshake_burst = static_cast<double>(cfg.limits.handshake_burst);
    a.memory_watermark = static_cast<std::uint64_t>(cfg.limits.memory_watermark_mb) << 20;
    return a;
}

void apply_host_limits(runtime::Runtime& rt, net::AgentServer& agents,
                       const config::KernelConfig& cfg) {
    agents.set_admission(admission_limits(cfg));
    auto cur = current_limits();
    cur->max_connections.store(cfg.limits.max_connections);
    cur->watermark_bytes.store(static_cast<std::uint64_t>(cfg.limits.memory_watermark_mb) << 20);
    const config::LimitsConfig& l = cfg.limits;
    const std::pair<const char*, double> limits[] = {
        {"max_connections", static_cast<double>(l.max_connections)},
        {"max_connections_per_ip", static_cast<double>(l.max_connections_per_ip)},
        {"handshake_rate", static_cast<double>(l.handshake_rate)},
        {"handshake_burst", static_cast<double>(l.handshake_burst)},
        {"write_queue", static_cast<double>(l.write_queue)},
        {"write_queue_bytes", static_cast<double>(l.write_queue_bytes)},
        {"write_stall_s", static_cast<double>(l.write_stall_s)},
        {"message_rate", static_cast<double>(l.message_rate)},
        {"message_burst", static_cast<double>(l.message_burst)},
        {"max_in_flight", static_cast<double>(l.max_in_flight)},
        {"memory_watermark_bytes", static_cast<double>(cur->watermark_bytes.load())},
        {"max_frame_bytes", static_cast<double>(cfg.protocol.max_frame_bytes)},
        {"hello_timeout_s", static_cast<double>(cfg.protocol.hello_timeout_s)},
        {"idle_timeout_s", static_cast<double>(cfg.protocol.idle_timeout_s)},
    };
    for (const auto& [name, value] : limits) {
        rt.metrics()
            .gauge("agenthost_limit", "Configured resource limits (docs/guards.md)",
                   {{"limit", name}})
            .set(value);
    }
}

void register_host_health(runtime::Runtime& rt, net::AgentServer& agents,
                          const config::KernelConfig& cfg) {
    apply_host_limits(rt, agents, cfg);
    auto cur = current_limits();
    auto& m = rt.metrics();
    m.callback_gauge("agenthost_connections_active",
                     "Agent connections (handshakes + sessions), what max_connections caps", {},
                     [&agents] { return static_cast<double>(agents.active_count()); });
    rt.health().add_check("connections:count", true, [&agents, cur] {
        sdk::HealthReport r;
        r.component_type = "system";
        const auto n = agents.active_count();
        const auto max = cur->max_connections.load();
        r.observed_value = static_cast<double>(n);
        r.observed_unit = "connections";
        r.output = std::to_string(n) + " of " + std::to_string(max);
        if (max != 0 && n >= max) {
            r.state = sdk::HealthState::fail;  // new agents are refused: stop routing here
        } else if (max != 0 && static_cast<double>(n) >= 0.9 * static_cast<double>(max)) {
            r.state = sdk::HealthState::warn;
        }
        return r;
    });
    rt.health().add_check("memory:rss", false, [cur] {
        sdk::HealthReport r;
        r.component_type = "system";
        const auto rss = runtime::resident_bytes();
        const auto mark = cur->watermark_bytes.load();
        r.observed_value = static_cast<double>(rss) / kMiB;
        r.observed_unit = "MiB";
        if (mark != 0 && rss > mark) {
            r.state = sdk::HealthState::warn;
            r.output = "above the memory watermark: new sessions are refused (1013)";
        }
        return r;
    });
    rt.health().add_check("certificates:agent_listener", true, [&agents] {
        sdk::HealthReport r;
        r.component_type = "system";
        r.observed_unit = "days";
        auto tls = agents.tls();
        const std::int64_t not_after = tls ? tls->not_after_unix() : 0;
        if (not_after == 0) {
            r.state = sdk::HealthState::warn;
            r.output = "certificate expiry unknown";
            return r;
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        const double days = static_cast<double>(not_after - now) / 86400.0;
        r.observed_value = days;
        if (days <= 0) {
            r.state = sdk::HealthState::fail;
            r.output = "server certificate expired";
        } else if (days < kCertWarnDays) {
            r.state = sdk::HealthState::warn;
            r.output = "server certificate expires soon";
        }
        return r;
    });
}

}  // namespace agenthost::backend
