#pragma once
// HealthProbe: the "<plugin>:latency" health check of a SQLite store. Health checks
// must be cheap and non-blocking, so the check only reports a cached value; a timer
// on the loop hands the real probe (Database::ping) to the blocking pool every
// `interval`, and the result replaces the cache.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <agenthost/context.hpp>
#include <agenthost/health.hpp>

#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/sqlite.hpp"

namespace agenthost::sqlite {

class HealthProbe : public std::enable_shared_from_this<HealthProbe> {
public:
    // `db` must stay valid until stop() returned and `gate` is closed.
    HealthProbe(sdk::PluginContext& ctx, std::shared_ptr<AsyncGate> gate, Database* db,
                std::chrono::milliseconds interval, double warn_ms);

    // Registers the check `name` (affects readiness) and a latency gauge, and arms the
    // periodic refresh. Call refresh() once on the pool before, so the first scrape
    // already sees a real value. Non-blocking: fine on the loop.
    void start(const std::string& name);
    // Cancels the timer; a refresh already queued is stopped by the gate.
    void stop();
    // Runs one probe now and caches its outcome (blocking: pool threads only).
    void refresh();
    sdk::HealthReport report() const;

private:
    void arm();

    sdk::PluginContext& ctx_;
    std::shared_ptr<AsyncGate> gate_;
    Database* db_;
    std::chrono::milliseconds interval_;
    double warn_ms_;

    mutable std::mutex mu_;
    sdk::HealthReport last_;
    bool stopped_ = false;
    bool armed_ = false;
    sdk::TimerId timer_ = 0;
};

}  // namespace agenthost::sqlite
