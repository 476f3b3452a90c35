// queue_memory, session side: delivery order, acks, results, redelivery with backoff,
// dead-lettering, deadlines, detach/attach, and shutdown.

#include <thread>

#include <gtest/gtest.h>

#include "plugins/queue_memory/tests/queue_test_util.hpp"

namespace agenthost::plugins::queue_memory {
namespace {

using namespace std::chrono_literals;

TEST_F(QueueTest, AttachDeliversQueuedCommandsInOrder) {
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        ids.push_back(enqueue_id("a"));
    }
    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    EXPECT_EQ(s.count(), 0u) << "delivery is posted to the loop, never inline";
    ctx.run_until_idle();
    EXPECT_EQ(s.ids(), ids);
    for (const auto& c : s.got) {
        EXPECT_EQ(c.state, CommandState::dispatched);
        EXPECT_EQ(c.attempts, 1);
    }
    // While attached, new commands go straight out.
    ids.push_back(enqueue_id("a"));
    ctx.run_until_idle();
    EXPECT_EQ(s.ids(), ids);
    EXPECT_EQ(transitions(CommandState::dispatched), 4u);
    // Another agent's commands never reach this session.
    enqueue_id("b");
    ctx.run_until_idle();
    EXPECT_EQ(s.count(), 4u);
}

TEST_F(QueueTest, AckAndResultWalkTheStateMachine) {
    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    const auto id = enqueue_id("a");
    ctx.run_until_idle();
    ASSERT_EQ(state(id), CommandState::dispatched);

    EXPECT_EQ(ack("b", id).code(), Errc::not_found) << "another agent's command";
    EXPECT_EQ(ack("a", "unknown").code(), Errc::not_found);
    ctx.advance(1s);
    ASSERT_TRUE(ack("a", id).ok());
    auto rec = get(id);
    EXPECT_EQ(rec->state, CommandState::acked);
    EXPECT_EQ(rec->updated_ms, now());
    ASSERT_TRUE(ack("a", id).ok()) << "a repeated ack is harmless";

    ctx.advance(10min);  // acked: no redelivery, however long the result takes
    EXPECT_EQ(s.count(), 1u);
    EXPECT_EQ(state(id), CommandState::acked);

    EXPECT_EQ(complete("a", id, CommandState::queued).code(), Errc::invalid_argument);
    EXPECT_EQ(complete("a", id, CommandState::dead_lettered).code(), Errc::invalid_argument);
    EXPECT_EQ(complete("b", id, CommandState::failed).code(), Errc::not_found);
    ASSERT_TRUE(complete("a", id, CommandState::succeeded).ok());
    EXPECT_EQ(state(id), CommandState::succeeded);
    // A resent result (spool replay) is accepted and ignored.
    ASSERT_TRUE(complete("a", id, CommandState::failed).ok());
    EXPECT_EQ(state(id), CommandState::succeeded);
    ASSERT_TRUE(ack("a", id).ok());
    EXPECT_EQ(state(id), CommandState::succeeded);
    EXPECT_EQ(transitions(CommandState::succeeded), 1u);
    EXPECT_EQ(ctx.metrics_impl.gauge_value("queue_depth"), 0.0);
}

TEST_F(QueueTest, EveryAgentResultStateIsTerminal) {
    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    for (auto st : {CommandState::succeeded, CommandState::failed, CommandState::rejected,
                    CommandState::timed_out}) {
        const auto id = enqueue_id("a");
        ctx.run_until_idle();
        ASSERT_TRUE(complete("a", id, st).ok());  // a result may arrive without an ack
        EXPECT_EQ(state(id), st);
        EXPECT_EQ(transitions(st), 1u);
    }
    ctx.advance(1h);
    EXPECT_EQ(s.count(), 4u) << "finished commands are never redelivered";
}

TEST_F(QueueTest, UnackedCommandsAreRedeliveredWithBackoffThenDeadLettered) {
    cfg.ack_timeout_s = 30;
    cfg.max_backoff_s = 100;
    cfg.max_attempts = 5;
    EXPECT_EQ(queue().backoff(1), 30s);
    EXPECT_EQ(queue().backoff(2), 60s);
    EXPECT_EQ(queue().backoff(3), 100s);  // 120 s capped
    EXPECT_EQ(queue().backoff(60), 100s);

    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    const std::int64_t t0 = now();
    const auto id = enqueue_id("a", 86400);
    ctx.advance(30min);

    ASSERT_EQ(s.count(), 5u);
    std::vector<std::int64_t> offsets;
    for (std::size_t i = 0; i < s.got.size(); ++i) {
        EXPECT_EQ(s.got[i].command_id, id);
        EXPECT_EQ(s.got[i].attempts, static_cast<std::int32_t>(i + 1));
        offsets.push_back((s.at_ms[i] - t0) / 1000);
    }
    EXPECT_EQ(offsets, (std::vector<std::int64_t>{0, 30, 90, 190, 290}));

    auto rec = get(id);
    EXPECT_EQ(rec->state, CommandState::dead_lettered);
    EXPECT_EQ(rec->attempts, 5);
    EXPECT_EQ(rec->updated_ms, t0 + 390'000);  // the 5th delivery's 100 s passed unacked
    EXPECT_EQ(transitions(CommandState::dead_lettered), 1u);
    EXPECT_EQ(ctx.metrics_impl.gauge_value("queue_depth"), 0.0);

    auto events = ctx.audit_sink.events_with_action("command.dead_lettered");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].target, id);
    EXPECT_EQ(events[0].outcome, "failure");
    EXPECT_EQ(events[0].actor, "plugin:test");
    EXPECT_EQ(events[0].details.at("agent_id").as_string(), "a");
    EXPECT_EQ(events[0].details.at("attempts").to_number<int>(), 5);

