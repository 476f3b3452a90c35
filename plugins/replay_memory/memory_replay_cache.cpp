#include "plugins/replay_memory/memory_replay_cache.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace agenthost::plugins::replay_memory {

namespace {

constexpr const char* checks_help = "Replay checks by verdict";

sdk::Counter& verdict_counter(sdk::PluginContext& ctx, const char* verdict) {
    return ctx.metrics().counter("replay_checks_total", checks_help, {{"verdict", verdict}});
}

}  // namespace

MemoryReplayCache::MemoryReplayCache(sdk::PluginContext& ctx, const ReplayConfig& config)
    : ctx_(ctx),
      config_(config),
      cache_(std::make_shared<NonceCache>(
          NonceCache::Options{config.capacity, config.shards, /*bucket_ms=*/100})),
      sweep_(std::make_shared<Sweep>()),
      start_ms_(ctx.clock().now_unix_ms()),
      last_full_ms_(std::make_shared<std::atomic<std::int64_t>>(INT64_MIN)),
      fresh_total_(verdict_counter(ctx, "fresh")),
      replayed_total_(verdict_counter(ctx, "replayed")),
      stale_total_(verdict_counter(ctx, "stale")),
      full_total_(ctx.metrics().counter("replay_cache_full_total",
                                        "Nonce checks refused because the cache was full of "
                                        "live entries")) {}

MemoryReplayCache::~MemoryReplayCache() {
    stop();
}

sdk::Status MemoryReplayCache::start() {
    if (auto st = ctx_.services().provide<sdk::ReplayCache>(this); !st.ok()) {
        return st;
    }
    std::weak_ptr<NonceCache> weak = cache_;
    ctx_.metrics().callback_gauge("replay_cache_entries", "Nonce entries held", {}, [weak] {
        auto c = weak.lock();
        return c ? static_cast<double>(c->size()) : 0.0;
    });
    ctx_.metrics().callback_gauge("replay_cache_bytes", "Estimated memory held by the cache", {},
                                  [weak] {
                                      auto c = weak.lock();
                                      return c ? static_cast<double>(c->bytes()) : 0.0;
                                  });
    ctx_.metrics()
        .gauge("replay_cache_capacity", "Most nonce entries the cache holds")
        .set(static_cast<double>(cache_->capacity()));
    // Not a readiness check: a full cache refuses frames (1013) but the host is
    // still able to serve; operators see the warning in /healthz.
    auto& clock = ctx_.clock();
    ctx_.health().add_check("replay:fill", false, [weak, last_full = last_full_ms_, &clock] {
        auto c = weak.lock();
        if (!c) {
            return sdk::HealthReport{sdk::HealthState::pass, "component", {}, "", "stopped"};
        }
        return fill_report(*c, last_full->load(), clock.now_unix_ms());
    });
    arm_sweep(ctx_, sweep_, cache_, config_.sweep_interval_ms);
    ctx_.logger().info("replay cache started", {{"capacity", std::to_string(cache_->capacity())},
                                                {"shards", std::to_string(config_.shards)}});
    return {};
}

void MemoryReplayCache::stop() noexcept {
    std::lock_guard lock(sweep_->mu);
    if (!sweep_->stopped) {
        sweep_->stopped = true;
        if (sweep_->timer != 0) {
            ctx_.scheduler().cancel(sweep_->timer);
        }
    }
}

void MemoryReplayCache::arm_sweep(sdk::PluginContext& ctx, std::shared_ptr<Sweep> sweep,
                                  std::weak_ptr<NonceCache> cache, std::int64_t interval_ms) {
    std::lock_guard lock(sweep->mu);
    if (sweep->stopped) {
        return;
    }
    auto& ctx_ref = ctx;
    sweep->timer = ctx.scheduler().schedule(std::chrono::milliseconds(interval_ms),
                                            [&ctx_ref, sweep, cache, interval_ms] {
                                                {
                                                    std::lock_guard inner(sweep->mu);
                                                    if (sweep->stopped) {
                                                        return;
                                                    }
                                                }
                                                if (auto c = cache.lock()) {
                                                    c->purge_expired(ctx_ref.clock().now_unix_ms());
                                                }
                                                arm_sweep(ctx_ref, sweep, cache, interval_ms);
                                            });
}

std::optional<sdk::ReplayVerdict> MemoryReplayCache::check_now(std::string_view agent_id,
                                                               std::string_view nonce,
                                                               std::int64_t ts_ms,
                                                               std::int64_t window_ms) {
    if (ts_ms < start_ms_) {
        // Nonces seen before this process started are unknown to it.
        stale_total_.inc();
        return sdk::ReplayVerdict::stale;
    }
    const std::int64_t now = ctx_.clock().now_unix_ms();
    const std::int64_t expiry = std::max(ts_ms, now) + std::max<std::int64_t>(1, window_ms);
    switch (cache_->check_and_insert(agent_id, nonce, expiry, now)) {
        case NonceCache::Outcome::fresh:
            fresh_total_.inc();
            return sdk::ReplayVerdict::fresh;
        case NonceCache::Outcome::replayed:
            replayed_total_.inc();
            return sdk::ReplayVerdict::replayed;
        case NonceCache::Outcome::full:
            break;
    }
    full_total_.inc();
    last_full_ms_->store(now);
    return sdk::ReplayVerdict::full;
}

void MemoryReplayCache::check(std::string agent_id, std::string nonce, std::int64_t ts_ms,
                              std::int64_t window_ms,
                              sdk::Callback<sdk::Result<sdk::ReplayVerdict>> done) {
    auto verdict = check_now(agent_id, nonce, ts_ms, window_ms);
    if (done) {
        done(sdk::Result<sdk::ReplayVerdict>(*verdict));
    }
}

sdk::ReplayStats MemoryReplayCache::stats() const {
    return sdk::ReplayStats{cache_->size(), cache_->capacity(), cache_->bytes()};
}

sdk::HealthReport MemoryReplayCache::fill_report(const NonceCache& cache, std::int64_t last_full_ms,
                                                 std::int64_t now_ms) {
    sdk::HealthReport r;
    r.component_type = "component";
    r.observed_unit = "ratio";
    const double fill = static_cast<double>(cache.size()) / static_cast<double>(cache.capacity());
    r.observed_value = fill;
    const bool recent_refusal = last_full_ms != INT64_MIN && now_ms - last_full_ms < recent_full_ms;
    if (recent_refusal) {
        r.state = sdk::HealthState::warn;
        r.output = "replay cache full: frames refused within the last 60 s";
    } else if (fill > warn_fill_ratio) {
        r.state = sdk::HealthState::warn;
        r.output = "replay cache above 90% of capacity";
    }
    return r;
}

}  // namespace agenthost::plugins::replay_memory
