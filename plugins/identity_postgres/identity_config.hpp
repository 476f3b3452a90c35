#pragma once
// identity_postgres configuration: where the database is (url or url_file), the
// connection pool, timeouts and the health probe. Validated by the kernel against
// config_schema() before create(); url/url_file exclusivity by validate_config().

#include <chrono>
#include <cstddef>
#include <string>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_postgres/pg_pool.hpp"

namespace agenthost::identity_postgres {

struct IdentityConfig {
    pg::PoolOptions pool;  // pool.url filled from `url` or read from `url_file`
    std::string url_file;  // as configured (for messages; never the URL itself)
    std::chrono::milliseconds health_interval{5000};
    double latency_warn_ms = 100;
    std::chrono::milliseconds start_timeout{30000};
    std::size_t renew_batch_max = 256;    // renewals per statement (1 = one per call)
    std::size_t renew_queue_max = 16384;  // renewals waiting; more → unavailable
};

sdk::Schema config_schema();
// Exactly one of url / url_file must be set.
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);
// Reads a validated section; reads url_file (first non-empty line, trimmed). Fails
// closed: an unreadable or empty url_file, or no URL at all, is an error.
sdk::Result<IdentityConfig> parse_config(const sdk::json::object& config);

}  // namespace agenthost::identity_postgres
