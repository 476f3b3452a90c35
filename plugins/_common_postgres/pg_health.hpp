#pragma once
// PoolHealth: the "<plugin>:postgres" health check and latency gauge of a Pool.
// Health checks must be cheap and non-blocking, so the check reports a cached value;
// a timer on the loop hands Pool::ping() to the blocking pool every `interval`, and
// the result replaces the cache. A failed ping (server down, connection refused)
// makes the check fail, and the check affects readiness: /readyz goes 503.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <agenthost/context.hpp>
#include <agenthost/health.hpp>

#include "plugins/_common_postgres/pg_pool.hpp"

namespace agenthost::pg {

class PoolHealth : public std::enable_shared_from_this<PoolHealth> {
public:
    PoolHealth(sdk::PluginContext& ctx, std::shared_ptr<Pool> pool,
               std::chrono::milliseconds interval, double warn_ms);

    // Registers the check `name` (affects readiness) and the gauge
    // agenthost_postgres_latency_ms{plugin=...}, and arms the periodic refresh. Call
    // refresh() once on the pool before, so the first scrape sees a real value.
    void start(const std::string& name);
    // Cancels the timer; a refresh already running finishes but arms nothing more.
    // After return no call into the kernel is made.
    void stop();
    // Pings now and caches the outcome (blocking: pool threads only).
    void refresh();
    sdk::HealthReport report() const;

private:
    void arm();

    sdk::PluginContext& ctx_;
    std::shared_ptr<Pool> pool_;
    std::chrono::milliseconds interval_;
    double warn_ms_;

    mutable std::mutex mu_;
    sdk::HealthReport last_;
    bool stopped_ = false;
    bool armed_ = false;
    sdk::TimerId timer_ = 0;
};

}  // namespace agenthost::pg
