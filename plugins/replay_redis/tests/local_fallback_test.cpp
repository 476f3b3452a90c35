// The degraded mode's rules without a server: which Redis answers fall back, the
// shadow (mirror) and the local answers, the epoch, the write-back journal.

#include <gtest/gtest.h>

#include "plugins/replay_redis/local_fallback.hpp"
#include "plugins/replay_redis/replay_config.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

using V = sdk::ReplayVerdict;
constexpr std::int64_t start = 1'000'000;
constexpr std::int64_t window = 60'000;

LocalFallback make(std::uint64_t capacity = 100) {
    return LocalFallback(LocalFallback::Options{capacity, 4, start});
}

TEST(ReplayRedisRoute, OnlyUnavailabilityFallsBackAndOnlyInLocalMode) {
    const sdk::Result<V> down = sdk::error(sdk::Errc::unavailable, "redis unavailable: EOF");
    const sdk::Result<V> slow = sdk::error(sdk::Errc::timeout, "no reply");
    const sdk::Result<V> weird = sdk::error(sdk::Errc::internal, "unexpected reply");
    EXPECT_EQ(route_of(Fallback::local, down), Route::local);
    EXPECT_EQ(route_of(Fallback::local, slow), Route::local);
    EXPECT_EQ(route_of(Fallback::refuse, down), Route::fail) << "refuse: fail closed";
    EXPECT_EQ(route_of(Fallback::refuse, slow), Route::fail);
    EXPECT_EQ(route_of(Fallback::local, weird), Route::fail) << "a bug is not an outage";
    // Redis out of memory is a verdict (`full`), never a reason to go local.
    EXPECT_EQ(route_of(Fallback::local, sdk::Result<V>(V::full)), Route::redis);
    EXPECT_EQ(route_of(Fallback::local, sdk::Result<V>(V::fresh)), Route::redis);
}

TEST(ReplayRedisLocal, AnswersLikeReplayMemoryAndJournalsFreshNonces) {
    auto f = make();
    const std::int64_t now = start + 5000;
    EXPECT_EQ(f.check("gw-01", "n1", now, now + window, now), V::fresh);
    EXPECT_EQ(f.check("gw-01", "n1", now, now + window, now + 1), V::replayed);
    EXPECT_EQ(f.check("gw-02", "n1", now, now + window, now + 1), V::fresh) << "per agent";
    // Older than the cache's start: it cannot vouch for it (replay_memory's rule).
    EXPECT_EQ(f.check("gw-01", "n-old", start - 1, now + window, now), V::stale);
    EXPECT_EQ(f.pending(), 2u);
    EXPECT_EQ(f.size(), 2u);
}

TEST(ReplayRedisLocal, NoncesRedisAcceptedAreKnownDuringTheOutage) {
    auto f = make();
    const std::int64_t now = start + 5000;
    // Redis up: the host accepts n1 and shadows it.
    EXPECT_EQ(f.mirror("gw-01", "n1", now, now + window, now), V::fresh);
    EXPECT_EQ(f.pending(), 0u) << "Redis has it: nothing to write back";
    // Redis down: a replay of n1 to this host is still caught.
    EXPECT_EQ(f.check("gw-01", "n1", now, now + window, now + 10), V::replayed);
}

TEST(ReplayRedisLocal, ANonceAcceptedLocallyIsAReplayEvenIfRedisSaysFresh) {
    auto f = make();
    const std::int64_t now = start + 5000;
    EXPECT_EQ(f.check("gw-01", "n1", now, now + window, now), V::fresh);
    // Redis is back but n1 is not written back yet: its "fresh" is overruled.
    EXPECT_EQ(f.mirror("gw-01", "n1", now, now + window, now + 100), V::replayed);
}

TEST(ReplayRedisLocal, FullRefusesAndNeverEvictsALiveEntry) {
    auto f = make(2);
    const std::int64_t now = start + 5000;
    EXPECT_EQ(f.check("gw-01", "a", now, now + window, now), V::fresh);
    EXPECT_EQ(f.check("gw-01", "b", now, now + window, now), V::fresh);
    EXPECT_EQ(f.check("gw-01", "c", now, now + window, now), V::full);
    EXPECT_EQ(f.check("gw-01", "a", now, now + window, now), V::replayed);
    // Once the entries expire there is room again.
    const std::int64_t later = now + window + 1;
    EXPECT_EQ(f.check("gw-01", "c", later, later + window, later), V::fresh);
}

