// queue_redis, session side, against a real Redis: delivery order, acks, results,
// redelivery with growing delays, dead-lettering (with nothing left pending),
// deadlines, detach/attach, and concurrent enqueues.

#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "plugins/queue_redis/tests/redis_queue_fixture.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

TEST_F(RedisQueueTest, AttachDeliversQueuedCommandsInOrder) {
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        ids.push_back(enqueue_id("a"));
    }
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    ASSERT_TRUE(s.wait_count(3));
    EXPECT_EQ(s.ids(), ids);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(s.at_index(i).state, CommandState::dispatched);
        EXPECT_EQ(s.at_index(i).attempts, 1);
    }
    ids.push_back(enqueue_id("a"));
    ASSERT_TRUE(s.wait_count(4)) << "while attached, new commands go straight out";
    EXPECT_EQ(s.ids(), ids);
    EXPECT_EQ(transitions(CommandState::dispatched), 4u);
    enqueue_id("b");
    ASSERT_TRUE(wait_until([&] { return transitions(CommandState::queued) == 5; }));
    EXPECT_EQ(s.count(), 4u) << "another agent's commands never reach this session";
}

TEST_F(RedisQueueTest, AckAndResultWalkTheStateMachine) {
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    const auto id = enqueue_id("a");
    ASSERT_TRUE(s.wait_count(1));
    ASSERT_EQ(state(id), CommandState::dispatched);

    EXPECT_EQ(ack("b", id).code(), Errc::not_found) << "another agent's command";
    EXPECT_EQ(ack("a", "unknown").code(), Errc::not_found);
    ASSERT_TRUE(ack("a", id).ok());
    EXPECT_EQ(state(id), CommandState::acked);
    ASSERT_TRUE(ack("a", id).ok()) << "a repeated ack is harmless";
    EXPECT_EQ(raw({"ZSCORE", key("due"), id}).type, redis::Reply::Type::nil)
        << "acked: no redelivery is due";

    EXPECT_EQ(complete("a", id, CommandState::queued).code(), Errc::invalid_argument);
    EXPECT_EQ(complete("a", id, CommandState::dead_lettered).code(), Errc::invalid_argument);
    EXPECT_EQ(complete("b", id, CommandState::failed).code(), Errc::not_found);
    ASSERT_TRUE(complete("a", id, CommandState::succeeded).ok());
    EXPECT_EQ(state(id), CommandState::succeeded);
    ASSERT_TRUE(complete("a", id, CommandState::failed).ok()) << "a resent result is accepted";
    EXPECT_EQ(state(id), CommandState::succeeded) << "... and ignored";
    ASSERT_TRUE(ack("a", id).ok());
    EXPECT_EQ(state(id), CommandState::succeeded);
    EXPECT_EQ(transitions(CommandState::succeeded), 1u);
    // XACK on the terminal result: nothing pending, the entry is gone.
    EXPECT_EQ(raw({"XPENDING", key("stream:a"), "g"}).at(0).integer, 0);
    EXPECT_EQ(raw({"XLEN", key("stream:a")}).integer, 0);
}

TEST_F(RedisQueueTest, EveryAgentResultStateIsTerminal) {
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    std::size_t n = 0;
    for (auto st : {CommandState::succeeded, CommandState::failed, CommandState::rejected,
                    CommandState::timed_out}) {
        const auto id = enqueue_id("a");
        ASSERT_TRUE(s.wait_count(++n));
        ASSERT_TRUE(complete("a", id, st).ok());  // a result may arrive without an ack
        EXPECT_EQ(state(id), st);
        EXPECT_EQ(transitions(st), 1u);
    }
    EXPECT_EQ(raw({"ZCARD", key("due")}).integer, 0) << "finished commands are never redelivered";
}

