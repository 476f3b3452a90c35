#include "kernel/config/loader.hpp"

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

#include "kernel/config/kernel_rules.hpp"
#include "kernel/config/kernel_schema.hpp"
#include "kernel/config/schema_validator.hpp"

namespace agenthost::config {

namespace json = sdk::json;

namespace {

// Sections that belong to one role only; in the other role they are refused rather
// than silently ignored (a misplaced section is a misunderstanding worth reporting).
constexpr const char* backend_only[] = {"tls", "keys", "operators", "identity"};
constexpr const char* gateway_only[] = {"gateway"};

// ---- typed accessors over the validated json (defaults are already filled) ----

const json::object& obj(const json::object& o, const char* key) {
    static const json::object empty;
    auto it = o.find(key);
    return it != o.end() && it->value().is_object() ? it->value().as_object() : empty;
}

std::string str(const json::object& o, const char* key, std::string fallback = {}) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                    : std::move(fallback);
}

std::int64_t integer(const json::object& o, const char* key, std::int64_t fallback) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_int64() ? it->value().as_int64() : fallback;
}

std::vector<std::string> strings(const json::object& o, const char* key) {
    std::vector<std::string> out;
    auto it = o.find(key);
    if (it != o.end() && it->value().is_array()) {
        for (const auto& v : it->value().as_array()) {
            if (v.is_string()) {
                out.emplace_back(v.as_string());
            }
        }
    }
    return out;
}

Endpoint endpoint(const json::object& listen, const char* key, Endpoint fallback) {
    const json::object& e = obj(listen, key);
    return {str(e, "address", fallback.address),
            static_cast<std::uint16_t>(integer(e, "port", fallback.port))};
}

std::string hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    return buf;
}

void check_role_sections(const YAML::Node& root, const std::string& role,
                         std::vector<std::string>& passthrough, sdk::ConfigErrors& errors) {
    auto refuse = [&](const char* key, const char* owner) {
        if (root[key].IsDefined()) {
            errors.push_back({key, std::string("only valid with role ") + owner});
            passthrough.emplace_back(key);
        }
    };
    if (role == "gateway") {
        for (const char* key : backend_only) {
            refuse(key, "backend");
        }
    } else if (role == "backend") {
        for (const char* key : gateway_only) {
            refuse(key, "gateway");
        }
    }
}

std::vector<PluginEntry> load_plugins(const YAML::Node& plugins, const std::string& base_dir,
                                      sdk::ConfigErrors& errors) {
    std::vector<PluginEntry> out;
    if (!plugins.IsDefined() || plugins.IsNull()) {
        return out;
    }
    if (!plugins.IsMap()) {
        errors.push_back({"plugins", "expected a mapping of plugin name to its entry"});
        return out;
    }
    const std::regex name_re(plugin_name_pattern);
    const sdk::Schema entry_schema = plugin_entry_schema();
    std::set<std::string> seen;
    for (auto it = plugins.begin(); it != plugins.end(); ++it) {
        if (!it->first.IsScalar()) {
            errors.push_back({"plugins", "plugin names must be plain strings"});
            continue;
        }
        const std::string name = it->first.Scalar();
        const std::string path = "plugins." + name;
        if (!seen.insert(name).second) {
            errors.push_back({path, "duplicate plugin '" + name + "'"});
            continue;
        }
        if (!std::regex_match(name, name_re)) {
            errors.push_back({path, std::string("invalid plugin name (must match ") +
                                        plugin_name_pattern + ")"});
            continue;
        }
        const YAML::Node entry = it->second;
        const json::object fields =
            validate_section(entry, entry_schema, path, errors, {base_dir, {"config"}});
        YAML::Node section(YAML::NodeType::Map);
        if (entry.IsMap()) {
            const YAML::Node config = entry["config"];
            if (config.IsDefined() && !config.IsNull()) {
                if (config.IsMap()) {
                    section = config;
                } else {
                    errors.push_back({path + ".config", "expected a mapping"});
                }
            }
        }
        PluginEntry pe;
        pe.name = name;
        auto enabled = fields.find("enabled");
        pe.enabled =
            enabled == fields.end() || !enabled->value().is_bool() || enabled->value().as_bool();
        pe.path = str(fields, "path");
        pe.config = section;
        pe.yaml_path = path + ".config";
        out.push_back(std::move(pe));
    }
    return out;
}

