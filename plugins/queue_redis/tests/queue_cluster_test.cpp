// queue_redis with two hosts on one Redis: a command enqueued through one host is
// delivered by the host holding the agent's session; a session moving to another
// host takes its unacked commands with it.

#include <gtest/gtest.h>

#include "plugins/queue_redis/tests/redis_queue_fixture.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

TEST_F(RedisQueueTest, EnqueuedOnOneHostDeliveredByTheHostHoldingTheAgent) {
    Session& s = session();
    host("host-b").attach("a", "s1", s.fn());
    ASSERT_TRUE(wait_until([&] { return raw({"GET", key("owner:a")}).text() == "host-b"; }));
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) {
        ids.push_back(enqueue_id("a", 3600, "host-a"));
    }
    ASSERT_TRUE(s.wait_count(20));
    EXPECT_EQ(s.ids(), ids) << "in enqueue order, each once";

    // Ack and result through B; A sees the outcome.
    ASSERT_TRUE(ack("a", ids[0], "host-b").ok());
    EXPECT_EQ(state(ids[0], "host-a"), CommandState::acked);
    ASSERT_TRUE(complete("a", ids[0], CommandState::succeeded, "host-b").ok());
    EXPECT_EQ(state(ids[0], "host-a"), CommandState::succeeded);
    EXPECT_EQ(raw({"XPENDING", key("stream:a"), "g"}).at(0).integer, 19);
    // Delivery reached B through the notification, not the rescan: A never read it.
    EXPECT_EQ(transitions(CommandState::dispatched, "host-a"), 0u);
    EXPECT_EQ(transitions(CommandState::dispatched, "host-b"), 20u);
}

TEST_F(RedisQueueTest, TheSessionMovesToAnotherHostWithItsUnackedCommands) {
    Session& on_a = session();
    host("host-a").attach("a", "s1", on_a.fn());
    const auto acked = enqueue_id("a", 3600, "host-b");
    const auto unacked = enqueue_id("a", 3600, "host-b");
    ASSERT_TRUE(on_a.wait_count(2));
    ASSERT_TRUE(ack("a", acked, "host-a").ok());

    // The agent reconnects to B (A has not noticed yet: its detach comes late).
    Session& on_b = session();
    host("host-b").attach("a", "s2", on_b.fn());
    ASSERT_TRUE(on_b.wait_count(1));
    EXPECT_EQ(on_b.ids(), std::vector<std::string>{unacked});
    EXPECT_EQ(on_b.at_index(0).attempts, 2);
    host("host-a").detach("a", "s1");
    EXPECT_EQ(raw({"GET", key("owner:a")}).text(), "host-b") << "A's late detach keeps B's";
    // Claimed by B's consumer in the group.
    auto pending = raw({"XPENDING", key("stream:a"), "g", "-", "+", "10"});
    ASSERT_EQ(pending.size(), 2u);
    EXPECT_EQ(pending.at(0).at(1).text(), "host-b");
    EXPECT_EQ(pending.at(1).at(1).text(), "host-b");

    const auto later = enqueue_id("a", 3600, "host-a");
    ASSERT_TRUE(on_b.wait_count(2));
    EXPECT_EQ(on_b.ids().back(), later);
    ASSERT_TRUE(complete("a", acked, CommandState::succeeded, "host-b").ok());
    EXPECT_EQ(on_a.count(), 2u);
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
