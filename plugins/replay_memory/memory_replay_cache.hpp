#pragma once
// MemoryReplayCache: the "replay" capability backed by an in-process NonceCache.
// Answers synchronously (check_now); the cache does not survive a restart, so it
// calls every `ts` older than its own start `stale` (PROTOCOL.md §2).
// Publishes replay_cache_* metrics and the "replay:fill" health check; a periodic
// sweep frees expired entries while traffic is idle so the gauges stay truthful.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <agenthost/capabilities/replay.hpp>
#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/_common_replay/nonce_cache.hpp"
#include "plugins/replay_memory/replay_config.hpp"

namespace agenthost::plugins::replay_memory {

using replay::NonceCache;

class MemoryReplayCache final : public sdk::Plugin, public sdk::ReplayCache {
public:
    // Refusals within this long make the health check warn.
    static constexpr std::int64_t recent_full_ms = 60'000;
    static constexpr double warn_fill_ratio = 0.9;

    MemoryReplayCache(sdk::PluginContext& ctx, const ReplayConfig& config);
    ~MemoryReplayCache() override;

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

    std::int64_t start_ms() const noexcept { return start_ms_; }
    // The "replay:fill" report: warn above 90% fill or after a recent refusal.
    static sdk::HealthReport fill_report(const NonceCache& cache, std::int64_t last_full_ms,
                                         std::int64_t now_ms);

private:
    // Shared with the sweep timer so a timer that fires after stop() finds it
    // stopped instead of a destroyed plugin.
    struct Sweep {
        std::mutex mu;
        bool stopped = false;
        sdk::TimerId timer = 0;
    };
    static void arm_sweep(sdk::PluginContext& ctx, std::shared_ptr<Sweep> sweep,
                          std::weak_ptr<NonceCache> cache, std::int64_t interval_ms);

    sdk::PluginContext& ctx_;
    ReplayConfig config_;
    std::shared_ptr<NonceCache> cache_;
    std::shared_ptr<Sweep> sweep_;
    std::int64_t start_ms_;
    // Shared with the health check, which the registry may run after stop().
    std::shared_ptr<std::atomic<std::int64_t>> last_full_ms_;
    sdk::Counter& fresh_total_;
    sdk::Counter& replayed_total_;
    sdk::Counter& stale_total_;
    sdk::Counter& full_total_;
};

}  // namespace agenthost::plugins::replay_memory
