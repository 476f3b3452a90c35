#include "plugins/replay_redis/replay_config.hpp"

#include <string>

#include "plugins/_common_redis/url_config.hpp"

namespace agenthost::plugins::replay_redis {

namespace {

std::int64_t get_int(const sdk::json::object& o, const char* key, std::int64_t fallback) {
    const auto* v = o.if_contains(key);
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

std::string get_string(const sdk::json::object& o, const char* key, std::string fallback) {
    const auto* v = o.if_contains(key);
    return (v != nullptr && v->is_string()) ? std::string(v->get_string()) : fallback;
}

}  // namespace

std::string_view to_string(Fallback f) noexcept {
    return f == Fallback::local ? "local" : "refuse";
}

sdk::Schema config_schema() {
    const ReplayConfig d;
    sdk::Schema schema = redis::url_fields();
    sdk::Schema own{
        sdk::string_field("key_prefix")
            .describe("Prefix of every Redis key (one per cluster; all hosts must agree)")
            .matches("[A-Za-z0-9_.:{}-]{1,64}")
            .fallback(sdk::json::value(d.key_prefix.c_str())),
        sdk::integer_field("command_timeout_ms")
            .describe("A Redis reply later than this counts as Redis unreachable (see "
                      "fallback) and re-opens the connection")
            .range(100, 60'000)
            .fallback(d.command_timeout_ms),
        sdk::string_field("fallback")
            .describe("Redis unreachable: `refuse` every agent frame (1013, sessions close; "
                      "the closed default) or answer from this host's `local` nonce cache "
                      "(sessions stay up; replays across hosts are not detected during the "
                      "outage). Nonces accepted locally are written back when Redis returns")
            .choices({"refuse", "local"})
            .fallback(sdk::json::value(std::string(to_string(d.fallback)).c_str())),
        sdk::integer_field("local_capacity")
            .describe("fallback: local: most nonces the local cache holds (this host's "
                      "accepted frames within the replay window); a full cache refuses "
                      "(never forgets)")
            .range(1, 1e9)
            .fallback(static_cast<std::int64_t>(d.local_capacity)),
    };
    schema.insert(schema.end(), own.begin(), own.end());
    return schema;
}

void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const ReplayConfig c = parse_config(config);
    redis::validate_url_choice(c.url, c.url_file, path, errors);
}

ReplayConfig parse_config(const sdk::json::object& config) {
    ReplayConfig c;
    c.url = get_string(config, "url", c.url);
    c.url_file = get_string(config, "url_file", c.url_file);
    c.key_prefix = get_string(config, "key_prefix", c.key_prefix);
    c.command_timeout_ms = get_int(config, "command_timeout_ms", c.command_timeout_ms);
    c.fallback =
        get_string(config, "fallback", "refuse") == "local" ? Fallback::local : Fallback::refuse;
    c.local_capacity = static_cast<std::uint64_t>(
        get_int(config, "local_capacity", static_cast<std::int64_t>(c.local_capacity)));
    return c;
}

}  // namespace agenthost::plugins::replay_redis