KernelConfig build(const json::object& k, const std::string& role) {
    KernelConfig cfg;
    cfg.role = role;
    cfg.host_id = str(k, "host_id", hostname());
    cfg.state_dir = str(k, "state_dir");
    cfg.log_level = str(obj(k, "log"), "level", cfg.log_level);
    cfg.log_format = str(obj(k, "log"), "format", cfg.log_format);
    cfg.loop_threads = static_cast<unsigned>(integer(obj(k, "threads"), "loop", 2));
    cfg.blocking_threads = static_cast<unsigned>(integer(obj(k, "threads"), "blocking", 4));

    const json::object& listen = obj(k, "listen");
    cfg.listen_agents = endpoint(listen, "agents", cfg.listen_agents);
    cfg.listen_admin = endpoint(listen, "admin", cfg.listen_admin);
    cfg.listen_health = endpoint(listen, "health", cfg.listen_health);

    const json::object& tls = obj(k, "tls");
    cfg.tls.cert = str(tls, "cert");
    cfg.tls.key = str(tls, "key");
    cfg.tls.client_ca = str(tls, "client_ca");
    cfg.tls.min_version = str(tls, "min_version", cfg.tls.min_version);
    cfg.tls.admin_cert = str(tls, "admin_cert");
    cfg.tls.admin_key = str(tls, "admin_key");
    cfg.identity_binding = str(obj(k, "identity"), "binding", cfg.identity_binding);

    if (auto it = k.find("keys"); it != k.end() && it->value().is_array()) {
        for (const auto& v : it->value().as_array()) {
            cfg.master_key_files[str(v.as_object(), "kid")] = str(v.as_object(), "file");
        }
    }
    if (auto it = k.find("operators"); it != k.end() && it->value().is_array()) {
        for (const auto& v : it->value().as_array()) {
            cfg.operators.push_back(
                {str(v.as_object(), "name"), str(v.as_object(), "token_sha256")});
        }
    }

    const json::object& p = obj(k, "protocol");
    ProtocolConfig& pc = cfg.protocol;
    pc.max_frame_bytes = static_cast<std::size_t>(
        integer(p, "max_frame_bytes", static_cast<std::int64_t>(pc.max_frame_bytes)));
    pc.max_skew_s = integer(p, "max_skew_s", pc.max_skew_s);
    pc.replay_window_s = integer(p, "replay_window_s", pc.replay_window_s);
    pc.max_batch_points = static_cast<std::size_t>(
        integer(p, "max_batch_points", static_cast<std::int64_t>(pc.max_batch_points)));
    pc.heartbeat_s = integer(p, "heartbeat_s", pc.heartbeat_s);
    pc.hello_timeout_s = integer(p, "hello_timeout_s", pc.hello_timeout_s);
    pc.idle_timeout_s = integer(p, "idle_timeout_s", pc.idle_timeout_s);
    pc.lease_s = integer(p, "lease_s", pc.lease_s);

    const json::object& l = obj(k, "limits");
    cfg.limits.max_connections = static_cast<std::size_t>(integer(l, "max_connections", 10000));
    cfg.limits.write_queue = static_cast<std::size_t>(integer(l, "write_queue", 1024));
    LimitsConfig& lc = cfg.limits;
    auto size_at = [&l](const char* key, std::size_t fallback) {
        return static_cast<std::size_t>(integer(l, key, static_cast<std::int64_t>(fallback)));
    };
    lc.max_connections_per_ip = size_at("max_connections_per_ip", lc.max_connections_per_ip);
    lc.handshake_rate = size_at("handshake_rate", lc.handshake_rate);
    lc.handshake_burst = size_at("handshake_burst", lc.handshake_burst);
    lc.write_queue_bytes = size_at("write_queue_bytes", lc.write_queue_bytes);
    lc.write_stall_s = integer(l, "write_stall_s", lc.write_stall_s);
    lc.message_rate = size_at("message_rate", lc.message_rate);
    lc.message_burst = size_at("message_burst", lc.message_burst);
    lc.max_in_flight = size_at("max_in_flight", lc.max_in_flight);
    lc.memory_watermark_mb = size_at("memory_watermark_mb", lc.memory_watermark_mb);

    const json::object& g = obj(k, "gateway");
    GatewayConfig& gc = cfg.gateway;
    gc.agent_id = str(g, "agent_id");
    gc.url = str(g, "url");
    gc.ca = str(g, "ca");
    gc.cert = str(g, "cert");
    gc.key = str(g, "key");
    gc.pins = strings(g, "pins");
    gc.kid = str(g, "kid");
    gc.key_file = str(g, "key_file");
    gc.reconnect_initial_ms = integer(obj(g, "reconnect"), "initial_ms", gc.reconnect_initial_ms);
    gc.reconnect_max_ms = integer(obj(g, "reconnect"), "max_ms", gc.reconnect_max_ms);
    const json::object& ex = obj(g, "executor");
    gc.executor_concurrency = static_cast<unsigned>(integer(ex, "concurrency", 4));
    gc.output_cap_bytes = static_cast<std::size_t>(integer(ex, "output_cap_bytes", 64 * 1024));
    gc.executor_max_queue = static_cast<std::size_t>(integer(ex, "max_queue", 256));
    gc.health = endpoint(g, "health", gc.health);
    gc.spool_max_bytes = static_cast<std::size_t>(
        integer(obj(g, "spool"), "max_bytes", static_cast<std::int64_t>(gc.spool_max_bytes)));

    if (auto it = obj(k, "audit").find("fail_closed");
        it != obj(k, "audit").end() && it->value().is_bool()) {
        cfg.audit.fail_closed = it->value().as_bool();
    }
    cfg.plugin_paths = strings(k, "plugin_paths");
    return cfg;
}

