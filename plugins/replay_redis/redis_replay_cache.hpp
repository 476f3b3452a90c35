#pragma once
// RedisReplayCache: the "replay" capability shared by every host of a cluster. Each
// accepted (agent, nonce) is a Redis key written with SET NX PX inside one Lua script,
// so a frame captured on one host and replayed to another is refused there too.
//
//  - Asynchronous only: check_now() answers nullopt and the kernel calls check(),
//    whose completion runs on the Redis client's strand (never blocks the loop).
//  - Redis unreachable or too slow (disconnected, timed out): with `fallback: refuse`
//    (the default) the check fails (the session closes with 1013, PROTOCOL.md §2/§6)
//    and the "redis:replay" readiness check fails. With `fallback: local` the check is
//    answered by this host's LocalFallback (local_fallback.hpp: a bounded shadow of
//    the nonces this host accepted), counted, logged once per transition, reported as
//    `warn`; when Redis is back the nonces accepted locally are written back (SET NX
//    PX, batched pipelines on the Redis I/O thread) so other hosts refuse them too.
//    Redis out of memory (maxmemory, noeviction) → `full` in both modes: refuse, never
//    forget.
//  - "Stale" after data loss: a cluster-wide epoch key records when this cache began
//    (first check ever, or the first check after Redis lost its data); a `ts` older
//    than the epoch cannot be vouched for and is answered `stale` (4410).

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <agenthost/capabilities/replay.hpp>
#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/_common_redis/client.hpp"
#include "plugins/_common_redis/reply.hpp"
#include "plugins/replay_redis/local_fallback.hpp"
#include "plugins/replay_redis/replay_config.hpp"

namespace agenthost::plugins::replay_redis {

// The key of one (agent, nonce): the agent id is length-prefixed, so no pair of ids
// and nonces can collide whatever bytes they hold ("<prefix>n:<len>:<agent>:<nonce>").
std::string nonce_key(std::string_view prefix, std::string_view agent, std::string_view nonce);
std::string epoch_key(std::string_view prefix);
// Milliseconds the entry lives: until max(ts, now) + window, at least 1.
std::int64_t entry_ttl_ms(std::int64_t ts_ms, std::int64_t now_ms, std::int64_t window_ms);
// The script's reply (0 fresh, 1 replayed, 2 stale) or an error reply → a verdict.
sdk::Result<sdk::ReplayVerdict> verdict_of(const redis::Reply& reply);
// The Lua source: epoch check, then SET KEYS[1] 1 NX PX ttl.
const std::string& check_script_source();

class RedisReplayCache final : public sdk::Plugin, public sdk::ReplayCache {
public:
    RedisReplayCache(sdk::PluginContext& ctx, const ReplayConfig& config, redis::Endpoint endpoint);
    ~RedisReplayCache() override;

    // sdk::Plugin
    sdk::Status start() override;
    void stop() noexcept override;

    // sdk::ReplayCache
    std::optional<sdk::ReplayVerdict> check_now(std::string_view agent_id, std::string_view nonce,
                                                std::int64_t ts_ms,
                                                std::int64_t window_ms) override;
    void check(std::string agent_id, std::string nonce, std::int64_t ts_ms, std::int64_t window_ms,
               sdk::Callback<sdk::Result<sdk::ReplayVerdict>> done) override;
    sdk::ReplayStats stats() const override;

    // Connected, and the last PING answered in time.
    bool healthy() const noexcept;
    // The local cache of `fallback: local` (nullptr with `refuse`), for tests.
    const LocalFallback* local_fallback() const noexcept;

    // Counters, the local fallback and the write-back, shared with completions (defined
    // in the .cpp; completions hold it, so they never touch the plugin object).
    struct State;

private:
    sdk::PluginContext& ctx_;
    ReplayConfig config_;
    redis::Endpoint endpoint_;
    std::shared_ptr<redis::Client> client_;  // made in start(): needs the kernel's loop
    redis::Script script_;
    std::string epoch_key_;
    std::shared_ptr<State> state_;
    std::int64_t started_ms_ = 0;  // this host's start: the epoch it proposes first
};

sdk::Result<std::unique_ptr<sdk::Plugin>> make_plugin(sdk::PluginContext& ctx,
                                                      const sdk::json::object& config);

}  // namespace agenthost::plugins::replay_redis