TEST(ReplayRedisLocal, ANonceTheFullShadowDroppedMovesTheEpochPastIt) {
    auto f = make(1);
    const std::int64_t now = start + 5000;
    EXPECT_EQ(f.mirror("gw-01", "a", now, now + window, now), V::fresh);
    // Redis accepted b but the shadow is full: Redis' verdict stands...
    EXPECT_EQ(f.mirror("gw-01", "b", now + 7, now + window, now), V::fresh);
    EXPECT_EQ(f.dropped(), 1u);
    EXPECT_EQ(f.epoch_ms(), now + 8);
    // ...but during an outage the shadow never calls b (or anything as old) fresh.
    EXPECT_EQ(f.check("gw-01", "b", now + 7, now + window, now + 10), V::stale);
    EXPECT_EQ(f.check("gw-01", "x", now + 3, now + window, now + 10), V::stale);
    // The epoch never moves back.
    EXPECT_EQ(f.mirror("gw-01", "c", now, now + window, now), V::fresh);
    EXPECT_EQ(f.epoch_ms(), now + 8);
}

TEST(ReplayRedisLocal, JournalHandsOutLiveBatchesInOrderAndTakesBackFailures) {
    auto f = make();
    const std::int64_t now = start + 5000;
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(f.check("gw-01", "n" + std::to_string(i), now, now + 1000 * (i + 1), now),
                  V::fresh);
    }
    // n0 expires at now + 1000: never written back (Redis would drop it at once).
    auto first = f.take(now + 1000, 2);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].nonce, "n1");
    EXPECT_EQ(first[1].nonce, "n2");
    EXPECT_EQ(first[1].expiry_ms, now + 3000);
    EXPECT_EQ(f.pending(), 2u);
    f.restore(std::move(first));  // the pipeline failed
    auto all = f.take(now + 1000, 100);
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[0].nonce, "n1");
    EXPECT_EQ(all[3].nonce, "n4");
    EXPECT_EQ(f.pending(), 0u);
    // The local entries stay (the shadow), only the journal empties.
    EXPECT_EQ(f.check("gw-01", "n4", now, now + 5000, now + 1000), V::replayed);
}

TEST(ReplayRedisLocal, JournalStaysBoundedOverALongOutage) {
    auto f = make(10);
    std::int64_t now = start + 5000;
    for (int i = 0; i < 1000; ++i, now += 50) {
        // Each entry lives 200 ms: at most 4-5 live at a time.
        ASSERT_EQ(f.check("gw-01", "n" + std::to_string(i), now, now + 200, now), V::fresh);
        ASSERT_LE(f.pending(), 10u);
    }
}

TEST(ReplayRedisLocal, DegradedTransitionsAreReportedOnce) {
    auto f = make();
    EXPECT_FALSE(f.degraded());
    EXPECT_TRUE(f.set_degraded(true));
    EXPECT_FALSE(f.set_degraded(true)) << "already degraded: no second log line";
    EXPECT_TRUE(f.degraded());
    EXPECT_TRUE(f.set_degraded(false));
    EXPECT_FALSE(f.set_degraded(false));
}

TEST(ReplayRedisConfig, FallbackDefaultsToRefuse) {
    EXPECT_EQ(parse_config(sdk::json::object{{"url", "redis://h:1"}}).fallback, Fallback::refuse);
    const ReplayConfig c = parse_config(
        sdk::json::object{{"url", "redis://h:1"}, {"fallback", "local"}, {"local_capacity", 5000}});
    EXPECT_EQ(c.fallback, Fallback::local);
    EXPECT_EQ(c.local_capacity, 5000u);
    bool found = false;
    for (const auto& field : config_schema()) {
        if (field.key == "fallback") {
            found = true;
            EXPECT_EQ(field.one_of, (std::vector<std::string>{"refuse", "local"}));
            EXPECT_EQ(field.default_value, sdk::json::value("refuse"));
        }
    }
    EXPECT_TRUE(found);
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
