#include "plugins/_common_sqlite/store_config.hpp"

namespace agenthost::sqlite {

namespace json = sdk::json;

sdk::Schema store_schema(Synchronous default_sync) {
    using sdk::bool_field;
    using sdk::integer_field;
    using sdk::number_field;
    using sdk::string_field;
    return {
        string_field("path")
            .describe("Database file. Empty: <state_dir>/<plugin>.db; a relative path is "
                      "resolved against the plugin's state_dir.")
            .fallback(json::value("")),
        integer_field("busy_timeout_ms")
            .describe("How long a statement waits for another writer's lock (ms).")
            .range(0, 600000)
            .fallback(json::value(5000)),
        string_field("synchronous")
            .describe("SQLite fsync policy in WAL mode: full (every commit is durable) or "
                      "normal (durable at checkpoints; a power cut may lose the last "
                      "commits).")
            .choices({"full", "normal"})
            .fallback(json::value(default_sync == Synchronous::full ? "full" : "normal")),
        integer_field("health_interval_ms")
            .describe("How often the latency probe runs on the blocking pool (ms).")
            .range(100, 3600000)
            .fallback(json::value(5000)),
        number_field("latency_warn_ms")
            .describe("Probe latency above which the health check reports warn (ms).")
            .range(0, 600000)
            .fallback(json::value(100.0)),
        integer_field("open_timeout_ms")
            .describe("Upper bound for opening and migrating the database at start (ms).")
            .range(100, 3600000)
            .fallback(json::value(30000)),
    };
}

std::int64_t config_int(const json::object& config, std::string_view key, std::int64_t fallback) {
    const json::value* v = config.if_contains(key);
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_int64()) {
        return v->get_int64();
    }
    if (v->is_uint64()) {
        return static_cast<std::int64_t>(v->get_uint64());
    }
    if (v->is_double()) {
        return static_cast<std::int64_t>(v->get_double());
    }
    return fallback;
}

double config_number(const json::object& config, std::string_view key, double fallback) {
    const json::value* v = config.if_contains(key);
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_double()) {
        return v->get_double();
    }
    if (v->is_int64()) {
        return static_cast<double>(v->get_int64());
    }
    if (v->is_uint64()) {
        return static_cast<double>(v->get_uint64());
    }
    return fallback;
}

std::string config_string(const json::object& config, std::string_view key, std::string fallback) {
    const json::value* v = config.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        return fallback;
    }
    return std::string(v->get_string());
}

bool config_bool(const json::object& config, std::string_view key, bool fallback) {
    const json::value* v = config.if_contains(key);
    if (v == nullptr || !v->is_bool()) {
        return fallback;
    }
    return v->get_bool();
}

StoreConfig parse_store_config(const json::object& config, Synchronous default_sync) {
    StoreConfig c;
    c.path = config_string(config, "path", "");
    c.busy_timeout_ms = static_cast<int>(config_int(config, "busy_timeout_ms", 5000));
    std::string sync =
        config_string(config, "synchronous", default_sync == Synchronous::full ? "full" : "normal");
    c.synchronous = sync == "normal" ? Synchronous::normal : Synchronous::full;
    c.health_interval = std::chrono::milliseconds(config_int(config, "health_interval_ms", 5000));
    c.latency_warn_ms = config_number(config, "latency_warn_ms", 100.0);
    c.open_timeout = std::chrono::milliseconds(config_int(config, "open_timeout_ms", 30000));
    return c;
}

}  // namespace agenthost::sqlite
