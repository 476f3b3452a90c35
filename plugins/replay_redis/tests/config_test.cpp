// The pure parts of replay_redis: key layout, entry lifetime, reply → verdict, config.

#include <gtest/gtest.h>

#include <set>

#include "plugins/_common_redis/url_config.hpp"
#include "plugins/replay_redis/redis_replay_cache.hpp"
#include "plugins/replay_redis/replay_config.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

TEST(ReplayRedisKeys, AgentAndNonceNeverCollide) {
    std::set<std::string> keys{nonce_key("p:", "ab", "c"), nonce_key("p:", "a", "bc"),
                               nonce_key("p:", "a:1", "x"), nonce_key("p:", "a", "1:x"),
                               nonce_key("p:", "", "a:1:x")};
    EXPECT_EQ(keys.size(), 5u);
    EXPECT_EQ(nonce_key("agenthost:r:", "gw-01", "AAAA"), "agenthost:r:n:5:gw-01:AAAA");
    EXPECT_EQ(epoch_key("agenthost:r:"), "agenthost:r:epoch");
    EXPECT_NE(nonce_key("p:", "gw", "epoch"), epoch_key("p:"));
}

TEST(ReplayRedisKeys, EntryLivesWindowPastTheLaterOfTsAndNow) {
    EXPECT_EQ(entry_ttl_ms(1000, 1000, 60'000), 60'000);
    EXPECT_EQ(entry_ttl_ms(500, 1000, 60'000), 60'000);     // old ts: from now
    EXPECT_EQ(entry_ttl_ms(11'000, 1000, 60'000), 70'000);  // future ts: from ts
    EXPECT_EQ(entry_ttl_ms(1000, 1000, 0), 1);              // never 0 (PX 0 is an error)
    EXPECT_GE(entry_ttl_ms(1000, 1000, -5), 1);
}

redis::Reply integer(long long v) {
    redis::Reply r;
    r.type = redis::Reply::Type::integer;
    r.integer = v;
    return r;
}

redis::Reply error_reply(std::string text) {
    redis::Reply r;
    r.type = redis::Reply::Type::error;
    r.str = std::move(text);
    return r;
}

TEST(ReplayRedisVerdict, ScriptRepliesMapToVerdicts) {
    EXPECT_EQ(*verdict_of(integer(0)), sdk::ReplayVerdict::fresh);
    EXPECT_EQ(*verdict_of(integer(1)), sdk::ReplayVerdict::replayed);
    EXPECT_EQ(*verdict_of(integer(2)), sdk::ReplayVerdict::stale);
    // Out of memory: refuse, never forget.
    EXPECT_EQ(*verdict_of(error_reply("OOM command not allowed when used memory > 'maxmemory'")),
              sdk::ReplayVerdict::full);
    // Anything else fails the check (fail closed), it never says "fresh".
    auto busy = verdict_of(error_reply("BUSY Redis is busy running a script"));
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.status().code(), sdk::Errc::unavailable);
    EXPECT_FALSE(verdict_of(integer(7)).ok());
    EXPECT_FALSE(verdict_of(redis::Reply{}).ok());
}

TEST(ReplayRedisVerdict, ScriptSetsWithNxAndPx) {
    const std::string& src = check_script_source();
    EXPECT_NE(src.find("'NX', 'PX'"), std::string::npos);
    EXPECT_NE(src.find("KEYS[2]"), std::string::npos);
}

TEST(ReplayRedisConfig, ExactlyOneUrlSourceAndDefaults) {
    sdk::ConfigErrors errors;
    validate_config(sdk::json::object{}, "p", errors);
    ASSERT_EQ(errors.size(), 1u);
    errors.clear();
    validate_config(sdk::json::object{{"url", "redis://h:1"}, {"url_file", "/x"}}, "p", errors);
    EXPECT_EQ(errors.size(), 1u);
    errors.clear();
    validate_config(sdk::json::object{{"url", "redis://127.0.0.1:6379/2"}}, "p", errors);
    EXPECT_TRUE(errors.empty());

    ReplayConfig c = parse_config(sdk::json::object{{"url", "redis://h:1"}});
    EXPECT_EQ(c.key_prefix, "agenthost:r:");
    EXPECT_EQ(c.command_timeout_ms, 2000);
    auto url = redis::resolve_url(c.url, c.url_file);
    ASSERT_TRUE(url.ok());
    EXPECT_EQ(*url, "redis://h:1");
    c.url.clear();
    c.url_file = "/nonexistent/redis.url";
    EXPECT_FALSE(redis::resolve_url(c.url, c.url_file).ok());
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
