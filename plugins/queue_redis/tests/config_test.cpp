// queue_redis without a server: schema defaults, fail-closed validation, URL sources,
// record parsing, and the refusal to start without a native loop.
#include <fstream>

#include <gtest/gtest.h>

#include "plugins/_common_redis/url_config.hpp"
#include "plugins/queue_redis/queue_config.hpp"
#include "plugins/queue_redis/queue_plugin.hpp"
#include "plugins/queue_redis/redis_queue.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

sdk::json::object defaults() {
    sdk::json::object filled;
    for (const auto& f : config_schema()) {
        if (f.default_value) {
            filled[f.key] = *f.default_value;
        }
    }
    return filled;
}

TEST(QueueRedisConfig, SchemaDefaultsMatchTheTypedDefaults) {
    const QueueConfig d;
    const QueueConfig c = parse_config(defaults());
    EXPECT_EQ(c.key_prefix, d.key_prefix);
    EXPECT_EQ(c.max_depth, d.max_depth);
    EXPECT_EQ(c.retry_after_s, d.retry_after_s);
    EXPECT_EQ(c.ack_timeout_s, d.ack_timeout_s);
    EXPECT_EQ(c.max_backoff_s, d.max_backoff_s);
    EXPECT_EQ(c.max_attempts, d.max_attempts);
    EXPECT_EQ(c.idempotency_ttl_s, 86400);
    EXPECT_EQ(c.retain_terminal, d.retain_terminal);
    EXPECT_EQ(c.dead_letter_max, d.dead_letter_max);
    EXPECT_EQ(c.sweep_interval_ms, d.sweep_interval_ms);
    EXPECT_EQ(c.rescan_interval_s, d.rescan_interval_s);
    EXPECT_EQ(c.command_timeout_ms, d.command_timeout_ms);
    for (const auto& f : config_schema()) {
        if (f.key == "url") {
            EXPECT_TRUE(f.secret) << "the URL may carry the password";
        }
    }
}

TEST(QueueRedisConfig, ValidationIsFailClosed) {
    const std::string path = "plugins.queue_redis.config";
    {
        sdk::ConfigErrors errors;
        validate_config(defaults(), path, errors);
        ASSERT_EQ(errors.size(), 1u) << "no URL at all";
        EXPECT_EQ(errors[0].path, path + ".url");
    }
    {
        auto c = defaults();
        c["url"] = "redis://127.0.0.1:6379";
        c["url_file"] = "/etc/agenthost/redis.url";
        sdk::ConfigErrors errors;
        validate_config(c, path, errors);
        ASSERT_EQ(errors.size(), 1u) << "both";
    }
    {
        auto c = defaults();
        c["url"] = "redis://h:99999";
        c["max_backoff_s"] = 10;
        sdk::ConfigErrors errors;
        validate_config(c, path, errors);
        ASSERT_EQ(errors.size(), 2u);
        EXPECT_EQ(errors[0].path, path + ".url");
        EXPECT_EQ(errors[1].path, path + ".max_backoff_s");
    }
    {
        auto c = defaults();
        c["url"] = "redis://127.0.0.1:6379/2";
        sdk::ConfigErrors errors;
        validate_config(c, path, errors);
        EXPECT_TRUE(errors.empty());
    }
}

TEST(QueueRedisConfig, UrlFileIsReadAndChecked) {
    testing::TempDir dir;
    const std::string file = dir.file("redis.url");
    std::ofstream(file) << "redis://:pw@127.0.0.1:7001/1\n";
    QueueConfig c;
    c.url_file = file;
    auto url = redis::resolve_url(c.url, c.url_file);
    ASSERT_TRUE(url.ok()) << url.status().message();
    EXPECT_EQ(*url, "redis://:pw@127.0.0.1:7001/1");
    std::ofstream(file) << "http://nope\n";
    EXPECT_EQ(redis::resolve_url(c.url, c.url_file).status().code(), sdk::Errc::invalid_argument);
    c.url_file = dir.file("missing");
    EXPECT_EQ(redis::resolve_url(c.url, c.url_file).status().code(), sdk::Errc::invalid_argument);
}

TEST(QueueRedisRecord, ParsesTheHashLayout) {
    redis::Reply flat;
    flat.type = redis::Reply::Type::array;
    auto add = [&](const std::string& k, const std::string& v) {
        redis::Reply a, b;
        a.type = b.type = redis::Reply::Type::string;
        a.str = k;
        b.str = v;
        flat.elements.push_back(a);
        flat.elements.push_back(b);
    };
    add("id", "c1");
    add("agent", "a1");
    add("name", "builtin.echo");
    add("args", R"({"text":"hi"})");
    add("state", "dispatched");
    add("attempts", "2");
    add("created", "1700000000000");
    add("updated", "1700000000500");
    add("deadline", "1700000060000");
    auto rec = parse_record(flat);
    ASSERT_TRUE(rec.has_value());
    EXPECT_EQ(rec->command_id, "c1");
    EXPECT_EQ(rec->agent_id, "a1");
    EXPECT_EQ(rec->args.at("text").as_string(), "hi");
    EXPECT_EQ(rec->state, sdk::CommandState::dispatched);
    EXPECT_EQ(rec->attempts, 2);
    EXPECT_EQ(rec->created_ms, 1700000000000);
    EXPECT_EQ(rec->updated_ms, 1700000000500);
    EXPECT_EQ(rec->deadline_ms, 1700000060000);
    flat.elements[9].str = "exploded";
    EXPECT_FALSE(parse_record(flat).has_value()) << "an unknown state is refused";
    EXPECT_FALSE(parse_record(redis::Reply{}).has_value());
}

TEST(QueueRedisPlugin, RefusesToStartWithoutANativeLoop) {
    testing::FakeContext ctx;  // its scheduler has no native loop
    QueueConfig c;
    c.url = "redis://127.0.0.1:1";
    QueueRedisPlugin plugin(ctx, c, *redis::parse_url(c.url));
    auto st = plugin.start();
    EXPECT_EQ(st.code(), sdk::Errc::unsupported);
    EXPECT_EQ(ctx.services().find<sdk::CommandQueue>(), nullptr);
    plugin.stop();
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
