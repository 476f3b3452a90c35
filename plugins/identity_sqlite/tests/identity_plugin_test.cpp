// identity_sqlite through its factory with a fake context: the service it registers,
// asynchronous calls on the pool, lease expiry by the (fake) clock, the health
// check and the stop() contract.

#include <sys/stat.h>

#include <atomic>
#include <optional>

#include <gtest/gtest.h>

#include "plugins/identity_sqlite/identity_plugin.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::identity_sqlite {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::OpenOutcome;
using testing::FakeBlockingPool;
using testing::FakeContext;
using testing::FakeContextOptions;

FakeContextOptions options(FakeBlockingPool::Mode mode = FakeBlockingPool::Mode::inline_run) {
    FakeContextOptions o;
    o.plugin_name = "identity_sqlite";
    o.blocking_mode = mode;
    return o;
}

sdk::AgentHello hello(std::string agent, std::string session) {
    sdk::AgentHello h;
    h.agent_id = std::move(agent);
    h.session_id = std::move(session);
    h.host_id = "test-host";
    h.cert_fingerprint = "ff00";
    h.capabilities = {};
    return h;
}

// Calls an async method and returns what its completion received (inline pool).
template <typename T, typename Call>
std::optional<T> call(Call&& c) {
    std::optional<T> out;
    c([&out](T v) { out.emplace(std::move(v)); });
    return out;
}

class IdentityPluginTest : public ::testing::Test {
protected:
    void start(const sdk::json::object& config = {}) {
        auto made = create(ctx_, config);
        ASSERT_TRUE(made) << made.status().message();
        plugin_ = std::move(made).value();
        auto st = plugin_->start();
        ASSERT_TRUE(st) << st.message();
        store_ = ctx_.services().find<sdk::IdentityStore>();
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        if (plugin_) {
            plugin_->stop();
        }
    }

    FakeContext ctx_{options()};
    std::unique_ptr<sdk::Plugin> plugin_;
    sdk::IdentityStore* store_ = nullptr;
};

TEST_F(IdentityPluginTest, DefaultPathIsInStateDirAndPrivate) {
    start();
    const std::string path = ctx_.state_dir() + "/identity_sqlite.db";
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(IdentityPluginTest, LeaseExpiresWithTheClock) {
    start();
    auto first = call<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto cb) { store_->open_session(hello("gw-01", "s1"), 30s, cb); });
    ASSERT_TRUE(first && *first);
    EXPECT_EQ((*first)->outcome, OpenOutcome::opened);
    EXPECT_EQ(ctx_.metrics_impl.counter_value("identity_sessions_total", {{"outcome", "opened"}}),
              1u);

    auto dup = call<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto cb) { store_->open_session(hello("gw-01", "s2"), 30s, cb); });
    ASSERT_TRUE(dup && *dup);
    EXPECT_EQ((*dup)->outcome, OpenOutcome::duplicate);
    EXPECT_EQ((*dup)->existing_session_id, "s1");

    ctx_.clock_impl.advance(30s);
    auto after = call<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto cb) { store_->open_session(hello("gw-01", "s3"), 30s, cb); });
    ASSERT_TRUE(after && *after);
    EXPECT_EQ((*after)->outcome, OpenOutcome::opened);

    auto agent =
        call<sdk::Result<sdk::AgentRecord>>([&](auto cb) { store_->get_agent("gw-01", cb); });
    ASSERT_TRUE(agent && *agent);
    EXPECT_TRUE((*agent)->online);
    EXPECT_EQ((*agent)->session_id, "s3");
}

TEST_F(IdentityPluginTest, RevokeReleaseAndErrorsThroughTheInterface) {
    start();
    EXPECT_EQ(call<sdk::Status>([&](auto cb) { store_->revoke("ghost", cb); })->code(),
              Errc::not_found);
    ASSERT_TRUE(call<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto cb) { store_->open_session(hello("gw-01", "s1"), 30s, cb); }));
    auto released = call<sdk::Result<std::optional<std::string>>>(
        [&](auto cb) { store_->release("gw-01", cb); });
    ASSERT_TRUE(released && *released);
    EXPECT_EQ(released->value(), std::optional<std::string>("s1"));
    EXPECT_EQ(
        call<sdk::Status>([&](auto cb) { store_->renew_session("gw-01", "s1", 30s, cb); })->code(),
        Errc::not_found);
    EXPECT_TRUE(*call<sdk::Status>([&](auto cb) { store_->revoke("gw-01", cb); }));
    auto refused = call<sdk::Result<sdk::OpenSessionResult>>(
        [&](auto cb) { store_->open_session(hello("gw-01", "s2"), 30s, cb); });
    EXPECT_EQ((*refused)->outcome, OpenOutcome::revoked);
    auto list =
        call<sdk::Result<std::vector<sdk::AgentRecord>>>([&](auto cb) { store_->list_agents(cb); });
    ASSERT_TRUE(list && *list);
    ASSERT_EQ((*list)->size(), 1u);
    EXPECT_TRUE((*list)->front().revoked);
}

