#pragma once
// LiveContext: an sdk::PluginContext for integration tests of Redis-backed plugins:
// a real Asio loop (redis::LocalLoop, whose scheduler has a native_loop()), the real
// clock, and the recording fakes of tests/support for logs, metrics, health, services,
// routes and audit. Header-only; link ah_redis and ah_test_support.

#include <chrono>
#include <string>
#include <string_view>

#include <agenthost/context.hpp>

#include "plugins/_common_redis/client.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/fake_registries.hpp"

namespace agenthost::testing {

class RealClock final : public sdk::Clock {
public:
    std::int64_t now_unix_ms() const noexcept override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
    std::chrono::steady_clock::time_point steady_now() const noexcept override {
        return std::chrono::steady_clock::now();
    }
};

// Runs blocking work on a detached thread per task (tests only).
class ThreadBlocking final : public sdk::BlockingPool {
public:
    void submit(sdk::Task work) override { std::thread(std::move(work)).detach(); }
    unsigned threads() const noexcept override { return 1; }
};

class LiveContext final : public sdk::PluginContext {
public:
    explicit LiveContext(std::string host_id = "host-a", std::string plugin_name = "test",
                         unsigned loop_threads = 2)
        : host_id_(std::move(host_id)), plugin_name_(std::move(plugin_name)),
          loop(loop_threads) {}

    std::string_view plugin_name() const noexcept override { return plugin_name_; }
    std::string_view role() const noexcept override { return "backend"; }
    std::string_view host_id() const noexcept override { return host_id_; }
    const std::string& state_dir() const noexcept override { return state_.path(); }
    sdk::Logger& logger() noexcept override { return logger_impl; }
    sdk::Metrics& metrics() noexcept override { return metrics_impl; }
    sdk::Scheduler& scheduler() noexcept override { return loop.scheduler(); }
    sdk::BlockingPool& blocking() noexcept override { return blocking_impl; }
    sdk::Clock& clock() noexcept override { return clock_impl; }
    sdk::ServiceRegistry& services() noexcept override { return services_impl; }
    sdk::RouteRegistry& routes() noexcept override { return routes_impl; }
    sdk::HealthRegistry& health() noexcept override { return health_impl; }
    sdk::AuditSink& audit() noexcept override { return audit_sink; }

private:
    std::string host_id_;
    std::string plugin_name_;
    TempDir state_{"agenthost-live"};

public:
    // Declared before the loop: loop threads may touch them until the loop is joined.
    FakeLogger logger_impl;
    FakeMetrics metrics_impl;
    FakeServiceRegistry services_impl;
    FakeRouteRegistry routes_impl;
    FakeHealthRegistry health_impl;
    FakeAuditSink audit_sink;
    RealClock clock_impl;
    ThreadBlocking blocking_impl;
    redis::LocalLoop loop;  // destroyed first: joins the loop threads
};

}  // namespace agenthost::testing
