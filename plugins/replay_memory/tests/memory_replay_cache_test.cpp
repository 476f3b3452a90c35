// MemoryReplayCache through the SDK interface, with the fake context: verdicts,
// restart staleness, metrics, the health check and the idle sweep.

#include <gtest/gtest.h>

#include "plugins/replay_memory/memory_replay_cache.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::replay_memory {
namespace {

using namespace std::chrono_literals;
using sdk::ReplayVerdict;
using testing::FakeContext;

constexpr std::int64_t window = 60'000;

struct MemoryReplayCacheTest : ::testing::Test {
    FakeContext ctx;
    std::unique_ptr<MemoryReplayCache> make(std::uint64_t capacity, unsigned shards = 1) {
        auto p = std::make_unique<MemoryReplayCache>(ctx, ReplayConfig{capacity, shards, 1000});
        EXPECT_TRUE(p->start().ok());
        return p;
    }
    std::int64_t now() { return ctx.clock().now_unix_ms(); }
};

TEST_F(MemoryReplayCacheTest, FreshThenReplayedThroughBothForms) {
    auto cache = make(100);
    EXPECT_EQ(cache->check_now("agent-1", "nonce-a", now(), window), ReplayVerdict::fresh);
    EXPECT_EQ(cache->check_now("agent-1", "nonce-a", now(), window), ReplayVerdict::replayed);

    std::optional<sdk::Result<ReplayVerdict>> got;
    cache->check("agent-1", "nonce-b", now(), window, [&](auto r) { got = std::move(r); });
    ASSERT_TRUE(got.has_value());  // answered inline
    ASSERT_TRUE(got->ok());
    EXPECT_EQ(got->value(), ReplayVerdict::fresh);
    cache->check("agent-1", "nonce-b", now(), window, [&](auto r) { got = std::move(r); });
    EXPECT_EQ(got->value(), ReplayVerdict::replayed);
    EXPECT_EQ(ctx.metrics_impl.counter_value("replay_checks_total", {{"verdict", "fresh"}}), 2u);
    EXPECT_EQ(ctx.metrics_impl.counter_value("replay_checks_total", {{"verdict", "replayed"}}), 2u);
}

TEST_F(MemoryReplayCacheTest, RegistersTheReplayCapability) {
    auto cache = make(100);
    EXPECT_EQ(ctx.services().find<sdk::ReplayCache>(), cache.get());
}

TEST_F(MemoryReplayCacheTest, TimestampsBeforeStartAreStale) {
    auto cache = make(100);
    EXPECT_EQ(cache->start_ms(), now());
    EXPECT_EQ(cache->check_now("a", "n1", now() - 1, window), ReplayVerdict::stale);
    EXPECT_EQ(cache->check_now("a", "n1", now(), window), ReplayVerdict::fresh);
    // Later frames whose ts predates the start stay stale even inside the skew.
    ctx.advance(10s);
    EXPECT_EQ(cache->check_now("a", "n2", cache->start_ms() - 5, window), ReplayVerdict::stale);
    EXPECT_EQ(ctx.metrics_impl.counter_value("replay_checks_total", {{"verdict", "stale"}}), 2u);
}

TEST_F(MemoryReplayCacheTest, EntryLivesForTheWindowPastTheLaterOfTsAndNow) {
    auto cache = make(100);
    const std::int64_t future_ts = now() + 20'000;  // sender clock ahead (within skew)
    EXPECT_EQ(cache->check_now("a", "n", future_ts, window), ReplayVerdict::fresh);
    ctx.advance(std::chrono::milliseconds(window + 19'999));
    EXPECT_EQ(cache->check_now("a", "n", now(), window), ReplayVerdict::replayed);
    ctx.advance(1ms);
    EXPECT_EQ(cache->check_now("a", "n", now(), window), ReplayVerdict::fresh);
}

TEST_F(MemoryReplayCacheTest, FullRefusesCountsAndWarnsThenRecovers) {
    auto cache = make(10);
    auto report = ctx.health_impl.run("replay:fill");
    ASSERT_TRUE(report.has_value());
    EXPECT_EQ(report->state, sdk::HealthState::pass);
    EXPECT_FALSE(ctx.health_impl.affects_readiness("replay:fill"));

    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(cache->check_now("a", "n" + std::to_string(i), now(), window),
                  ReplayVerdict::fresh);
    }
    report = ctx.health_impl.run("replay:fill");
    EXPECT_EQ(report->state, sdk::HealthState::warn);  // 100% > 90%
    EXPECT_DOUBLE_EQ(report->observed_value.value(), 1.0);

    EXPECT_EQ(cache->check_now("a", "one-more", now(), window), ReplayVerdict::full);
    EXPECT_EQ(cache->check_now("a", "n3", now(), window), ReplayVerdict::replayed);
    EXPECT_EQ(ctx.metrics_impl.counter_value("replay_cache_full_total"), 1u);
    EXPECT_EQ(ctx.metrics_impl.gauge_value("replay_cache_capacity"), 10.0);
    EXPECT_EQ(ctx.metrics_impl.gauge_value("replay_cache_entries"), 10.0);
    auto st = cache->stats();
    EXPECT_EQ(st.entries, 10u);
    EXPECT_EQ(st.capacity, 10u);
    EXPECT_GT(st.bytes, 10 * NonceCache::bytes_per_entry_overhead());

    // The entries expire; the idle sweep frees them without any new traffic.
    ctx.advance(std::chrono::milliseconds(window + 1000));
    EXPECT_EQ(ctx.metrics_impl.gauge_value("replay_cache_entries"), 0.0);
    EXPECT_EQ(cache->stats().entries, 0u);
    // A refusal 61 s ago is no longer "recent".
    report = ctx.health_impl.run("replay:fill");
    EXPECT_EQ(report->state, sdk::HealthState::pass) << report->output;
    EXPECT_EQ(cache->check_now("a", "one-more", now(), window), ReplayVerdict::fresh);
}

TEST_F(MemoryReplayCacheTest, RecentRefusalWarnsEvenBelowTheFillThreshold) {
    auto cache = make(10);
    for (int i = 0; i < 10; ++i) {
        cache->check_now("a", "n" + std::to_string(i), now(), 1000);
    }
    EXPECT_EQ(cache->check_now("a", "x", now(), 1000), ReplayVerdict::full);
    ctx.advance(2s);  // entries expired and swept; the refusal is 2 s old
    EXPECT_EQ(cache->stats().entries, 0u);
    auto report = ctx.health_impl.run("replay:fill");
    EXPECT_EQ(report->state, sdk::HealthState::warn);
    EXPECT_NE(report->output.find("full"), std::string::npos);
}

TEST_F(MemoryReplayCacheTest, StopCancelsTheSweepTimer) {
    auto cache = make(10);
    EXPECT_EQ(ctx.scheduler_impl.pending_timers(), 1u);
    cache->stop();
    EXPECT_EQ(ctx.scheduler_impl.pending_timers(), 0u);
    cache.reset();
    ctx.advance(5s);  // nothing left to run, nothing dangling
    EXPECT_EQ(ctx.health_impl.run("replay:fill")->output, "stopped");
}

}  // namespace
}  // namespace agenthost::plugins::replay_memory
