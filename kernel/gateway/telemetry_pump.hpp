#pragma once
// Drives the telemetry collectors: each on its own interval, collect() → points
// checked against the protocol's rules (a bad point would get the whole session
// closed with 4400 on every resend, so it is dropped and counted here) → batches of
// at most max_batch_points, each with a fresh batch_id → spooled durably → the
// uplink is told. When the spool is full the batch is not stored: the points are
// counted in agenthost_gateway_telemetry_dropped_points_total and logged.
//
// Threading: start/stop from the owner's thread; everything else on loop threads
// and the blocking pool.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include <agenthost/sdk.hpp>

#include "kernel/gateway/store.hpp"

namespace agenthost::gateway {

struct TelemetryDeps {
    sdk::Scheduler& scheduler;
    sdk::BlockingPool& blocking;
    sdk::Logger& logger;
    sdk::Metrics& metrics;
    GatewayStore& store;
};

// Removes points that break PROTOCOL.md §4/§8 rules; returns how many were removed.
std::size_t sanitize_points(std::vector<sdk::TelemetryPoint>& points);

class TelemetryPump {
public:
    TelemetryPump(TelemetryDeps deps, std::vector<sdk::TelemetryCollector*> collectors,
                  std::function<std::size_t()> max_batch_points, std::function<void()> spooled);
    ~TelemetryPump();

    void start();
    void stop();

    // One round for collector `index` now (tests).
    void collect_now(std::size_t index);

private:
    void schedule(std::size_t index);
    void on_points(std::size_t index, sdk::Result<std::vector<sdk::TelemetryPoint>> r);
    sdk::Task guarded(std::function<void()> fn);

    TelemetryDeps d_;
    std::vector<sdk::TelemetryCollector*> collectors_;
    std::function<std::size_t()> max_batch_points_;
    std::function<void()> spooled_;
    struct Life {
        std::shared_mutex mu;
        bool alive = true;
    };
    std::shared_ptr<Life> life_ = std::make_shared<Life>();
    std::mutex mu_;
    bool running_ = false;
    std::vector<sdk::TimerId> timers_;
};

}  // namespace agenthost::gateway