sdk::Result<KernelConfig> load_document(const YAML::Node& root, const std::string& source,
                                        const std::string& base_dir, sdk::ConfigErrors& errors,
                                        KernelConfig* partial) {
    const std::size_t errors_before = errors.size();
    if (!root.IsDefined() || root.IsNull()) {
        errors.push_back({"role", "required key is missing (the file is empty)"});
    } else if (!root.IsMap()) {
        errors.push_back({"<root>", "expected a mapping of sections"});
    } else {
        const YAML::Node role_node = root["role"];
        const std::string role =
            role_node.IsDefined() && role_node.IsScalar() ? role_node.Scalar() : std::string();
        std::vector<std::string> passthrough{"plugins"};
        check_role_sections(root, role, passthrough, errors);
        const json::object kernel =
            validate_section(root, kernel_schema(role), "", errors, {base_dir, passthrough});
        check_kernel_rules(root, kernel, role, base_dir, errors);
        std::vector<PluginEntry> plugins = load_plugins(root["plugins"], base_dir, errors);
        check_plugin_locations(root, base_dir, errors);
        KernelConfig cfg = build(kernel, role);
        cfg.source_path = source;
        cfg.config_dir = base_dir;
        cfg.plugins = std::move(plugins);
        if (errors.size() == errors_before) {
            return cfg;
        }
        if (partial != nullptr) {
            *partial = std::move(cfg);
        }
    }
    return sdk::error(sdk::Errc::invalid_argument, std::to_string(errors.size() - errors_before) +
                                                       " configuration error(s) in " +
                                                       (source.empty() ? "<text>" : source));
}

std::string parse_error_path(const std::string& source, const YAML::Mark& mark) {
    if (mark.is_null()) {
        return source;
    }
    return source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

}  // namespace

sdk::Result<KernelConfig> load_kernel_config(const std::string& file, sdk::ConfigErrors& errors,
                                             KernelConfig* partial) {
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(file, ec);
    const std::string source = ec ? file : abs.lexically_normal().string();
    std::ifstream in(file, std::ios::binary);
    if (!in || std::filesystem::is_directory(file, ec)) {
        errors.push_back({file, "cannot read the config file (missing or not a readable file)"});
        return sdk::error(sdk::Errc::not_found, "cannot read config file " + file);
    }
    std::stringstream text;
    text << in.rdbuf();
    YAML::Node root;
    try {
        root = YAML::Load(text.str());
    } catch (const YAML::Exception& e) {
        errors.push_back({parse_error_path(file, e.mark), "YAML parse error: " + e.msg});
        return sdk::error(sdk::Errc::invalid_argument, "YAML parse error in " + file);
    }
    try {
        return load_document(root, source, ec ? std::string(".") : abs.parent_path().string(),
                             errors, partial);
    } catch (const std::exception& e) {
        // yaml-cpp throws on unexpected node shapes; never let that escape as a crash.
        errors.push_back({file, std::string("invalid config structure: ") + e.what()});
        return sdk::error(sdk::Errc::invalid_argument, "invalid config " + file);
    }
}

sdk::Result<KernelConfig> load_kernel_config_text(const std::string& yaml,
                                                  const std::string& base_dir,
                                                  sdk::ConfigErrors& errors) {
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        errors.push_back({parse_error_path("<text>", e.mark), "YAML parse error: " + e.msg});
        return sdk::error(sdk::Errc::invalid_argument, "YAML parse error");
    }
    try {
        return load_document(root, "", base_dir, errors, nullptr);
    } catch (const std::exception& e) {
        errors.push_back({"<text>", std::string("invalid config structure: ") + e.what()});
        return sdk::error(sdk::Errc::invalid_argument, "invalid config");
    }
}

}  // namespace agenthost::config
