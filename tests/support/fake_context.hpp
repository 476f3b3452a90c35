#pragma once
// FakeContext: an sdk::PluginContext for plugin unit tests (header-only; include it
// as "tests/support/fake_context.hpp" and link the `ah_test_support` target or just
// have the repo root on the include path).
//
// Deterministic by default: a manual clock, a manual scheduler (run_until_idle(),
// advance()) and a manual blocking pool. Every registry records what the plugin did.
//
//   testing::FakeContext ctx;                       // plugin_name "test"
//   auto plugin = make_my_plugin(ctx, config);
//   ctx.run_until_idle();                           // posted tasks + blocking work
//   ctx.advance(std::chrono::seconds(30));          // fires due timers in order
//   EXPECT_EQ(ctx.audit_sink.events().size(), 1u);
//
// For concurrency tests: ctx.scheduler_impl.start_background() and
// ctx.blocking_impl.set_mode(FakeBlockingPool::Mode::threaded), then wait with
// testing::wait_until(pred, deadline) — never sleep as synchronisation.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include <agenthost/context.hpp>

#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_registries.hpp"
#include "tests/support/fake_scheduler.hpp"

namespace agenthost::testing {

struct FakeContextOptions {
    std::string plugin_name = "test";
    std::string role = "backend";
    std::string host_id = "test-host";
    std::string state_dir;  // empty: a fresh temporary directory, removed on destruction
    std::int64_t start_unix_ms = FakeClock::default_start_unix_ms;
    FakeBlockingPool::Mode blocking_mode = FakeBlockingPool::Mode::manual;
};

// A temporary directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
    explicit TempDir(std::string_view prefix = "agenthost-test") {
        namespace fs = std::filesystem;
        std::random_device rd;
        for (int i = 0; i < 100; ++i) {
            fs::path p = fs::temp_directory_path() /
                         (std::string(prefix) + "-" + std::to_string(rd()) + std::to_string(i));
            std::error_code ec;
            if (fs::create_directory(p, ec)) {
                path_ = p.string();
                return;
            }
        }
    }
    ~TempDir() {
        if (!path_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(path_, ec);
        }
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const noexcept { return path_; }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

private:
    std::string path_;
};

class FakeContext final : public sdk::PluginContext {
private:
    // Declared first: the public members below are initialised from it.
    FakeContextOptions opts_;
    std::optional<TempDir> temp_;

public:
    explicit FakeContext(FakeContextOptions opts = {})
        : opts_(std::move(opts)),
          clock_impl(opts_.start_unix_ms),
          scheduler_impl(clock_impl),
          blocking_impl(opts_.blocking_mode) {
        if (opts_.state_dir.empty()) {
            temp_.emplace("agenthost-state");
            opts_.state_dir = temp_->path();
        }
    }
    ~FakeContext() override {
        // Stop real threads before the registries they may touch go away.
        scheduler_impl.stop_background();
        blocking_impl.set_mode(FakeBlockingPool::Mode::manual);
    }

    std::string_view plugin_name() const noexcept override { return opts_.plugin_name; }
    std::string_view role() const noexcept override { return opts_.role; }
    std::string_view host_id() const noexcept override { return opts_.host_id; }
    const std::string& state_dir() const noexcept override { return opts_.state_dir; }

    sdk::Logger& logger() noexcept override { return logger_impl; }
    sdk::Metrics& metrics() noexcept override { return metrics_impl; }
    sdk::Scheduler& scheduler() noexcept override { return scheduler_impl; }
    sdk::BlockingPool& blocking() noexcept override { return blocking_impl; }
    sdk::Clock& clock() noexcept override { return clock_impl; }
    sdk::ServiceRegistry& services() noexcept override { return services_impl; }
    sdk::RouteRegistry& routes() noexcept override { return routes_impl; }
    sdk::HealthRegistry& health() noexcept override { return health_impl; }
    sdk::AuditSink& audit() noexcept override { return *audit_target_; }

    // Routes ctx.audit() to another sink (e.g. the plugin under test); nullptr resets
    // to the recording fake.
    void set_audit_sink(sdk::AuditSink* sink) { audit_target_ = sink ? sink : &audit_sink; }

    // Manual mode: runs posted tasks, due timers and blocking work until all are idle.
    std::size_t run_until_idle() {
        std::size_t total = 0;
        for (;;) {
            std::size_t n = scheduler_impl.run_until_idle() + blocking_impl.run_until_idle();
            total += n;
            if (n == 0) {
                return total;
            }
        }
    }
    // Advances fake time, firing due timers in order (and draining blocking work).
    void advance(std::chrono::milliseconds d) {
        run_until_idle();
        const std::int64_t target = clock_impl.steady_ms() + d.count();
        while (clock_impl.steady_ms() < target) {
            std::int64_t next = scheduler_impl.next_timer_due_ms();
            std::int64_t step = (next < 0 || next > target) ? target - clock_impl.steady_ms()
                                                            : next - clock_impl.steady_ms();
            scheduler_impl.advance(std::chrono::milliseconds(std::max<std::int64_t>(0, step)));
            run_until_idle();
        }
    }

    FakeClock clock_impl;
    FakeScheduler scheduler_impl;
    FakeBlockingPool blocking_impl;
    FakeLogger logger_impl;
    FakeMetrics metrics_impl;
    FakeServiceRegistry services_impl;
    FakeRouteRegistry routes_impl;
    FakeHealthRegistry health_impl;
    FakeAuditSink audit_sink;

private:
    sdk::AuditSink* audit_target_ = &audit_sink;
};

// Polls `pred` until it is true or `timeout` (real time) passes. For tests with real
// threads; waits on a condition with a deadline, never a bare sleep.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return pred();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

}  // namespace agenthost::testing
