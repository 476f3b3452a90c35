#pragma once
// queue_memory's configuration: the schema the kernel validates, and the typed
// struct the queue runs with. Defaults live here once, for both.

#include <cstdint>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>

namespace agenthost::plugins::queue_memory {

struct QueueConfig {
    std::int64_t max_depth = 1000;           // non-terminal commands per agent
    std::int64_t retry_after_s = 5;          // Retry-After for a full queue
    std::int64_t ack_timeout_s = 30;         // first redelivery delay (backoff base)
    std::int64_t max_backoff_s = 300;        // redelivery delay cap
    std::int32_t max_attempts = 5;           // deliveries before dead-lettering
    std::int64_t idempotency_ttl_s = 86400;  // Idempotency-Key memory (API.md: >= 24 h)
    std::int64_t retain_terminal = 100000;   // finished commands kept for GET/list
};

sdk::Schema config_schema();
// Cross-field checks (max_backoff_s >= ack_timeout_s).
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);
// `config` has passed the schema (defaults filled in); missing keys still fall back
// to the defaults so tests may pass partial objects.
QueueConfig parse_config(const sdk::json::object& config);

}  // namespace agenthost::plugins::queue_memory
