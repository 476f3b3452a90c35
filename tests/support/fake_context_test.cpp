// The fakes other tests rely on: if these are wrong, every plugin test lies.

#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/fake_context.hpp"

namespace agenthost::testing {
namespace {

using namespace std::chrono_literals;

TEST(FakeContext, PostedTasksRunOnlyWhenDriven) {
    FakeContext ctx;
    int runs = 0;
    ctx.scheduler().post([&] { ++runs; });
    EXPECT_EQ(runs, 0);
    EXPECT_EQ(ctx.run_until_idle(), 1u);
    EXPECT_EQ(runs, 1);
}

TEST(FakeContext, TimersFireInDueOrderAsTheClockAdvances) {
    FakeContext ctx;
    std::vector<int> order;
    std::vector<std::int64_t> seen_at;
    const auto t0 = ctx.clock().now_unix_ms();
    ctx.scheduler().schedule(300ms, [&] { order.push_back(3); });
    ctx.scheduler().schedule(100ms, [&] {
        order.push_back(1);
        seen_at.push_back(ctx.clock().now_unix_ms() - t0);
        // A timer scheduled from a timer fires within the same advance when due.
        ctx.scheduler().schedule(100ms, [&] {
            order.push_back(2);
            seen_at.push_back(ctx.clock().now_unix_ms() - t0);
        });
    });
    ctx.advance(99ms);
    EXPECT_TRUE(order.empty());
    ctx.advance(250ms);
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(seen_at, (std::vector<std::int64_t>{100, 200}));
    EXPECT_EQ(ctx.clock().now_unix_ms() - t0, 349);
}

TEST(FakeContext, CancelledTimerNeverRuns) {
    FakeContext ctx;
    int runs = 0;
    auto id = ctx.scheduler().schedule(10ms, [&] { ++runs; });
    EXPECT_TRUE(ctx.scheduler().cancel(id));
    EXPECT_FALSE(ctx.scheduler().cancel(id));
    ctx.advance(1s);
    EXPECT_EQ(runs, 0);
}

TEST(FakeContext, ManualBlockingPoolRunsOnDemand) {
    FakeContext ctx;
    int runs = 0;
    ctx.blocking().submit([&] { ctx.scheduler().post([&] { ++runs; }); });
    EXPECT_EQ(ctx.blocking_impl.pending(), 1u);
    ctx.run_until_idle();
    EXPECT_EQ(runs, 1);
}

TEST(FakeContext, BackgroundModesRunWithoutDriving) {
    FakeContext ctx;
    ctx.scheduler_impl.start_background();
    ctx.blocking_impl.set_mode(FakeBlockingPool::Mode::threaded);
    std::atomic<int> runs{0};
    ctx.blocking().submit([&] { ctx.scheduler().post([&] { ++runs; }); });
    ctx.scheduler().schedule(1s, [&] { ++runs; });
    EXPECT_TRUE(wait_until([&] { return runs.load() == 1; }));
    ctx.scheduler_impl.advance(1s);
    EXPECT_TRUE(wait_until([&] { return runs.load() == 2; }));
}

TEST(FakeContext, RegistriesRecord) {
    FakeContext ctx;
    auto& c = ctx.metrics().counter("x_total", "help", {{"state", "a"}});
    EXPECT_EQ(&c, &ctx.metrics().counter("x_total", "other help", {{"state", "a"}}));
    c.inc(2);
    EXPECT_EQ(ctx.metrics_impl.counter_value("x_total", {{"state", "a"}}), 2u);
    EXPECT_FALSE(ctx.metrics_impl.counter_value("x_total").has_value());

    ctx.health().add_check("c", true, [] {
        return sdk::HealthReport{sdk::HealthState::fail, "component", {}, "", "down"};
    });
    EXPECT_FALSE(ctx.health().ready());

    int svc = 0;
    EXPECT_TRUE(ctx.services().provide_raw("replay", &svc).ok());
    EXPECT_EQ(ctx.services().provide_raw("replay", &svc).code(), sdk::Errc::conflict);
    EXPECT_EQ(ctx.services().find_raw("replay"), &svc);

    ctx.audit().record({"kernel", "x.y", "t", "success", {}});
    ASSERT_EQ(ctx.audit_sink.events().size(), 1u);
    EXPECT_EQ(ctx.audit_sink.events()[0].action, "x.y");
}

}  // namespace
}  // namespace agenthost::testing
