// replay_redis against the shared Redis 7 (a key prefix of its own): two "hosts"
// sharing one Redis see each other's nonces; entries expire with the window; a
// concurrent race for one nonce has exactly one winner; data loss makes old ts stale.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "plugins/replay_redis/tests/replay_fixture.hpp"
#include "tests/support/services.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

class ReplayRedis : public ::testing::Test {
protected:
    std::string url = testsvc::shared_redis_url();
    std::string prefix = testsvc::fresh_redis_prefix();

    std::string redis_cli(const std::string& args) {
        auto ep = redis::parse_url(url);
        return testsvc::detail::run("redis-cli -h " + ep->host + " -p " + std::to_string(ep->port) +
                                    " -n " + std::to_string(ep->db) + " " + args);
    }
};

TEST_F(ReplayRedis, ANonceSeenOnOneHostIsReplayedOnAnother) {
    ReplayHost a("host-a", url, prefix);
    ReplayHost b("host-b", url, prefix);
    const auto ts = a.now();
    EXPECT_EQ(*a.check("gw-01", "nonce-000000000000000001", ts), sdk::ReplayVerdict::fresh);
    EXPECT_EQ(*a.check("gw-01", "nonce-000000000000000001", ts), sdk::ReplayVerdict::replayed);
    EXPECT_EQ(*b.check("gw-01", "nonce-000000000000000001", ts), sdk::ReplayVerdict::replayed);
    // The nonce is per agent.
    EXPECT_EQ(*b.check("gw-02", "nonce-000000000000000001", ts), sdk::ReplayVerdict::fresh);
    EXPECT_EQ(a.ctx.metrics_impl.counter_value("replay_checks_total", {{"verdict", "replayed"}}),
              std::optional<std::uint64_t>(1));
    EXPECT_EQ(b.cache->stats().entries, 1u);
    auto ready = a.ctx.health_impl.run("redis:replay");
    ASSERT_TRUE(ready.has_value());
    EXPECT_EQ(ready->state, sdk::HealthState::pass);
    EXPECT_TRUE(a.ctx.health_impl.affects_readiness("redis:replay"));
}

TEST_F(ReplayRedis, EntryExpiresWithTheWindow) {
    ReplayHost a("host-a", url, prefix);
    const auto ts = a.now();
    ASSERT_EQ(*a.check("gw-01", "nonce-expiring-0000000001", ts, 60'000),
              sdk::ReplayVerdict::fresh);
    long long pttl = std::stoll(
        redis_cli("PTTL '" + nonce_key(prefix, "gw-01", "nonce-expiring-0000000001") + "'"));
    EXPECT_GT(pttl, 50'000);
    EXPECT_LE(pttl, 60'000);
    // A short window really expires (a condition with a deadline, not a sleep).
    ASSERT_EQ(*a.check("gw-01", "nonce-expiring-0000000002", ts, 200), sdk::ReplayVerdict::fresh);
    EXPECT_TRUE(testing::wait_until(
        [&] {
            return *a.check("gw-01", "nonce-expiring-0000000002", a.now(), 200) ==
                   sdk::ReplayVerdict::fresh;
        },
        10s));
}

TEST_F(ReplayRedis, ConcurrentChecksOfOneNonceHaveExactlyOneWinner) {
    ReplayHost a("host-a", url, prefix);
    ReplayHost b("host-b", url, prefix);
    const auto ts = a.now();
    constexpr int per_host = 50;
    std::atomic<int> fresh{0};
    std::atomic<int> replayed{0};
    std::atomic<int> answered{0};
    for (int i = 0; i < per_host; ++i) {
        for (ReplayHost* h : {&a, &b}) {
            h->cache->check("gw-race", "nonce-race-00000000000001", ts, 60'000,
                            [&](sdk::Result<sdk::ReplayVerdict> v) {
                                if (v.ok() && *v == sdk::ReplayVerdict::fresh) {
                                    ++fresh;
                                } else if (v.ok() && *v == sdk::ReplayVerdict::replayed) {
                                    ++replayed;
                                }
                                ++answered;
                            });
        }
    }
    ASSERT_TRUE(testing::wait_until([&] { return answered.load() == 2 * per_host; }, 20s));
    EXPECT_EQ(fresh.load(), 1);
    EXPECT_EQ(replayed.load(), 2 * per_host - 1);
}

TEST_F(ReplayRedis, AfterRedisLostItsDataOlderTimestampsAreStale) {
    ReplayHost a("host-a", url, prefix);
    const auto before = a.now();
    ASSERT_EQ(*a.check("gw-01", "nonce-before-loss-0000001", before), sdk::ReplayVerdict::fresh);
    // Data loss (e.g. Redis restarted without its AOF): every key of the prefix gone.
    redis_cli(
        "EVAL \"for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
        "redis.call('DEL', k) end return 0\" 0 '" +
        prefix + "*'");
    ASSERT_EQ(redis_cli("EXISTS '" + epoch_key(prefix) + "'"), "0\n");
    // A new epoch starts at the first check after the loss: a frame from before it
    // cannot be vouched for, so even its (forgotten) nonce is refused.
    ASSERT_EQ(*a.check("gw-01", "nonce-after-loss-00000001", a.now() + 1000),
              sdk::ReplayVerdict::fresh);
    EXPECT_EQ(*a.check("gw-01", "nonce-before-loss-0000001", before), sdk::ReplayVerdict::stale);
    EXPECT_EQ(a.ctx.metrics_impl.counter_value("replay_checks_total", {{"verdict", "stale"}}),
              std::optional<std::uint64_t>(1));
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
