#pragma once
// queue_redis's configuration: the schema the kernel validates, and the typed struct
// the queue runs with. Defaults live here once, for both.

#include <cstdint>
#include <string>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::plugins::queue_redis {

struct QueueConfig {
    std::string url;                         // redis://… (or read from url_file)
    std::string url_file;                    // a private file holding the URL
    std::string key_prefix = "agenthost:q:";  // every key and channel starts with it
    std::int64_t max_depth = 1000;           // unfinished commands per agent
    std::int64_t retry_after_s = 5;          // Retry-After for a full queue
    std::int64_t ack_timeout_s = 30;         // first redelivery delay (backoff base)
    std::int64_t max_backoff_s = 300;        // redelivery delay cap
    std::int32_t max_attempts = 5;           // deliveries before dead-lettering
    std::int64_t idempotency_ttl_s = 86400;  // Idempotency-Key memory (API.md: >= 24 h)
    std::int64_t retain_terminal = 100000;   // finished commands kept for GET/list
    std::int64_t dead_letter_max = 100000;   // entries kept in the dead-letter stream
    std::int64_t sweep_interval_ms = 1000;   // redelivery / deadline / dead-letter sweep
    std::int64_t rescan_interval_s = 5;      // re-read every attached agent's stream
    std::int64_t command_timeout_ms = 5000;  // a Redis reply later than this: reconnect
};

sdk::Schema config_schema();
// Cross-field checks: exactly one of url / url_file, a parsable URL, backoff order.
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);
// `config` has passed the schema (defaults filled in); missing keys fall back to the
// defaults so tests may pass partial objects. Does not read url_file.
QueueConfig parse_config(const sdk::json::object& config);

}  // namespace agenthost::plugins::queue_redis
