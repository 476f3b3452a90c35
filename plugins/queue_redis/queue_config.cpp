#include "plugins/queue_redis/queue_config.hpp"

#include <string>

#include "plugins/_common_redis/url_config.hpp"

namespace agenthost::plugins::queue_redis {

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

sdk::Field int_field(const char* key, const char* what, double lo, double hi, std::int64_t d) {
    return sdk::integer_field(key).describe(what).range(lo, hi).fallback(d);
}

}  // namespace

sdk::Schema config_schema() {
    const QueueConfig d;
    sdk::Schema schema = redis::url_fields();
    sdk::Schema own{
        sdk::string_field("key_prefix")
            .describe("Prefix of every Redis key and channel (one per cluster)")
            .matches("[A-Za-z0-9_.:{}-]{1,64}")
            .fallback(sdk::json::value(d.key_prefix.c_str())),
        int_field("max_depth", "Most unfinished commands per agent; beyond it enqueue answers 429",
                  1, 1'000'000, d.max_depth),
        int_field("retry_after_s", "Retry-After (seconds) sent with 429 when a queue is full", 1,
                  3600, d.retry_after_s),
        int_field("ack_timeout_s", "Seconds to wait for an ack before the first redelivery", 1,
                  3600, d.ack_timeout_s),
        int_field("max_backoff_s", "Cap of the doubling redelivery delay, in seconds", 1, 86400,
                  d.max_backoff_s),
        int_field("max_attempts", "Deliveries without an ack before a command is dead-lettered",
                  1, 100, d.max_attempts),
        int_field("idempotency_ttl_s", "How long an Idempotency-Key is remembered (>= 24 h)",
                  86400, 30 * 86400, d.idempotency_ttl_s),
        int_field("retain_terminal", "Finished commands kept for GET and list; oldest dropped",
                  1, 10'000'000, d.retain_terminal),
        int_field("dead_letter_max", "Entries kept in the dead-letter stream (approximate)", 1,
                  10'000'000, d.dead_letter_max),
        int_field("sweep_interval_ms", "Period of the redelivery, deadline and dead-letter sweep",
                  50, 60'000, d.sweep_interval_ms),
        int_field("rescan_interval_s",
                  "Period of re-reading every attached agent's stream (missed notifications)", 1,
                  3600, d.rescan_interval_s),
        int_field("command_timeout_ms",
                  "A Redis reply later than this drops and re-opens the connection", 100, 60'000,
                  d.command_timeout_ms),
    };
    schema.insert(schema.end(), own.begin(), own.end());
    return schema;
}

void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const QueueConfig c = parse_config(config);
    redis::validate_url_choice(c.url, c.url_file, path, errors);
    if (c.max_backoff_s < c.ack_timeout_s) {
        errors.push_back({path + ".max_backoff_s", "must be at least ack_timeout_s (" +
                                                       std::to_string(c.ack_timeout_s) + ")"});
    }
}

QueueConfig parse_config(const sdk::json::object& config) {
    QueueConfig c;
    c.url = get_string(config, "url", c.url);
    c.url_file = get_string(config, "url_file", c.url_file);
    c.key_prefix = get_string(config, "key_prefix", c.key_prefix);
    c.max_depth = get_int(config, "max_depth", c.max_depth);
    c.retry_after_s = get_int(config, "retry_after_s", c.retry_after_s);
    c.ack_timeout_s = get_int(config, "ack_timeout_s", c.ack_timeout_s);
    c.max_backoff_s = get_int(config, "max_backoff_s", c.max_backoff_s);
    c.max_attempts = static_cast<std::int32_t>(get_int(config, "max_attempts", c.max_attempts));
    c.idempotency_ttl_s = get_int(config, "idempotency_ttl_s", c.idempotency_ttl_s);
    c.retain_terminal = get_int(config, "retain_terminal", c.retain_terminal);
    c.dead_letter_max = get_int(config, "dead_letter_max", c.dead_letter_max);
    c.sweep_interval_ms = get_int(config, "sweep_interval_ms", c.sweep_interval_ms);
    c.rescan_interval_s = get_int(config, "rescan_interval_s", c.rescan_interval_s);
    c.command_timeout_ms = get_int(config, "command_timeout_ms", c.command_timeout_ms);
    return c;
}

}  // namespace agenthost::plugins::queue_redis
