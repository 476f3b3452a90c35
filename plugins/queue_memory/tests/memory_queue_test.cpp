// queue_memory, operator side: enqueue, get, list, cancel, idempotency, backpressure,
// retention, and the config schema.

#include <gtest/gtest.h>

#include "plugins/queue_memory/queue_plugin.hpp"
#include "plugins/queue_memory/tests/queue_test_util.hpp"

namespace agenthost::plugins::queue_memory {
namespace {

using namespace std::chrono_literals;

TEST_F(QueueTest, EnqueueCreatesAQueuedRecord) {
    auto r = enqueue("agent-1", "", "", 120);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->created);
    const CommandRecord& c = r->command;
    EXPECT_TRUE(util::is_uuid(c.command_id));
    EXPECT_EQ(c.agent_id, "agent-1");
    EXPECT_EQ(c.name, "builtin.echo");
    EXPECT_EQ(c.args.at("text").as_string(), "hi");
    EXPECT_EQ(c.state, CommandState::queued);
    EXPECT_EQ(c.attempts, 0);
    EXPECT_EQ(c.created_ms, now());
    EXPECT_EQ(c.updated_ms, now());
    EXPECT_EQ(c.deadline_ms, now() + 120'000);

    auto g = get(c.command_id);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->command_id, c.command_id);
    EXPECT_EQ(g->state, CommandState::queued);
    EXPECT_EQ(transitions(CommandState::queued), 1u);
    EXPECT_EQ(ctx.metrics_impl.gauge_value("queue_depth"), 1.0);
}

TEST_F(QueueTest, RejectsMalformedCommands) {
    EXPECT_EQ(enqueue("").status().code(), Errc::invalid_argument);
    EXPECT_EQ(enqueue("a", "", "", 0).status().code(), Errc::invalid_argument);
    EXPECT_EQ(enqueue("a", "", "", 10, "").status().code(), Errc::invalid_argument);
}

TEST_F(QueueTest, GetUnknownIsNotFound) {
    EXPECT_EQ(get("no-such-id").status().code(), Errc::not_found);
}

TEST_F(QueueTest, ListIsNewestFirstAndFilters) {
    std::vector<std::string> a1, a2;
    for (int i = 0; i < 3; ++i) {
        a1.push_back(enqueue_id("a1"));
        ctx.advance(1ms);
        a2.push_back(enqueue_id("a2"));
        ctx.advance(1ms);
    }
    ASSERT_TRUE(cancel(a1[1]).ok());

    auto all = list();
    ASSERT_EQ(all.size(), 6u);
    EXPECT_EQ(all[0].command_id, a2[2]);
    EXPECT_EQ(all[5].command_id, a1[0]);
    for (std::size_t i = 1; i < all.size(); ++i) {
        EXPECT_GT(all[i - 1].created_ms, all[i].created_ms);
    }

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

TEST_F(QueueTest, CancelOnlyWhileQueued) {
    const auto id = enqueue_id("a");
    auto c = cancel(id);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->state, CommandState::cancelled);
    EXPECT_EQ(state(id), CommandState::cancelled);
    EXPECT_EQ(ctx.metrics_impl.gauge_value("queue_depth"), 0.0);

    auto again = cancel(id);
    EXPECT_EQ(again.status().code(), Errc::conflict);
    EXPECT_EQ(again.status().message(), "not_cancellable");

    Session s;
    const auto sent = enqueue_id("a");
    queue().attach("a", "s1", s.fn(ctx));
    ctx.run_until_idle();
    ASSERT_EQ(state(sent), CommandState::dispatched);
    auto late = cancel(sent);
    EXPECT_EQ(late.status().code(), Errc::conflict);
    EXPECT_EQ(late.status().message(), "not_cancellable");
    EXPECT_EQ(state(sent), CommandState::dispatched);

    EXPECT_EQ(cancel("unknown").status().code(), Errc::not_found);
}

TEST_F(QueueTest, IdempotencyKeyReturnsTheCommandAsItIsNow) {
    auto first = enqueue("a", "key-1", "digest-A");
    ASSERT_TRUE(first.ok());
    const auto id = first->command.command_id;

    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    ctx.run_until_idle();

    auto repeat = enqueue("a", "key-1", "digest-A");
    ASSERT_TRUE(repeat.ok());
    EXPECT_FALSE(repeat->created);
    EXPECT_EQ(repeat->command.command_id, id);
    EXPECT_EQ(repeat->command.state, CommandState::dispatched);  // current, not original
    EXPECT_EQ(repeat->command.attempts, 1);
    EXPECT_EQ(list().size(), 1u);
    EXPECT_EQ(s.count(), 1u);  // a repeat is not delivered again

    auto conflict = enqueue("a", "key-1", "digest-B");
    EXPECT_EQ(conflict.status().code(), Errc::conflict);
    EXPECT_EQ(conflict.status().message(), "idempotency_conflict");

    // Keys are per agent.
    auto other = enqueue("b", "key-1", "digest-B");
    ASSERT_TRUE(other.ok());
    EXPECT_TRUE(other->created);
    EXPECT_NE(other->command.command_id, id);
}

TEST_F(QueueTest, IdempotencyKeyIsRememberedForItsTtlThenReusable) {
    auto first = enqueue("a", "k", "d");
    ASSERT_TRUE(first.ok());
    ctx.advance(std::chrono::seconds(cfg.idempotency_ttl_s) - 1ms);
    auto still = enqueue("a", "k", "d");
    ASSERT_TRUE(still.ok());
    EXPECT_FALSE(still->created);
    EXPECT_EQ(still->command.state, CommandState::timed_out);  // its 1 h deadline passed
    ctx.advance(1ms);
    auto fresh = enqueue("a", "k", "d");
    ASSERT_TRUE(fresh.ok());
    EXPECT_TRUE(fresh->created);
    EXPECT_NE(fresh->command.command_id, first->command.command_id);
}

TEST_F(QueueTest, FullQueueIsExhaustedUntilACommandFinishes) {
    cfg.max_depth = 2;
    cfg.retry_after_s = 7;
    const auto c1 = enqueue_id("a");
    enqueue_id("a");
    auto full = enqueue("a");
    EXPECT_EQ(full.status().code(), Errc::exhausted);
    EXPECT_EQ(full.status().message(), "queue_full");
    EXPECT_EQ(queue().retry_after("a"), 7s);
    EXPECT_EQ(ctx.metrics_impl.counter_value("queue_full_total"), 1u);
    // A repeat of a full request with an Idempotency-Key is still refused, not recorded.
    EXPECT_EQ(enqueue("a", "k", "d").status().code(), Errc::exhausted);
    EXPECT_TRUE(enqueue("b").ok()) << "another agent's queue is independent";

    Session s;
    queue().attach("a", "s1", s.fn(ctx));
    ctx.run_until_idle();
    EXPECT_EQ(enqueue("a").status().code(), Errc::exhausted) << "dispatched still counts";
    ASSERT_TRUE(ack("a", c1).ok());
    EXPECT_EQ(enqueue("a").status().code(), Errc::exhausted) << "acked still counts";
    ASSERT_TRUE(complete("a", c1, CommandState::succeeded).ok());
    EXPECT_TRUE(enqueue("a").ok());
    EXPECT_EQ(enqueue("a").status().code(), Errc::exhausted);
}

TEST_F(QueueTest, RetentionDropsTheOldestFinishedCommands) {
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

TEST_F(QueueTest, PluginRegistersTheCapabilityAndHealth) {
    QueueMemoryPlugin plugin(ctx, cfg);
    ASSERT_TRUE(plugin.start().ok());
    auto* found = ctx.services().find<sdk::CommandQueue>();
    ASSERT_EQ(found, &plugin.queue());
    std::optional<Result<EnqueueOutcome>> out;
    found->enqueue(sdk::NewCommand{"a", "builtin.echo", {}, 10, "", ""},
                   [&](auto r) { out.emplace(std::move(r)); });
    ASSERT_TRUE(out && out->ok());
    auto h = ctx.health_impl.run("queue:depth");
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->observed_value, 1.0);
    EXPECT_EQ(h->state, sdk::HealthState::pass);
    plugin.stop();
    EXPECT_EQ(ctx.scheduler_impl.pending_timers(), 0u);
}

TEST(QueueConfigTest, SchemaDefaultsMatchTheTypedDefaults) {
    const QueueConfig d;
    sdk::json::object filled;
    for (const auto& f : config_schema()) {
        ASSERT_TRUE(f.default_value.has_value()) << f.key;
        filled[f.key] = *f.default_value;
    }
    const QueueConfig c = parse_config(filled);
    EXPECT_EQ(c.max_depth, d.max_depth);
    EXPECT_EQ(c.retry_after_s, d.retry_after_s);
    EXPECT_EQ(c.ack_timeout_s, d.ack_timeout_s);
    EXPECT_EQ(c.max_backoff_s, d.max_backoff_s);
    EXPECT_EQ(c.max_attempts, d.max_attempts);
    EXPECT_EQ(c.idempotency_ttl_s, 86400);
    EXPECT_EQ(c.retain_terminal, d.retain_terminal);

    sdk::ConfigErrors errors;
    validate_config(filled, "plugins.queue_memory.config", errors);
    EXPECT_TRUE(errors.empty());
    filled["max_backoff_s"] = 10;
    validate_config(filled, "plugins.queue_memory.config", errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "plugins.queue_memory.config.max_backoff_s");
}

}  // namespace
}  // namespace agenthost::plugins::queue_memory
