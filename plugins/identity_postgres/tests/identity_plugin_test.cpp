// identity_postgres through its factory with a fake context (real blocking threads)
// against a real PostgreSQL 15: the services it registers, async calls, migrations
// at start and through SchemaMigrations, the health check, fail-closed start and
// the stop() contract.

#include <gtest/gtest.h>

#include <agenthost/capabilities/migrations.hpp>

#include "plugins/identity_postgres/identity_plugin.hpp"
#include "plugins/identity_postgres/tests/identity_test_util.hpp"
#include "tests/support/services.hpp"

namespace agenthost::identity_postgres {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::OpenOutcome;
using test::await;
using test::config_with_url;
using test::hello;

class IdentityPluginTest : public ::testing::Test {
protected:
    sdk::Status start(testing::FakeContext& ctx, std::unique_ptr<sdk::Plugin>& plugin,
                      const sdk::json::object& config) {
        auto made = create(ctx, config);
        if (!made) {
            return made.status();
        }
        plugin = std::move(made).value();
        return plugin->start();
    }
    void TearDown() override {
        if (plugin_) {
            plugin_->stop();
        }
    }

    std::string url_ = testsvc::fresh_postgres_database();
    testing::FakeContext ctx_{test::threaded_options()};
    std::unique_ptr<sdk::Plugin> plugin_;
};

TEST_F(IdentityPluginTest, StartsMigratesAndServes) {
    auto st = start(ctx_, plugin_, config_with_url(url_));
    ASSERT_TRUE(st) << st.message();
    auto* store = ctx_.services().find<sdk::IdentityStore>();
    ASSERT_NE(store, nullptr);
    ASSERT_NE(ctx_.services().find<sdk::SchemaMigrations>(), nullptr);

    auto opened = await<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto done) { store->open_session(hello("gw-01", "s1"), 30s, done); });
    ASSERT_TRUE(opened.has_value());
    ASSERT_TRUE(*opened) << opened->status().message();
    EXPECT_EQ((*opened)->outcome, OpenOutcome::opened);

    auto dup = await<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto done) { store->open_session(hello("gw-01", "s2", "other"), 30s, done); });
    ASSERT_TRUE(dup && *dup);
    EXPECT_EQ((*dup)->outcome, OpenOutcome::duplicate);

    auto agent =
        await<sdk::Result<sdk::AgentRecord>>([&](auto done) { store->get_agent("gw-01", done); });
    ASSERT_TRUE(agent && *agent);
    EXPECT_TRUE((*agent)->online);
    EXPECT_EQ((*agent)->session_id, "s1");

    auto renewed =
        await<sdk::Status>([&](auto done) { store->renew_session("gw-01", "s1", 30s, done); });
    ASSERT_TRUE(renewed && *renewed);
    auto released = await<sdk::Result<std::optional<std::string>>>(
        [&](auto done) { store->release("gw-01", done); });
    ASSERT_TRUE(released && *released);
    EXPECT_EQ(released->value(), std::optional<std::string>("s1"));
    auto revoked = await<sdk::Status>([&](auto done) { store->revoke("gw-01", done); });
    ASSERT_TRUE(revoked && *revoked);
    auto closed = await<sdk::Status>([&](auto done) { store->close_session("gw-01", "s1", done); });
    ASSERT_TRUE(closed && *closed);
    auto list = await<sdk::Result<std::vector<sdk::AgentRecord>>>(
        [&](auto done) { store->list_agents(done); });
    ASSERT_TRUE(list && *list);
    ASSERT_EQ((*list)->size(), 1u);
    EXPECT_TRUE((**list)[0].revoked);

    const auto& metrics = ctx_.metrics_impl;
    EXPECT_EQ(metrics.counter_value("identity_sessions_total", {{"outcome", "opened"}}), 1u);
    EXPECT_EQ(metrics.counter_value("identity_sessions_total", {{"outcome", "duplicate"}}), 1u);
}

TEST_F(IdentityPluginTest, MigrationsReportedOnceAcrossInstances) {
    ASSERT_TRUE(start(ctx_, plugin_, config_with_url(url_)));
    auto* m = ctx_.services().find<sdk::SchemaMigrations>();
    auto report = m->migrate();
    ASSERT_TRUE(report) << report.status().message();
    EXPECT_EQ(report->component, "identity_postgres");
    EXPECT_EQ(report->applied.size(), embedded_migrations().size());  // at start
    EXPECT_EQ(report->current_version, embedded_migrations().back().version);
    EXPECT_TRUE(ctx_.logger_impl.contains("schema migration applied"));

    // A second host on the same database finds the schema current.
    testing::FakeContext other(test::threaded_options());
    std::unique_ptr<sdk::Plugin> second;
    ASSERT_TRUE(start(other, second, config_with_url(url_)));
    auto again = other.services().find<sdk::SchemaMigrations>()->migrate();
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->applied.empty());
    EXPECT_EQ(again->current_version, report->current_version);
    second->stop();
}

TEST_F(IdentityPluginTest, HealthCheckReportsLatencyAndReadiness) {
    ASSERT_TRUE(start(ctx_, plugin_, config_with_url(url_)));
    auto report = ctx_.health_impl.run("identity_postgres:postgres");
    ASSERT_TRUE(report.has_value());
    EXPECT_NE(report->state, sdk::HealthState::fail) << report->output;
    ASSERT_TRUE(report->observed_value.has_value());
    EXPECT_GT(*report->observed_value, 0.0);
    EXPECT_EQ(report->observed_unit, "ms");
    EXPECT_TRUE(ctx_.health_impl.ready());
}

TEST_F(IdentityPluginTest, UnreachableDatabaseFailsStartWithoutThePassword) {
    auto cfg = config_with_url("postgresql://agenthost:hunter2@127.0.0.1:1/agenthost");
    cfg["start_timeout_ms"] = 20000;
    auto st = start(ctx_, plugin_, cfg);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.code(), Errc::unavailable) << st.message();
    EXPECT_EQ(st.message().find("hunter2"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("***"), std::string::npos) << st.message();
    EXPECT_EQ(ctx_.services().find<sdk::IdentityStore>(), nullptr);
    EXPECT_FALSE(ctx_.logger_impl.contains("hunter2"));
}

TEST_F(IdentityPluginTest, AfterStopCallsAnswerUnavailable) {
    ASSERT_TRUE(start(ctx_, plugin_, config_with_url(url_)));
    auto* store = ctx_.services().find<sdk::IdentityStore>();
    plugin_->stop();
    std::optional<sdk::Status> got;
    store->revoke("gw-01", [&](sdk::Status st) { got = st; });  // answered inline
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->code(), Errc::unavailable);
}

}  // namespace
}  // namespace agenthost::identity_postgres
