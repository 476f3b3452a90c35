#pragma once
// replay_redis's configuration: the schema the kernel validates, and the typed struct
// the plugin runs with. Defaults live here once, for both.

#include <cstdint>
#include <string>
#include <string_view>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

#include "plugins/replay_redis/local_fallback.hpp"

namespace agenthost::plugins::replay_redis {

struct ReplayConfig {
    std::string url;                          // redis://… (or read from url_file)
    std::string url_file;                     // a private file holding the URL
    std::string key_prefix = "agenthost:r:";  // every key starts with it (one per cluster)
    std::int64_t command_timeout_ms = 2000;   // a slower reply re-opens the connection
    // Redis unreachable: refuse every frame (closed, the default) or answer from this
    // host's local nonce cache (README "Degraded mode").
    Fallback fallback = Fallback::refuse;
    std::uint64_t local_capacity = 1'000'000;  // nonces the local cache holds (mode local)
};

std::string_view to_string(Fallback f) noexcept;

sdk::Schema config_schema();
// Cross-field checks: exactly one of url / url_file, and a parsable URL.
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);
// `config` has passed the schema; missing keys fall back to the defaults so tests may
// pass partial objects. Does not read url_file.
ReplayConfig parse_config(const sdk::json::object& config);

}  // namespace agenthost::plugins::replay_redis
