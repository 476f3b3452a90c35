// queue_redis, operator side, against a real Redis: the queue_memory behaviours
// (enqueue, get, list, cancel, idempotency, backpressure, retention) plus the Redis
// layout they rely on (one stream per agent, nothing live trimmed).

#include <gtest/gtest.h>

#include "kernel/util/ids.hpp"
#include "plugins/queue_redis/tests/redis_queue_fixture.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

TEST_F(RedisQueueTest, EnqueueCreatesAQueuedRecordReadableFromAnyHost) {
    const std::int64_t before = ctx().clock().now_unix_ms();
    auto r = enqueue("agent-1", "", "", 120);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(r->created);
    const CommandRecord& c = r->command;
    EXPECT_TRUE(util::is_uuid(c.command_id));
    EXPECT_EQ(c.agent_id, "agent-1");
    EXPECT_EQ(c.name, "builtin.echo");
    EXPECT_EQ(c.args.at("text").as_string(), "hi");
    EXPECT_EQ(c.state, CommandState::queued);
    EXPECT_EQ(c.attempts, 0);
    EXPECT_GE(c.created_ms, before);
    EXPECT_EQ(c.updated_ms, c.created_ms);
    EXPECT_EQ(c.deadline_ms, c.created_ms + 120'000);
    EXPECT_EQ(transitions(CommandState::queued), 1u);

    // Another host answers GET from the same Redis.
    auto g = get(c.command_id, "host-b");
    ASSERT_TRUE(g.ok()) << g.status().message();
    EXPECT_EQ(g->command_id, c.command_id);
    EXPECT_EQ(g->state, CommandState::queued);
    EXPECT_EQ(g->args.at("text").as_string(), "hi");
    EXPECT_EQ(raw({"XLEN", key("stream:agent-1")}).integer, 1) << "one stream per agent";
}

TEST_F(RedisQueueTest, RejectsMalformedCommands) {
    EXPECT_EQ(enqueue("").status().code(), Errc::invalid_argument);
    EXPECT_EQ(enqueue("a", "", "", 0).status().code(), Errc::invalid_argument);
    EXPECT_EQ(enqueue("a", "", "", 10, "").status().code(), Errc::invalid_argument);
}

TEST_F(RedisQueueTest, GetUnknownIsNotFound) {
    EXPECT_EQ(get("no-such-id").status().code(), Errc::not_found);
}

TEST_F(RedisQueueTest, ListIsNewestFirstAndFilters) {
    std::vector<std::string> a1, a2;
    for (int i = 0; i < 3; ++i) {
        a1.push_back(enqueue_id("a1"));
        a2.push_back(enqueue_id("a2"));
    }
    ASSERT_TRUE(cancel(a1[1]).ok());

    auto all = list();
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all[0].command_id, a2[2]);
    EXPECT_EQ(all[1].command_id, a1[2]);
    EXPECT_EQ(all[5].command_id, a1[0]);

    auto only_a1 = list({.agent_id = "a1"});
    ASSERT_EQ(only_a1.size(), 3u);
    EXPECT_EQ(only_a1[0].command_id, a1[2]);

    auto cancelled = list({.state = CommandState::cancelled});
    ASSERT_EQ(cancelled.size(), 1u);
    EXPECT_EQ(cancelled[0].command_id, a1[1]);

    auto queued_a2 = list({.agent_id = "a2", .state = CommandState::queued, .limit = 2});
    ASSERT_EQ(queued_a2.size(), 2u);
    EXPECT_EQ(queued_a2[0].command_id, a2[2]);
    EXPECT_EQ(queued_a2[1].command_id, a2[1]);
}

TEST_F(RedisQueueTest, CancelOnlyWhileQueued) {
    const auto id = enqueue_id("a");
    auto c = cancel(id);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->state, CommandState::cancelled);
    EXPECT_EQ(state(id), CommandState::cancelled);
    EXPECT_EQ(raw({"XLEN", key("stream:a")}).integer, 0) << "a cancelled entry leaves the stream";

    auto again = cancel(id);
    EXPECT_EQ(again.status().code(), Errc::conflict);
    EXPECT_EQ(again.status().message(), "not_cancellable");

    Session& s = session();
    const auto sent = enqueue_id("a");
    queue().attach("a", "s1", s.fn());
    ASSERT_TRUE(s.wait_count(1));
    ASSERT_EQ(state(sent), CommandState::dispatched);
    auto late = cancel(sent);
    EXPECT_EQ(late.status().code(), Errc::conflict);
    EXPECT_EQ(late.status().message(), "not_cancellable");
    EXPECT_EQ(state(sent), CommandState::dispatched);

    EXPECT_EQ(cancel("unknown").status().code(), Errc::not_found);
}

