#pragma once
// Shared by the replay_redis integration and fault tests: a RedisReplayCache on a
// real loop (LiveContext) and a synchronous wrapper around its asynchronous check.

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "plugins/_common_redis/tests/live_context.hpp"
#include "plugins/replay_redis/redis_replay_cache.hpp"

namespace agenthost::plugins::replay_redis {

using namespace std::chrono_literals;

struct ReplayHost {
    testing::LiveContext ctx;
    std::unique_ptr<RedisReplayCache> cache;

    ReplayHost(const std::string& host, const std::string& url, const std::string& prefix,
               std::int64_t timeout_ms = 2000, Fallback fallback = Fallback::refuse)
        : ctx(host, "replay_redis") {
        ReplayConfig c;
        c.url = url;
        c.key_prefix = prefix;
        c.command_timeout_ms = timeout_ms;
        c.fallback = fallback;
        cache = std::make_unique<RedisReplayCache>(ctx, c, *redis::parse_url(url));
        EXPECT_TRUE(cache->start().ok());
        EXPECT_TRUE(testing::wait_until([&] { return cache->healthy(); }, 10s));
    }
    ~ReplayHost() {
        cache->stop();
        ctx.health_impl.clear();
    }

    // The verdict, or the failure; waits for the completion with a deadline.
    sdk::Result<sdk::ReplayVerdict> check(const std::string& agent, const std::string& nonce,
                                          std::int64_t ts, std::int64_t window = 60'000) {
        auto mu = std::make_shared<std::mutex>();
        auto out = std::make_shared<std::optional<sdk::Result<sdk::ReplayVerdict>>>();
        EXPECT_FALSE(cache->check_now(agent, nonce, ts, window).has_value());
        cache->check(agent, nonce, ts, window, [mu, out](sdk::Result<sdk::ReplayVerdict> v) {
            std::lock_guard lock(*mu);
            out->emplace(std::move(v));
        });
        bool done = testing::wait_until(
            [&] {
                std::lock_guard lock(*mu);
                return out->has_value();
            },
            15s);
        EXPECT_TRUE(done) << "no completion";
        std::lock_guard lock(*mu);
        if (!out->has_value()) {
            return sdk::error(sdk::Errc::timeout, "no completion");
        }
        return **out;
    }
    std::int64_t now() { return ctx.clock().now_unix_ms(); }
    std::uint64_t counter(const std::string& name) {
        return ctx.metrics_impl.counter_value(name, {}).value_or(0);
    }
};

}  // namespace agenthost::plugins::replay_redis