TEST_F(RedisQueueTest, UnackedCommandsAreRedeliveredWithGrowingDelaysThenDeadLettered) {
    cfg.ack_timeout_s = 1;
    cfg.max_backoff_s = 8;
    cfg.max_attempts = 3;
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    const auto id = enqueue_id("a", 86400);
    ASSERT_TRUE(wait_state(id, CommandState::dead_lettered, 20s));

    ASSERT_EQ(s.count(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(s.at_index(i).command_id, id);
        EXPECT_EQ(s.at_index(i).attempts, static_cast<std::int32_t>(i + 1));
    }
    // Delays 1 s then 2 s (ack_timeout * 2^(attempt-1)); the sweep may only add to them.
    const auto gap1 = s.at[1] - s.at[0];
    const auto gap2 = s.at[2] - s.at[1];
    EXPECT_GE(gap1, 950ms);
    EXPECT_GE(gap2, 1950ms);
    EXPECT_GT(gap2, gap1);

    auto rec = get(id);
    EXPECT_EQ(rec->attempts, 3);
    EXPECT_EQ(transitions(CommandState::dead_lettered), 1u);
    // Nothing pending or queued is left behind; the dead-letter stream holds it.
    EXPECT_EQ(raw({"XPENDING", key("stream:a"), "g"}).at(0).integer, 0);
    EXPECT_EQ(raw({"XLEN", key("stream:a")}).integer, 0);
    EXPECT_EQ(raw({"ZCARD", key("due")}).integer, 0);
    auto dlq = raw({"XRANGE", key("dead"), "-", "+"});
    ASSERT_EQ(dlq.size(), 1u);
    EXPECT_EQ(dlq.at(0).at(1).at(1).text(), id);

    auto events = ctx().audit_sink.events_with_action("command.dead_lettered");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].target, id);
    EXPECT_EQ(events[0].outcome, "failure");
    EXPECT_EQ(events[0].actor, "plugin:test");
    EXPECT_EQ(events[0].details.at("agent_id").as_string(), "a");
    EXPECT_EQ(events[0].details.at("attempts").to_number<int>(), 3);

    auto dead = list({.state = CommandState::dead_lettered});
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0].command_id, id);
    EXPECT_TRUE(complete("a", id, CommandState::succeeded).ok());
    EXPECT_EQ(state(id), CommandState::dead_lettered) << "a late result changes nothing";
}

TEST_F(RedisQueueTest, AnAckStopsRedelivery) {
    cfg.ack_timeout_s = 1;
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    const auto id = enqueue_id("a");
    ASSERT_TRUE(s.wait_count(2, 5s)) << "redelivered after 1 s";
    ASSERT_TRUE(ack("a", id).ok());
    const auto seen = s.count();
    // The next redelivery would be due 2 s after the second: wait past it.
    EXPECT_FALSE(s.wait_count(seen + 1, 3s));
    EXPECT_EQ(state(id), CommandState::acked);
}

TEST_F(RedisQueueTest, RefusedDeliveryIsRetriedLikeAMissingAck) {
    cfg.ack_timeout_s = 1;
    Session& s = session();
    s.set_accept(false);  // session closing / write queue full
    queue().attach("a", "s1", s.fn());
    const auto id = enqueue_id("a");
    ASSERT_TRUE(s.wait_count(1));
    s.set_accept(true);
    ASSERT_TRUE(s.wait_count(2, 5s));
    EXPECT_EQ(s.at_index(1).attempts, 2);
    EXPECT_EQ(state(id), CommandState::dispatched);
}

TEST_F(RedisQueueTest, DeadlineTimesOutQueuedAndDispatchedButNotAcked) {
    const auto queued = enqueue_id("a", 1);
    Session& s = session();
    queue().attach("b", "s1", s.fn());
    const auto dispatched = enqueue_id("b", 1);
    const auto acked = enqueue_id("b", 1);
    ASSERT_TRUE(s.wait_count(2));
    ASSERT_TRUE(ack("b", acked).ok());

    ASSERT_TRUE(wait_state(queued, CommandState::timed_out, 5s));
    ASSERT_TRUE(wait_state(dispatched, CommandState::timed_out, 5s));
    EXPECT_EQ(state(acked), CommandState::acked) << "the agent enforces it and reports";
    ASSERT_TRUE(wait_until([&] { return transitions(CommandState::timed_out) == 2; }));
    EXPECT_EQ(raw({"XLEN", key("stream:a")}).integer, 0);
    EXPECT_EQ(raw({"XLEN", key("stream:b")}).integer, 1) << "only the acked one is live";
}

TEST_F(RedisQueueTest, ReattachRedeliversUnackedAndQueuedButNotAcked) {
    Session& s1 = session();
    queue().attach("a", "s1", s1.fn());
    const auto a = enqueue_id("a");
    const auto b = enqueue_id("a");
    ASSERT_TRUE(s1.wait_count(2));
    ASSERT_TRUE(ack("a", a).ok());
    queue().detach("a", "s1");
    ASSERT_TRUE(wait_until([&] { return raw({"EXISTS", key("owner:a")}).integer == 0; }));
    const auto c = enqueue_id("a");
    EXPECT_EQ(state(c), CommandState::queued);
    ASSERT_TRUE(cancel(c).ok()) << "never delivered: still queued, so cancellable";
    const auto d = enqueue_id("a");
    EXPECT_EQ(s1.count(), 2u) << "nothing goes to a detached session";

    Session& s2 = session();
    queue().attach("a", "s2", s2.fn());
    ASSERT_TRUE(s2.wait_count(2));
    EXPECT_EQ(s2.ids(), (std::vector<std::string>{b, d}));
    EXPECT_EQ(s2.at_index(0).attempts, 2);
    EXPECT_EQ(s2.at_index(1).attempts, 1);

    queue().detach("a", "s1");  // a late detach of the old session must not cut off s2
    const auto e = enqueue_id("a");
    ASSERT_TRUE(s2.wait_count(3));
    EXPECT_EQ(s2.ids().back(), e);
}