TEST_F(IdentityPluginTest, HealthCheckReportsMeasuredLatencyAndRefreshes) {
    sdk::json::object cfg;
    cfg["health_interval_ms"] = 1000;
    start(cfg);
    ASSERT_TRUE(ctx_.health_impl.has("identity_sqlite:latency"));
    EXPECT_TRUE(ctx_.health_impl.affects_readiness("identity_sqlite:latency"));
    auto r = ctx_.health_impl.run("identity_sqlite:latency");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state, sdk::HealthState::pass) << r->output;
    EXPECT_EQ(r->component_type, "datastore");
    EXPECT_EQ(r->observed_unit, "ms");
    ASSERT_TRUE(r->observed_value.has_value());
    EXPECT_GE(*r->observed_value, 0.0);

    // The timer keeps refreshing on the pool: each interval submits one probe.
    const auto before = ctx_.blocking_impl.submitted();
    ctx_.advance(3s);
    EXPECT_EQ(ctx_.blocking_impl.submitted(), before + 3);
    EXPECT_TRUE(ctx_.health_impl.ready());
}

TEST_F(IdentityPluginTest, BadPathFailsStart) {
    sdk::json::object cfg;
    cfg["path"] = "/nonexistent-dir-for-agenthost-test/x.db";
    auto made = create(ctx_, cfg);
    ASSERT_TRUE(made);
    auto st = made.value()->start();
    EXPECT_FALSE(st);
    EXPECT_EQ(st.code(), Errc::unavailable);
    made.value()->stop();
}

TEST(IdentityPluginStop, QueuedWorkIsDroppedAfterStop) {
    FakeContext ctx(options(FakeBlockingPool::Mode::threaded));
    auto made = create(ctx, {});
    ASSERT_TRUE(made);
    auto plugin = std::move(made).value();
    ASSERT_TRUE(plugin->start());
    auto* store = ctx.services().find<sdk::IdentityStore>();
    ASSERT_NE(store, nullptr);

    // Threaded pool: the completion arrives from a pool thread.
    std::atomic<bool> done{false};
    store->open_session(hello("gw-01", "s1"), 30s, [&](sdk::Result<sdk::OpenSessionResult> r) {
        EXPECT_TRUE(r);
        done = true;
    });
    ASSERT_TRUE(testing::wait_until([&] { return done.load(); }));

    plugin->stop();
    // After stop, a call is answered inline with unavailable and nothing reaches the pool.
    const auto submitted = ctx.blocking_impl.submitted();
    std::optional<sdk::Status> late;
    store->revoke("gw-01", [&](sdk::Status s) { late = s; });
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->code(), Errc::unavailable);
    EXPECT_EQ(ctx.blocking_impl.submitted(), submitted);
}

TEST(IdentityPluginStop, TaskQueuedBeforeStopNeverCompletes) {
    FakeContext ctx(options(FakeBlockingPool::Mode::inline_run));
    auto made = create(ctx, {});
    ASSERT_TRUE(made);
    auto plugin = std::move(made).value();
    ASSERT_TRUE(plugin->start());
    auto* store = ctx.services().find<sdk::IdentityStore>();
    ctx.blocking_impl.set_mode(FakeBlockingPool::Mode::manual);

    bool completed = false;
    store->list_agents([&](auto) { completed = true; });
    EXPECT_EQ(ctx.blocking_impl.pending(), 1u);
    plugin->stop();
    ctx.run_until_idle();  // the queued task runs now, finds the gate closed
    EXPECT_FALSE(completed);
}

}  // namespace
}  // namespace agenthost::identity_sqlite
