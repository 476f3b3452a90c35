#include "plugins/queue_memory/queue_config.hpp"

#include <string>

namespace agenthost::plugins::queue_memory {

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

}  // namespace

sdk::Schema config_schema() {
    const QueueConfig d;
    return {
        sdk::integer_field("max_depth")
            .describe("Most unfinished commands per agent; beyond it enqueue answers 429")
            .range(1, 1'000'000)
            .fallback(d.max_depth),
        sdk::integer_field("retry_after_s")
            .describe("Retry-After (seconds) sent with 429 when an agent's queue is full")
            .range(1, 3600)
            .fallback(d.retry_after_s),
        sdk::integer_field("ack_timeout_s")
            .describe("Seconds to wait for an ack before the first redelivery")
            .range(1, 3600)
            .fallback(d.ack_timeout_s),
        sdk::integer_field("max_backoff_s")
            .describe("Cap of the doubling redelivery delay, in seconds")
            .range(1, 86400)
            .fallback(d.max_backoff_s),
        sdk::integer_field("max_attempts")
            .describe("Deliveries without an ack before a command is dead-lettered")
            .range(1, 100)
            .fallback(static_cast<std::int64_t>(d.max_attempts)),
        sdk::integer_field("idempotency_ttl_s")
            .describe("How long an Idempotency-Key is remembered per agent (>= 24 h)")
            .range(86400, 30 * 86400)
            .fallback(d.idempotency_ttl_s),
        sdk::integer_field("retain_terminal")
            .describe("Finished commands kept for GET and list; the oldest are dropped")
            .range(1, 10'000'000)
            .fallback(d.retain_terminal),
    };
}

void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const QueueConfig c = parse_config(config);
    if (c.max_backoff_s < c.ack_timeout_s) {
        errors.push_back({path + ".max_backoff_s", "must be at least ack_timeout_s (" +
                                                       std::to_string(c.ack_timeout_s) + ")"});
    }
}

QueueConfig parse_config(const sdk::json::object& config) {
    QueueConfig c;
    c.max_depth = get_int(config, "max_depth", c.max_depth);
    c.retry_after_s = get_int(config, "retry_after_s", c.retry_after_s);
    c.ack_timeout_s = get_int(config, "ack_timeout_s", c.ack_timeout_s);
    c.max_backoff_s = get_int(config, "max_backoff_s", c.max_backoff_s);
    c.max_attempts = static_cast<std::int32_t>(get_int(config, "max_attempts", c.max_attempts));
    c.idempotency_ttl_s = get_int(config, "idempotency_ttl_s", c.idempotency_ttl_s);
    c.retain_terminal = get_int(config, "retain_terminal", c.retain_terminal);
    return c;
}

}  // namespace agenthost::plugins::queue_memory
