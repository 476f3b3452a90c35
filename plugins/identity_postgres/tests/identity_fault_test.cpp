// Fault: the plugin's PostgreSQL (a private server) stops under it and comes back.
// While down every identity call answers unavailable (no crash, no hang beyond the
// connect timeout) and readiness is false; after the restart the pool reconnects by
// itself, calls succeed and readiness returns — with the data kept.

#include <gtest/gtest.h>

#include "plugins/identity_postgres/identity_plugin.hpp"
#include "plugins/identity_postgres/tests/identity_test_util.hpp"
#include "tests/support/services.hpp"

namespace agenthost::identity_postgres {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::OpenOutcome;
using test::await;
using test::hello;

TEST(IdentityPostgresFault, DownIsUnavailableAndNotReadyThenRecovers) {
    testsvc::PostgresServer server;
    testing::FakeContext ctx(test::threaded_options());
    auto cfg = test::config_with_url(server.url());
    cfg["connect_timeout_ms"] = 2000;
    auto made = create(ctx, cfg);
    ASSERT_TRUE(made) << made.status().message();
    auto plugin = std::move(made).value();
    auto st = plugin->start();
    ASSERT_TRUE(st) << st.message();
    auto* store = ctx.services().find<sdk::IdentityStore>();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(ctx.health_impl.ready());

    auto opened = await<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto done) { store->open_session(hello("gw-01", "s1"), 60s, done); });
    ASSERT_TRUE(opened && *opened) << (opened ? opened->status().message() : "no answer");
    ASSERT_EQ((*opened)->outcome, OpenOutcome::opened);

    server.stop();

    // Every call answers, and answers unavailable.
    auto renew =
        await<sdk::Status>([&](auto done) { store->renew_session("gw-01", "s1", 60s, done); });
    ASSERT_TRUE(renew.has_value()) << "renew never completed";
    EXPECT_EQ(renew->code(), Errc::unavailable) << renew->message();
    auto hello2 = await<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto done) { store->open_session(hello("gw-02", "s2"), 60s, done); });
    ASSERT_TRUE(hello2.has_value());
    EXPECT_EQ(hello2->status().code(), Errc::unavailable);
    auto list = await<sdk::Result<std::vector<sdk::AgentRecord>>>(
        [&](auto done) { store->list_agents(done); });
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->status().code(), Errc::unavailable);

    // Readiness follows at once (the failed calls marked the pool unhealthy) and stays
    // false through the periodic probes.
    EXPECT_FALSE(ctx.health_impl.ready());
    ctx.advance(150ms);
    EXPECT_FALSE(ctx.health_impl.ready());
    auto report = ctx.health_impl.run("identity_postgres:postgres");
    ASSERT_TRUE(report.has_value());
    EXPECT_EQ(report->state, sdk::HealthState::fail);

    server.start();

    // The probe reconnects by itself; no call had to succeed first.
    ASSERT_TRUE(testing::wait_until(
        [&] {
            ctx.advance(100ms);
            return ctx.health_impl.ready();
        },
        30s))
        << ctx.health_impl.run("identity_postgres:postgres")->output;

    auto agent =
        await<sdk::Result<sdk::AgentRecord>>([&](auto done) { store->get_agent("gw-01", done); });
    ASSERT_TRUE(agent && *agent) << (agent ? agent->status().message() : "no answer");
    EXPECT_TRUE((*agent)->online);  // the data and the lease survived the restart
    auto renewed =
        await<sdk::Status>([&](auto done) { store->renew_session("gw-01", "s1", 60s, done); });
    ASSERT_TRUE(renewed.has_value());
    EXPECT_TRUE(*renewed) << renewed->message();
    EXPECT_GE(ctx.metrics_impl.counter_value("identity_postgres_errors_total").value_or(0), 3u);
    plugin->stop();
}

}  // namespace
}  // namespace agenthost::identity_postgres
