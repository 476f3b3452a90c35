// queue_redis loaded from its built module, as the kernel loads it: ABI tag, entry,
// descriptor, schema, validation and a fail-closed factory.

#include <gtest/gtest.h>

#include "tests/support/fake_context.hpp"
#include "tests/support/plugin_library.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

TEST(QueueRedisModule, DescriptorFromTheSharedObject) {
    std::string error;
    auto lib = testing::load_plugin_library("queue_redis", error);
    ASSERT_TRUE(lib.has_value()) << error;
    const sdk::PluginDescriptor& d = *lib->descriptor;
    EXPECT_EQ(d.name, "queue_redis");
    EXPECT_EQ(d.provides, std::vector<std::string>{"queue"});
    auto config = testing::schema_defaults(d.config_schema);
    ASSERT_TRUE(d.validate);
    sdk::ConfigErrors errors;
    d.validate(config, "plugins.queue_redis.config", errors);
    EXPECT_EQ(errors.size(), 1u) << "url or url_file is required";

    testing::FakeContext ctx;
    config["url_file"] = ctx.state_dir() + "/missing";
    auto bad = d.create(ctx, config);
    EXPECT_FALSE(bad.ok()) << "an unreadable url_file fails creation";

    config.erase("url_file");
    config["url"] = "redis://127.0.0.1:1";
    auto made = d.create(ctx, config);
    ASSERT_TRUE(made.ok()) << made.status().message();
    std::unique_ptr<sdk::Plugin> plugin = std::move(made.value());
    EXPECT_EQ(plugin->start().code(), sdk::Errc::unsupported) << "fake context: no native loop";
    plugin->stop();
    plugin.reset();
    ctx.health_impl.clear();
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
