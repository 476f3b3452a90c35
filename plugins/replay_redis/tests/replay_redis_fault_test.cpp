// replay_redis with its Redis stopped and restarted (a private instance). `refuse`:
// checks fail closed (an error, never "fresh"), readiness fails while Redis is down,
// and both recover without a restart once Redis is back; what was recorded survives
// (AOF). `local`: checks are answered by the host's local cache during the outage
// (the host's own earlier nonces included), and once Redis is back the nonces
// accepted locally are written back, so another host refuses them.

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

TEST(ReplayRedisFault, LocalFallbackAnswersDuringTheOutageAndWritesBack) {
    testsvc::RedisServer server;
    ReplayHost a("host-a", server.url(), "fault:", /*timeout_ms=*/500, Fallback::local);
    ReplayHost b("host-b", server.url(), "fault:", /*timeout_ms=*/500, Fallback::local);
    ReplayHost strict("host-c", server.url(), "fault:", /*timeout_ms=*/500, Fallback::refuse);
    const auto ts0 = a.now();
    ASSERT_EQ(*a.check("gw-01", "nonce-local-00000000000001", ts0), sdk::ReplayVerdict::fresh);
    auto report = a.ctx.health_impl.run("redis:replay");
    ASSERT_TRUE(report.has_value());
    EXPECT_EQ(report->state, sdk::HealthState::pass);
    EXPECT_EQ(a.ctx.metrics_impl.gauge_value("replay_degraded"), std::optional<double>(0.0));

    server.stop();
    // Degraded: answered locally — fresh, then replayed; the nonce this host accepted
    // through Redis before the outage is still known here.
    const auto ts1 = a.now();
    auto v = a.check("gw-01", "nonce-local-00000000000002", ts1);
    ASSERT_TRUE(v.ok()) << v.status().message();
    EXPECT_EQ(*v, sdk::ReplayVerdict::fresh);
    EXPECT_EQ(*a.check("gw-01", "nonce-local-00000000000002", ts1), sdk::ReplayVerdict::replayed);
    EXPECT_EQ(*a.check("gw-01", "nonce-local-00000000000001", ts0), sdk::ReplayVerdict::replayed);
    // Older than what the local cache can vouch for (before this host started): stale.
    EXPECT_EQ(*a.check("gw-01", "nonce-local-00000000000003", ts0 - 3'600'000),
              sdk::ReplayVerdict::stale);
    EXPECT_GE(a.counter("replay_degraded_checks_total"), 4u);
    EXPECT_EQ(a.counter("replay_check_failures_total"), 0u);
    EXPECT_EQ(a.ctx.metrics_impl.gauge_value("replay_degraded"), std::optional<double>(1.0));
    EXPECT_EQ(a.ctx.metrics_impl.gauge_value("replay_write_back_pending"),
              std::optional<double>(1.0));
    std::size_t transitions = 0;
    for (const auto& line : a.ctx.logger_impl.lines()) {
        transitions += line.message.rfind("redis unreachable: replay checks answered", 0) == 0;
    }
    EXPECT_EQ(transitions, 1u) << "one warning per transition, not per check";
    ASSERT_TRUE(testing::wait_until(
        [&] {
            auto r = a.ctx.health_impl.run("redis:replay");
            return r && r->state == sdk::HealthState::warn;
        },
        10s));
    report = a.ctx.health_impl.run("redis:replay");
    EXPECT_NE(report->output.find("local nonce cache"), std::string::npos) << report->output;
    // `refuse` on the same outage: fail closed.
    auto refused = strict.check("gw-01", "nonce-local-00000000000004", strict.now());
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), sdk::Errc::unavailable);
    EXPECT_TRUE(testing::wait_until([&] { return !strict.ctx.health_impl.ready(); }, 10s));

    server.start();
    // Back: the nonce accepted locally during the outage is written back (on the
    // reconnect), so another host refuses it; a's own degraded state clears.
    ASSERT_TRUE(testing::wait_until(
        [&] {
            return a.cache->healthy() && a.cache->local_fallback()->pending() == 0 &&
                   a.counter("replay_written_back_total") >= 1;
        },
        20s))
        << "pending " << a.cache->local_fallback()->pending();
    ASSERT_TRUE(testing::wait_until([&] { return b.cache->healthy(); }, 20s));
    EXPECT_EQ(*b.check("gw-01", "nonce-local-00000000000002", ts1), sdk::ReplayVerdict::replayed)
        << "a frame accepted on host a during the outage is refused on host b";
    EXPECT_EQ(*b.check("gw-01", "nonce-local-00000000000005", b.now()), sdk::ReplayVerdict::fresh);
    EXPECT_EQ(*a.check("gw-01", "nonce-local-00000000000006", a.now()), sdk::ReplayVerdict::fresh);
    EXPECT_EQ(a.ctx.metrics_impl.gauge_value("replay_degraded"), std::optional<double>(0.0));
    EXPECT_TRUE(testing::wait_until(
        [&] {
            auto r = a.ctx.health_impl.run("redis:replay");
            return r && r->state == sdk::HealthState::pass;
        },
        10s));
    EXPECT_EQ(a.counter("replay_check_failures_total"), 0u);
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
