#pragma once
// The config keys every SQLite store plugin shares (path, busy timeout, fsync
// policy, health probing), declared once so both plugins document and validate them
// the same way.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>

#include "plugins/_common_sqlite/sqlite.hpp"

namespace agenthost::sqlite {

struct StoreConfig {
    std::string path;  // as configured; resolve_path() turns it into the file name
    int busy_timeout_ms = 5000;
    Synchronous synchronous = Synchronous::full;
    std::chrono::milliseconds health_interval{5000};
    double latency_warn_ms = 100;
    std::chrono::milliseconds open_timeout{30000};
};

// Schema fields for the keys above; `default_sync` differs per plugin.
sdk::Schema store_schema(Synchronous default_sync);
// Reads a section already validated against store_schema() (defaults filled in);
// missing keys keep the StoreConfig defaults so tests may pass a sparse object.
StoreConfig parse_store_config(const sdk::json::object& config, Synchronous default_sync);

// Integer member of a validated config object, or `fallback`.
std::int64_t config_int(const sdk::json::object& config, std::string_view key,
                        std::int64_t fallback);
double config_number(const sdk::json::object& config, std::string_view key, double fallback);
std::string config_string(const sdk::json::object& config, std::string_view key,
                          std::string fallback);
bool config_bool(const sdk::json::object& config, std::string_view key, bool fallback);

}  // namespace agenthost::sqlite
