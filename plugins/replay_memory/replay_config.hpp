#pragma once
// replay_memory's configuration: the schema the kernel validates, and the typed
// struct the plugin runs with. Defaults live here once, for both.

#include <cstdint>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>

namespace agenthost::plugins::replay_memory {

struct ReplayConfig {
    std::uint64_t capacity = 1'000'000;  // entries, across all shards
    unsigned shards = 16;
    std::int64_t sweep_interval_ms = 1000;
};

sdk::Schema config_schema();
// `config` has passed the schema (defaults filled in); missing keys still fall back
// to the defaults so tests may pass partial objects.
ReplayConfig parse_config(const sdk::json::object& config);

}  // namespace agenthost::plugins::replay_memory
