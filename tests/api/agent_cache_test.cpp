// AgentCache (kernel/api/agent_cache.hpp): TTL, the epoch guard against lookups that
// raced an invalidation, the bound, and admits().
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "kernel/api/agent_cache.hpp"

namespace agenthost::testing {
namespace {

using api::AgentCache;
using namespace std::chrono_literals;

sdk::AgentRecord agent(std::string id) {
    sdk::AgentRecord a;
    a.agent_id = std::move(id);
    a.capabilities = std::vector<std::string>{"builtin.echo"};
    return a;
}

TEST(AgentCache, RemembersUntilTheTtl) {
    AgentCache cache(1000ms, 10);
    const auto t0 = AgentCache::Clock::time_point{} + 1h;
    EXPECT_EQ(cache.find("gw-01", t0), nullptr);
    cache.put(agent("gw-01"), cache.epoch(), t0);
    auto hit = cache.find("gw-01", t0 + 999ms);
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->agent_id, "gw-01");
    EXPECT_EQ(cache.find("gw-01", t0 + 1000ms), nullptr);
    EXPECT_EQ(cache.find("gw-02", t0), nullptr);
}

TEST(AgentCache, InvalidateDropsTheEntryAndLookupsInFlight) {
    AgentCache cache(1000ms, 10);
    const auto t0 = AgentCache::Clock::time_point{} + 1h;
    cache.put(agent("gw-01"), cache.epoch(), t0);
    const auto before = cache.epoch();  // a lookup starts...
    cache.invalidate("gw-01");          // ...a revocation happens meanwhile...
    EXPECT_EQ(cache.find("gw-01", t0), nullptr);
    cache.put(agent("gw-01"), before, t0);  // ...its (possibly stale) answer is dropped
    EXPECT_EQ(cache.find("gw-01", t0), nullptr);
    cache.put(agent("gw-01"), cache.epoch(), t0);  // a lookup started after it is kept
    EXPECT_NE(cache.find("gw-01", t0), nullptr);
}

TEST(AgentCache, BoundedDropsExpiredThenRefusesNewEntries) {
    AgentCache cache(1000ms, 2);
    const auto t0 = AgentCache::Clock::time_point{} + 1h;
    cache.put(agent("a"), cache.epoch(), t0);
    cache.put(agent("b"), cache.epoch(), t0 + 500ms);
    cache.put(agent("c"), cache.epoch(), t0 + 600ms);  // full, nothing expired: not kept
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.find("c", t0 + 600ms), nullptr);
    cache.put(agent("a"), cache.epoch(), t0 + 700ms);  // a refresh of a present key is kept
    EXPECT_NE(cache.find("a", t0 + 1500ms), nullptr);
    cache.put(agent("c"), cache.epoch(), t0 + 1600ms);  // "b" expired: dropped, "c" kept
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_NE(cache.find("c", t0 + 1600ms), nullptr);
    EXPECT_EQ(cache.find("b", t0 + 1400ms), nullptr);
}

TEST(AgentCache, ZeroTtlDisables) {
    AgentCache cache(0ms, 10);
    const auto t0 = AgentCache::Clock::time_point{} + 1h;
    cache.put(agent("gw-01"), cache.epoch(), t0);
    EXPECT_EQ(cache.find("gw-01", t0), nullptr);
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_FALSE(cache.enabled());
}

TEST(AgentCache, Admits) {
    auto a = agent("gw-01");
    EXPECT_TRUE(api::admits(a, "builtin.echo"));
    EXPECT_FALSE(api::admits(a, "not.listed"));
    a.capabilities.reset();  // no hello yet: anything goes
    EXPECT_TRUE(api::admits(a, "not.listed"));
    a.revoked = true;
    EXPECT_FALSE(api::admits(a, "builtin.echo"));
}

}  // namespace
}  // namespace agenthost::testing
