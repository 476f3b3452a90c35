// queue_memory loaded from its built module, as the kernel loads it: ABI tag, entry,
// descriptor, schema defaults and cross-field validation, factory, start/stop.

#include <gtest/gtest.h>

#include <agenthost/capabilities/queue.hpp>

#include "tests/support/fake_context.hpp"
#include "tests/support/plugin_library.hpp"

namespace agenthost::plugins::queue_memory {
namespace {

TEST(QueueMemoryModule, DescriptorAndFactoryWorkFromTheSharedObject) {
    std::string error;
    auto lib = testing::load_plugin_library("queue_memory", error);
    ASSERT_TRUE(lib.has_value()) << error;
    const sdk::PluginDescriptor& d = *lib->descriptor;
    EXPECT_EQ(d.name, "queue_memory");
    EXPECT_EQ(d.provides, std::vector<std::string>{"queue"});
    auto config = testing::schema_defaults(d.config_schema);
    EXPECT_EQ(config.size(), 7u);

    ASSERT_TRUE(d.validate);
    sdk::ConfigErrors errors;
    d.validate(config, "plugins.queue_memory.config", errors);
    EXPECT_TRUE(errors.empty());
    auto bad = config;
    bad["ack_timeout_s"] = 600;
    d.validate(bad, "plugins.queue_memory.config", errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, "plugins.queue_memory.config.max_backoff_s");

    testing::FakeContext ctx;
    auto made = d.create(ctx, config);
    ASSERT_TRUE(made.ok()) << made.status().message();
    std::unique_ptr<sdk::Plugin> plugin = std::move(made.value());
    ASSERT_TRUE(plugin->start().ok());
    auto* queue = ctx.services().find<sdk::CommandQueue>();
    ASSERT_NE(queue, nullptr);
    std::optional<sdk::Result<sdk::EnqueueOutcome>> out;
    queue->enqueue(sdk::NewCommand{"agent", "builtin.echo", {}, 60, "", ""},
                   [&](auto r) { out.emplace(std::move(r)); });
    ASSERT_TRUE(out && out->ok());
    EXPECT_EQ(queue->retry_after("agent"), std::chrono::seconds(5));
    plugin->stop();
    plugin.reset();
    ctx.health_impl.clear();  // checks came from the module: drop before unload
}

}  // namespace
}  // namespace agenthost::plugins::queue_memory
