// replay_redis with its Redis stopped and restarted (a private instance): checks fail
// closed (an error, never "fresh"), readiness fails while Redis is down, and both
// recover without a restart once Redis is back; what was recorded survives (AOF).

#include <gtest/gtest.h>

#include "plugins/replay_redis/tests/replay_fixture.hpp"
#include "tests/support/services.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

TEST(ReplayRedisFault, RedisDownFailsClosedAndRecovers) {
    testsvc::RedisServer server;
    ReplayHost a("host-a", server.url(), "fault:", /*timeout_ms=*/500);
    const auto ts = a.now();
    ASSERT_EQ(*a.check("gw-01", "nonce-fault-000000000001", ts), sdk::ReplayVerdict::fresh);

    server.stop();
    // Down: a check is an error (the kernel refuses the frame with 1013), never fresh.
    auto down = a.check("gw-01", "nonce-fault-000000000002", a.now());
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.status().code(), sdk::Errc::unavailable);
    EXPECT_TRUE(testing::wait_until([&] { return !a.ctx.health_impl.ready(); }, 10s))
        << "readiness must fail while every frame would be refused";
    EXPECT_GE(a.ctx.metrics_impl.counter_value("replay_check_failures_total", {}).value_or(0), 1u);

    server.start();
    ASSERT_TRUE(testing::wait_until([&] { return a.ctx.health_impl.ready(); }, 20s));
    // Recovered without a restart; the nonce recorded before the outage is remembered
    // (AOF, appendfsync always) and the one refused during it was never recorded.
    EXPECT_TRUE(testing::wait_until(
        [&] {
            auto v = a.check("gw-01", "nonce-fault-000000000002", a.now());
            return v.ok() && *v == sdk::ReplayVerdict::fresh;
        },
        10s));
    EXPECT_EQ(*a.check("gw-01", "nonce-fault-000000000001", ts), sdk::ReplayVerdict::replayed);
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
