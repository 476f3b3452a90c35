// queue_redis against a private Redis the test stops, restarts and kills: enqueue
// answers Errc::unavailable (API 503) and readiness fails while Redis is down, the
// attached session is kept and served again once Redis is back (no restart), and
// every enqueue that was acknowledged survives a kill -9 (AOF, appendfsync always).

#include <signal.h>

#include <fstream>

#include <gtest/gtest.h>

#include "plugins/queue_redis/queue_plugin.hpp"
#include "plugins/queue_redis/tests/redis_queue_fixture.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

class QueueFaultTest : public ::testing::Test {
protected:
    testsvc::RedisServer server;
    testing::LiveContext ctx{"host-a", "queue_redis"};
    QueueConfig cfg = [] {
        QueueConfig c;
        c.sweep_interval_ms = 50;
        c.rescan_interval_s = 1;
        return c;
    }();
    std::deque<Session> sessions;  // outlive the plugin (TearDown stops it first)
    std::unique_ptr<QueueRedisPlugin> plugin;
    sdk::CommandQueue* q = nullptr;

    Session& session() { return sessions.emplace_back(); }

    void SetUp() override {
        plugin = std::make_unique<QueueRedisPlugin>(ctx, cfg, *redis::parse_url(server.url()));
        ASSERT_TRUE(plugin->start().ok());
        q = ctx.services().find<sdk::CommandQueue>();
        ASSERT_NE(q, nullptr);
        ASSERT_TRUE(wait_until([&] { return ctx.health_impl.ready(); }));
    }
    void TearDown() override { plugin->stop(); }

    Result<EnqueueOutcome> enqueue(const std::string& agent) {
        sdk::NewCommand c{agent, "builtin.echo", {}, 3600, "", ""};
        return await<Result<EnqueueOutcome>>([&](auto cb) { q->enqueue(c, cb); });
    }
    Result<CommandRecord> get(const std::string& id) {
        return await<Result<CommandRecord>>([&](auto cb) { q->get(id, cb); });
    }
};

TEST_F(QueueFaultTest, RedisDownIsUnavailableAndRecoversWithoutRestart) {
    Session& s = session();
    q->attach("a", "s1", s.fn());
    auto first = enqueue("a");
    ASSERT_TRUE(first.ok());
    ASSERT_TRUE(s.wait_count(1));

    server.stop();
    ASSERT_TRUE(wait_until([&] { return !ctx.health_impl.ready(); }));
    auto h = ctx.health_impl.run("queue_redis:latency");
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->state, sdk::HealthState::fail);
    EXPECT_FALSE(h->output.empty());
    auto down = enqueue("a");
    EXPECT_EQ(down.status().code(), Errc::unavailable) << "the API answers 503";
    EXPECT_EQ(get(first->command.command_id).status().code(), Errc::unavailable);
    auto ack = await<sdk::Status>([&](auto cb) { q->acked("a", first->command.command_id, cb); });
    EXPECT_EQ(ack.code(), Errc::unavailable);

    server.start();
    ASSERT_TRUE(wait_until([&] { return ctx.health_impl.ready(); }, 20s));
    // The session attached before the outage is served again: nothing re-attached it.
    auto after = enqueue("a");
    ASSERT_TRUE(after.ok()) << after.status().message();
    ASSERT_TRUE(wait_until([&] {
        for (const auto& id : s.ids()) {
            if (id == after->command.command_id) {
                return true;
            }
        }
        return false;
    }));
    auto rec = get(first->command.command_id);
    ASSERT_TRUE(rec.ok()) << "acknowledged before the outage, still there after";
    EXPECT_EQ(rec->state, CommandState::dispatched);
    EXPECT_GE(ctx.metrics_impl.counter_value("queue_unavailable_total").value_or(0), 1u);
}

TEST_F(QueueFaultTest, NothingAcknowledgedIsLostWhenRedisIsKilled) {
    std::vector<std::string> accepted;
    for (int i = 0; i < 50; ++i) {
        auto r = enqueue("a");
        ASSERT_TRUE(r.ok()) << r.status().message();
        accepted.push_back(r->command.command_id);
    }
    // kill -9: no shutdown, no final AOF rewrite; appendfsync always already synced.
    std::ifstream pidfile(server.dir() + "/redis.pid");
    pid_t pid = 0;
    pidfile >> pid;
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] { return !ctx.health_impl.ready(); }));
    server.start();
    ASSERT_TRUE(wait_until([&] { return ctx.health_impl.ready(); }, 20s));

    Session& s = session();
    q->attach("a", "s1", s.fn());
    ASSERT_TRUE(s.wait_count(accepted.size()));
    EXPECT_EQ(s.ids(), accepted) << "every accepted command, once, in order";
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