    auto dlq = list({.state = CommandState::dead_lettered});
    ASSERT_EQ(dlq.size(), 1u);
    EXPECT_EQ(dlq[0].command_id, id);
    EXPECT_EQ(complete("a", id, CommandState::succeeded).code(), sdk::Errc::ok);
    EXPECT_EQ(state(id), CommandState::dead_lettered) << "a late result changes nothing";
}

TEST_F(QueueTest, AnAckStopsRedelivery) {
    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    const auto id = enqueue_id("a");
    ctx.advance(31s);
    ASSERT_EQ(s.count(), 2u);
    ASSERT_TRUE(ack("a", id).ok());
    ctx.advance(1h);
    EXPECT_EQ(s.count(), 2u);
    EXPECT_EQ(state(id), CommandState::acked);
}

TEST_F(QueueTest, RefusedDeliveryIsRetriedLikeAMissingAck) {
    Session s;
    s.accept = false;  // session closing / write queue full
    queue().attach("a", "s1", s.fn(ctx));
    const auto id = enqueue_id("a");
    ctx.run_until_idle();
    ASSERT_EQ(s.count(), 1u);
    s.accept = true;
    ctx.advance(30s);
    ASSERT_EQ(s.count(), 2u);
    EXPECT_EQ(s.got[1].attempts, 2);
    EXPECT_EQ(state(id), CommandState::dispatched);
}

TEST_F(QueueTest, DeadlineTimesOutQueuedAndDispatchedButNotAcked) {
    const auto queued = enqueue_id("a", 10);
    Session s;
    queue().attach("b", "s1", s.fn(ctx));
    const auto dispatched = enqueue_id("b", 10);
    const auto acked = enqueue_id("b", 10);
    ctx.run_until_idle();
    ASSERT_TRUE(ack("b", acked).ok());

    ctx.advance(9999ms);
    EXPECT_EQ(state(queued), CommandState::queued);
    ctx.advance(1ms);
    EXPECT_EQ(state(queued), CommandState::timed_out);
    EXPECT_EQ(state(dispatched), CommandState::timed_out);
    EXPECT_EQ(state(acked), CommandState::acked) << "the agent enforces it and reports";
    EXPECT_EQ(transitions(CommandState::timed_out), 2u);
    ctx.advance(1h);
    EXPECT_EQ(s.count(), 2u) << "a timed-out command is not redelivered";
}

TEST_F(QueueTest, ReattachRedeliversUnackedAndQueuedButNotAcked) {
    Session s1;
    queue().attach("a", "s1", s1.fn(ctx));
    const auto a = enqueue_id("a");
    const auto b = enqueue_id("a");
    ctx.run_until_idle();
    ASSERT_TRUE(ack("a", a).ok());
    queue().detach("a", "s1");
    const auto c = enqueue_id("a");
    ctx.run_until_idle();
    EXPECT_EQ(s1.count(), 2u) << "nothing goes to a detached session";
    EXPECT_EQ(state(c), CommandState::queued);
    ASSERT_TRUE(cancel(c).ok()) << "never delivered: still queued, so cancellable";
    const auto d = enqueue_id("a");

    Session s2;
    queue().attach("a", "s2", s2.fn(ctx));
    ctx.run_until_idle();
    EXPECT_EQ(s2.ids(), (std::vector<std::string>{b, d}));
    EXPECT_EQ(s2.got[0].attempts, 2);
    EXPECT_EQ(s2.got[1].attempts, 1);

    // A late detach of the old session must not cut off the new one.
    queue().detach("a", "s1");
    const auto e = enqueue_id("a");
    ctx.run_until_idle();
    EXPECT_EQ(s2.ids().back(), e);
}

TEST_F(QueueTest, AckTimeoutWithoutASessionWaitsForAttach) {
    Session s1;
    queue().attach("a", "s1", s1.fn(ctx));
    const auto id = enqueue_id("a");
    ctx.run_until_idle();
    queue().detach("a", "s1");
    ctx.advance(10min);
    auto rec = get(id);
    EXPECT_EQ(rec->state, CommandState::dispatched);
    EXPECT_EQ(rec->attempts, 1) << "no session, no attempt spent";
    Session s2;
    queue().attach("a", "s2", s2.fn(ctx));
    ctx.run_until_idle();
    ASSERT_EQ(s2.count(), 1u);
    EXPECT_EQ(s2.got[0].attempts, 2);
}

TEST_F(QueueTest, ShutdownStopsTimersAndDeliveries) {
    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    enqueue_id("a");
    enqueue_id("b");
    queue().shutdown();
    ctx.run_until_idle();
    EXPECT_EQ(s.count(), 0u);
    EXPECT_EQ(ctx.scheduler_impl.pending_timers(), 0u);
    EXPECT_EQ(enqueue("a").status().code(), Errc::unavailable);
    q.reset();  // tasks still queued find the queue gone
    ctx.advance(1h);
}

TEST_F(QueueTest, ConcurrentEnqueuesAreDeliveredOnceEachInEnqueueOrder) {
    ctx.scheduler_impl.start_background();
    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    constexpr int threads = 4;
    constexpr int per_thread = 50;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                ASSERT_TRUE(enqueue("a").ok());
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    ASSERT_TRUE(testing::wait_until([&] { return s.count() == threads * per_thread; }));
    auto newest_first = list({.limit = 1000});
    std::vector<std::string> expected;
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
        expected.push_back(it->command_id);
    }
    EXPECT_EQ(s.ids(), expected);
    ctx.scheduler_impl.stop_background();
    queue().shutdown();
}

}  // namespace
}  // namespace agenthost::plugins::queue_memory