TEST_F(RedisQueueTest, AckTimeoutWithoutASessionWaitsForAttach) {
    cfg.ack_timeout_s = 1;
    Session& s1 = session();
    queue().attach("a", "s1", s1.fn());
    const auto id = enqueue_id("a");
    ASSERT_TRUE(s1.wait_count(1));
    queue().detach("a", "s1");
    // Past the 1 s timeout the sweep finds no holder and drops the due time.
    ASSERT_TRUE(wait_until([&] { return raw({"ZCARD", key("due")}).integer == 0; }, 5s));
    auto rec = get(id);
    EXPECT_EQ(rec->state, CommandState::dispatched);
    EXPECT_EQ(rec->attempts, 1) << "no session, no attempt spent";
    Session& s2 = session();
    queue().attach("a", "s2", s2.fn());
    ASSERT_TRUE(s2.wait_count(1));
    EXPECT_EQ(s2.at_index(0).attempts, 2);
}

TEST_F(RedisQueueTest, ConcurrentEnqueuesAreDeliveredOnceEachInEnqueueOrder) {
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    constexpr int threads = 4;
    constexpr int per_thread = 50;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                EXPECT_TRUE(enqueue("a").ok());
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    ASSERT_TRUE(s.wait_count(threads * per_thread));
    auto newest_first = list({.limit = 1000});
    std::vector<std::string> expected;
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
        expected.push_back(it->command_id);
    }
    EXPECT_EQ(s.ids(), expected);
}

// Many enqueues in flight at once on the owner: each reply may carry the read (the
// enqueue script reads when no other read is in flight) or leave it to a pull; either
// way every command goes out once, in enqueue order.
TEST_F(RedisQueueTest, PipelinedLocalEnqueuesAreDeliveredOnceEachInOrder) {
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    constexpr int n = 300;
    std::mutex mu;
    std::vector<std::string> accepted;
    for (int i = 0; i < n; ++i) {
        sdk::NewCommand c;
        c.agent_id = "a";
        c.name = "builtin.echo";
        c.timeout_s = 3600;
        queue().enqueue(std::move(c), [&](sdk::Result<EnqueueOutcome> r) {
            ASSERT_TRUE(r.ok()) << r.status().message();
            std::lock_guard lock(mu);
            accepted.push_back(r->command.command_id);
        });
    }
    ASSERT_TRUE(s.wait_count(n));
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard lock(mu);
        return accepted.size() == static_cast<std::size_t>(n);
    }));
    std::lock_guard lock(mu);
    EXPECT_EQ(s.ids(), accepted) << "replies arrive in script order, so does delivery";
    EXPECT_EQ(transitions(CommandState::dispatched), static_cast<std::uint64_t>(n));
}

// On a private Redis, so that its command statistics are this test's alone.
class PrivateRedisQueueTest : public RedisQueueTest {
protected:
    testsvc::RedisServer server;
    std::string redis_url() override { return server.url(); }

    std::int64_t evalsha_calls() {
        const std::string info = raw({"INFO", "commandstats"}).text();
        const std::string tag = "cmdstat_evalsha:calls=";
        const auto at = info.find(tag);
        return at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
    }
};

TEST_F(PrivateRedisQueueTest, EnqueueOnTheOwnerReadsInTheSameScript) {
    cfg.sweep_interval_ms = 3600 * 1000;  // no sweep or rescan script meanwhile
    queue();
    // The subscriber's connect hook (a read of every attached stream) has run once
    // its SUBSCRIBE is visible; the agent is attached only after that.
    ASSERT_TRUE(wait_until([&] {
        auto r = raw({"PUBSUB", "NUMSUB", key("notify:host-a")});
        return r.size() == 2 && r.at(1).as_integer().value_or(0) == 1;
    }));
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    enqueue_id("a");
    ASSERT_TRUE(s.wait_count(1));
    const auto before = evalsha_calls();
    const auto id = enqueue_id("a");
    ASSERT_TRUE(s.wait_count(2));
    EXPECT_EQ(evalsha_calls() - before, 1) << "no separate pull script";
    EXPECT_EQ(s.at_index(1).command_id, id);
    EXPECT_EQ(s.at_index(1).state, CommandState::dispatched);
    EXPECT_EQ(s.at_index(1).attempts, 1);
    EXPECT_EQ(state(id), CommandState::dispatched);
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
