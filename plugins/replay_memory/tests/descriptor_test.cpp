// replay_memory loaded from its built module, as the kernel loads it: ABI tag, entry,
// descriptor, schema defaults, factory, start/stop.

#include <gtest/gtest.h>

#include <agenthost/capabilities/replay.hpp>

#include "tests/support/fake_context.hpp"
#include "tests/support/plugin_library.hpp"

namespace agenthost::plugins::replay_memory {
namespace {

TEST(ReplayMemoryModule, DescriptorAndFactoryWorkFromTheSharedObject) {
    std::string error;
    auto lib = testing::load_plugin_library("replay_memory", error);
    ASSERT_TRUE(lib.has_value()) << error;
    const sdk::PluginDescriptor& d = *lib->descriptor;
    EXPECT_EQ(d.name, "replay_memory");
    EXPECT_EQ(d.provides, std::vector<std::string>{"replay"});
    std::vector<std::string> keys;
    for (const auto& f : d.config_schema) {
        keys.push_back(f.key);
        EXPECT_FALSE(f.description.empty()) << f.key;
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"capacity", "shards", "sweep_interval_ms"}));

    testing::FakeContext ctx;
    auto made = d.create(ctx, testing::schema_defaults(d.config_schema));
    ASSERT_TRUE(made.ok()) << made.status().message();
    std::unique_ptr<sdk::Plugin> plugin = std::move(made.value());
    ASSERT_TRUE(plugin->start().ok());
    auto* cache = ctx.services().find<sdk::ReplayCache>();
    ASSERT_NE(cache, nullptr);
    const auto now = ctx.clock().now_unix_ms();
    EXPECT_EQ(cache->check_now("agent", "nonce", now, 60'000), sdk::ReplayVerdict::fresh);
    EXPECT_EQ(cache->check_now("agent", "nonce", now, 60'000), sdk::ReplayVerdict::replayed);
    EXPECT_EQ(cache->stats().capacity, 1'000'000u);
    plugin->stop();
    plugin.reset();
    ctx.metrics_impl.drop_callbacks();  // they came from the module: drop before unload
}

}  // namespace
}  // namespace agenthost::plugins::replay_memory