TEST_F(RedisQueueTest, IdempotencyKeyReturnsTheCommandAsItIsNow) {
    auto first = enqueue("a", "key-1", "digest-A");
    ASSERT_TRUE(first.ok());
    const auto id = first->command.command_id;

    Session& s = session();
    queue().attach("a", "s1", s.fn());
    ASSERT_TRUE(s.wait_count(1));

    // The repeat may arrive through another host: the key lives in Redis.
    auto repeat = enqueue("a", "key-1", "digest-A", 3600, "builtin.echo", "host-b");
    ASSERT_TRUE(repeat.ok());
    EXPECT_FALSE(repeat->created);
    EXPECT_EQ(repeat->command.command_id, id);
    EXPECT_EQ(repeat->command.state, CommandState::dispatched);  // current, not original
    EXPECT_EQ(repeat->command.attempts, 1);
    EXPECT_EQ(list().size(), 1u);
    EXPECT_EQ(s.count(), 1u) << "a repeat is not delivered again";

    auto conflict = enqueue("a", "key-1", "digest-B");
    EXPECT_EQ(conflict.status().code(), Errc::conflict);
    EXPECT_EQ(conflict.status().message(), "idempotency_conflict");

    auto other = enqueue("b", "key-1", "digest-B");
    ASSERT_TRUE(other.ok()) << "keys are per agent";
    EXPECT_TRUE(other->created);
    EXPECT_NE(other->command.command_id, id);

    auto ttl = raw({"PTTL", key("idem:1:a:key-1")});
    EXPECT_GT(ttl.integer, (cfg.idempotency_ttl_s - 60) * 1000) << "SET NX with the TTL";
}

TEST_F(RedisQueueTest, IdempotencyKeyIsForgottenAfterItsTtl) {
    cfg.idempotency_ttl_s = 1;  // below the schema minimum: tests only
    auto first = enqueue("a", "k", "d");
    ASSERT_TRUE(first.ok());
    auto still = enqueue("a", "k", "d");
    ASSERT_TRUE(still.ok());
    EXPECT_FALSE(still->created);
    ASSERT_TRUE(wait_until([&] { return raw({"EXISTS", key("idem:1:a:k")}).integer == 0; }));
    auto fresh = enqueue("a", "k", "d");
    ASSERT_TRUE(fresh.ok());
    EXPECT_TRUE(fresh->created);
    EXPECT_NE(fresh->command.command_id, first->command.command_id);
}

TEST_F(RedisQueueTest, FullQueueIsExhaustedUntilACommandFinishes) {
    cfg.max_depth = 2;
    cfg.retry_after_s = 7;
    const auto c1 = enqueue_id("a");
    const auto c2 = enqueue_id("a");
    auto full = enqueue("a");
    EXPECT_EQ(full.status().code(), Errc::exhausted);
    EXPECT_EQ(full.status().message(), "queue_full");
    EXPECT_EQ(queue().retry_after("a"), 7s);
    EXPECT_EQ(ctx().metrics_impl.counter_value("queue_full_total"), 1u);
    EXPECT_EQ(enqueue("a", "k", "d").status().code(), Errc::exhausted);
    EXPECT_EQ(raw({"EXISTS", key("idem:1:a:k")}).integer, 0) << "a refused enqueue keeps no key";
    EXPECT_TRUE(enqueue("b").ok()) << "another agent's queue is independent";

    Session& s = session();
    queue().attach("a", "s1", s.fn());
    ASSERT_TRUE(s.wait_count(2));
    EXPECT_EQ(enqueue("a").status().code(), Errc::exhausted) << "dispatched still counts";
    ASSERT_TRUE(ack("a", c1).ok());
    EXPECT_EQ(enqueue("a").status().code(), Errc::exhausted) << "acked still counts";
    ASSERT_TRUE(complete("a", c1, CommandState::succeeded).ok());
    const auto c3 = enqueue_id("a");
    EXPECT_FALSE(c3.empty());
    EXPECT_EQ(enqueue("a").status().code(), Errc::exhausted);

    // No accepted command was lost or trimmed: both live ones are still in the stream.
    EXPECT_EQ(raw({"XLEN", key("stream:a")}).integer, 2);
    ASSERT_TRUE(s.wait_count(3));
    EXPECT_EQ(s.ids(), (std::vector<std::string>{c1, c2, c3}));
    EXPECT_EQ(state(c2), CommandState::dispatched);
}

TEST_F(RedisQueueTest, RetentionDropsTheOldestFinishedCommands) {
    cfg.retain_terminal = 2;
    const auto live = enqueue_id("a");
    std::vector<std::string> done;
    for (int i = 0; i < 3; ++i) {
        done.push_back(enqueue_id("a"));
        ASSERT_TRUE(cancel(done.back()).ok());
    }
    EXPECT_EQ(get(done[0]).status().code(), Errc::not_found);
    EXPECT_TRUE(get(done[1]).ok());
    EXPECT_TRUE(get(done[2]).ok());
    EXPECT_TRUE(get(live).ok()) << "unfinished commands are never dropped";
    EXPECT_EQ(list().size(), 3u);
}

TEST_F(RedisQueueTest, ShutdownAnswersUnavailable) {
    Session& s = session();
    queue().attach("a", "s1", s.fn());
    queue().shutdown();
    EXPECT_EQ(enqueue("a").status().code(), Errc::unavailable);
    EXPECT_EQ(get("x").status().code(), Errc::unavailable);
    EXPECT_EQ(ack("a", "x").code(), Errc::unavailable);
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
