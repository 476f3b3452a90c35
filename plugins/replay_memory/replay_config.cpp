#include "plugins/replay_memory/replay_config.hpp"

namespace agenthost::plugins::replay_memory {

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
    const ReplayConfig d;
    return {
        sdk::integer_field("capacity")
            .describe("Most (agent, nonce) entries held; a full cache refuses (never forgets)")
            .range(1, 1e9)
            .fallback(static_cast<std::int64_t>(d.capacity)),
        sdk::integer_field("shards")
            .describe("Lock shards (concurrency); the capacity is shared by all of them")
            .range(1, 1024)
            .fallback(static_cast<std::int64_t>(d.shards)),
        sdk::integer_field("sweep_interval_ms")
            .describe("How often expired entries are swept when traffic is idle")
            .range(10, 60000)
            .fallback(d.sweep_interval_ms),
    };
}

ReplayConfig parse_config(const sdk::json::object& config) {
    ReplayConfig c;
    c.capacity = static_cast<std::uint64_t>(
        get_int(config, "capacity", static_cast<std::int64_t>(c.capacity)));
    c.shards = static_cast<unsigned>(get_int(config, "shards", c.shards));
    c.sweep_interval_ms = get_int(config, "sweep_interval_ms", c.sweep_interval_ms);
    return c;
}

}  // namespace agenthost::plugins::replay_memory
