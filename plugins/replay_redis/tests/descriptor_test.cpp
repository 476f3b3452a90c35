// replay_redis loaded from its built module, as the kernel loads it: descriptor,
// schema, validation and a fail-closed factory (no loop → start refuses).

#include <gtest/gtest.h>

#include <agenthost/capabilities/replay.hpp>

#include "tests/support/fake_context.hpp"
#include "tests/support/plugin_library.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

TEST(ReplayRedisModule, DescriptorFromTheSharedObject) {
    std::string error;
    auto lib = testing::load_plugin_library("replay_redis", error);
    ASSERT_TRUE(lib.has_value()) << error;
    const sdk::PluginDescriptor& d = *lib->descriptor;
    EXPECT_EQ(d.name, "replay_redis");
    EXPECT_EQ(d.provides, std::vector<std::string>{"replay"});
    for (const auto& f : d.config_schema) {
        EXPECT_FALSE(f.description.empty()) << f.key;
    }
    auto config = testing::schema_defaults(d.config_schema);
    ASSERT_TRUE(d.validate);
    sdk::ConfigErrors errors;
    d.validate(config, "plugins.replay_redis.config", errors);
    ASSERT_EQ(errors.size(), 1u) << "url or url_file is required";
    EXPECT_EQ(errors[0].path, "plugins.replay_redis.config.url");

    testing::FakeContext ctx;
    config["url_file"] = ctx.state_dir() + "/missing";
    EXPECT_FALSE(d.create(ctx, config).ok()) << "an unreadable url_file fails creation";

    config.erase("url_file");
    config["url"] = "redis://127.0.0.1:1";
    auto made = d.create(ctx, config);
    ASSERT_TRUE(made.ok()) << made.status().message();
    std::unique_ptr<sdk::Plugin> plugin = std::move(made.value());
    EXPECT_EQ(plugin->start().code(), sdk::Errc::unsupported) << "fake context: no native loop";
    EXPECT_EQ(ctx.services().find<sdk::ReplayCache>(), nullptr) << "nothing provided on failure";
    plugin->stop();
    plugin.reset();
    ctx.health_impl.clear();
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
