// restart_required_changes(): the start-up-only settings of reload_rules.hpp, compared
// field by field so the rejection names exactly what changed.
#include "kernel/config/reload_rules.hpp"

#include <map>
#include <sstream>

namespace agenthost::config {

namespace {

constexpr const char* kRestart = " (requires a restart)";

bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.address == b.address && a.port == b.port;
}

class Diff {
public:
    template <typename T>
    void field(const std::string& path, const T& was, const T& now) {
        if (!(was == now)) {
            out_.push_back(path + ": " + show(was) + " -> " + show(now) + kRestart);
        }
    }
    void changed(const std::string& path) { out_.push_back(path + ": changed" + kRestart); }
    std::vector<std::string> take() { return std::move(out_); }

private:
    static std::string show(const std::string& s) { return "'" + s + "'"; }
    static std::string show(const Endpoint& e) { return e.address + ":" + std::to_string(e.port); }
    static std::string show(const std::vector<std::string>& v) {
        std::string s = "[";
        for (std::size_t i = 0; i < v.size(); ++i) {
            s += (i ? ", " : "") + v[i];
        }
        return s + "]";
    }
    template <typename T>
    static std::string show(const T& v) {
        std::ostringstream os;
        os << v;
        return os.str();
    }
    std::vector<std::string> out_;
};

std::string dump(const YAML::Node& node) {
    if (!node || node.IsNull()) {
        return "";
    }
    YAML::Emitter e;
    e << node;
    return e.c_str();
}

void compare_plugins(const KernelConfig& a, const KernelConfig& b, Diff& diff) {
    std::map<std::string, const PluginEntry*> was;
    std::map<std::string, const PluginEntry*> now;
    for (const auto& p : a.plugins) {
        was.emplace(p.name, &p);
    }
    for (const auto& p : b.plugins) {
        now.emplace(p.name, &p);
    }
    for (const auto& [name, p] : was) {
        if (!now.count(name)) {
            diff.changed("plugins." + name + " (removed)");
        }
    }
    for (const auto& [name, p] : now) {
        auto it = was.find(name);
        if (it == was.end()) {
            diff.changed("plugins." + name + " (added)");
            continue;
        }
        const std::string base = "plugins." + name;
        diff.field(base + ".enabled", it->second->enabled, p->enabled);
        diff.field(base + ".path", it->second->path, p->path);
        if (dump(it->second->config) != dump(p->config)) {
            diff.changed(base + ".config");
        }
    }
}

}  // namespace

std::vector<std::string> restart_required_changes(const KernelConfig& a, const KernelConfig& b) {
    Diff d;
    d.field("role", a.role, b.role);
    if (a.role != b.role) {
        return d.take();  // nothing else is comparable
    }
    d.field("host_id", a.host_id, b.host_id);
    d.field("state_dir", a.state_dir, b.state_dir);
    d.field("log.level", a.log_level, b.log_level);
    d.field("log.format", a.log_format, b.log_format);
    d.field("threads.loop", a.loop_threads, b.loop_threads);
    d.field("threads.blocking", a.blocking_threads, b.blocking_threads);
    d.field("plugin_paths", a.plugin_paths, b.plugin_paths);
    compare_plugins(a, b, d);
    if (a.role == "backend") {
        d.field("listen.agents", a.listen_agents, b.listen_agents);
        d.field("listen.admin", a.listen_admin, b.listen_admin);
        d.field("listen.health", a.listen_health, b.listen_health);
        d.field("identity.binding", a.identity_binding, b.identity_binding);
        return d.take();
    }
    const GatewayConfig& g = a.gateway;
    const GatewayConfig& h = b.gateway;
    d.field("gateway.agent_id", g.agent_id, h.agent_id);
    d.field("gateway.url", g.url, h.url);
    d.field("gateway.kid", g.kid, h.kid);
    d.field("gateway.key_file", g.key_file, h.key_file);
    d.field("gateway.reconnect.initial_ms", g.reconnect_initial_ms, h.reconnect_initial_ms);
    d.field("gateway.reconnect.max_ms", g.reconnect_max_ms, h.reconnect_max_ms);
    d.field("gateway.executor.concurrency", g.executor_concurrency, h.executor_concurrency);
    d.field("gateway.executor.output_cap_bytes", g.output_cap_bytes, h.output_cap_bytes);
    d.field("gateway.executor.max_queue", g.executor_max_queue, h.executor_max_queue);
    d.field("gateway.spool.max_bytes", g.spool_max_bytes, h.spool_max_bytes);
    const ProtocolConfig& p = a.protocol;
    const ProtocolConfig& q = b.protocol;
    d.field("protocol.max_frame_bytes", p.max_frame_bytes, q.max_frame_bytes);
    d.field("protocol.max_skew_s", p.max_skew_s, q.max_skew_s);
    d.field("protocol.replay_window_s", p.replay_window_s, q.replay_window_s);
    d.field("protocol.max_batch_points", p.max_batch_points, q.max_batch_points);
    d.field("protocol.heartbeat_s", p.heartbeat_s, q.heartbeat_s);
    d.field("protocol.hello_timeout_s", p.hello_timeout_s, q.hello_timeout_s);
    d.field("protocol.idle_timeout_s", p.idle_timeout_s, q.idle_timeout_s);
    d.field("protocol.lease_s", p.lease_s, q.lease_s);
    d.field("limits.max_connections", a.limits.max_connections, b.limits.max_connections);
    d.field("limits.write_queue", a.limits.write_queue, b.limits.write_queue);
    return d.take();
}

}  // namespace agenthost::config
