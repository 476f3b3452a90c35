// example.yaml is the documented config entry: it must pass the kernel's schema
// validator against this plugin's schema, and the plugin must start with it.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/queue_memory/queue_config.hpp"
#include "plugins/queue_memory/queue_plugin.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::queue_memory {
namespace {

TEST(ExampleConfig, ValidatesAndStarts) {
    const YAML::Node root = YAML::LoadFile(AGENTHOST_EXAMPLE_YAML);
    ASSERT_TRUE(root["queue_memory"]) << "example.yaml must hold the queue_memory entry";
    EXPECT_TRUE(root["queue_memory"]["enabled"].as<bool>());
    sdk::ConfigErrors errors;
    const sdk::json::object config = config::validate_section(
        root["queue_memory"]["config"], config_schema(), "plugins.queue_memory.config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    testing::FakeContext ctx;
    validate_config(config, "plugins.queue_memory.config", errors);
    EXPECT_TRUE(errors.empty());
    QueueMemoryPlugin plugin(ctx, parse_config(config));
    ASSERT_TRUE(plugin.start().ok());
    EXPECT_EQ(plugin.queue().retry_after("a"), std::chrono::seconds(5));
    plugin.stop();

    // A typo is refused, with its path (fail-closed config).
    YAML::Node typo = YAML::Clone(root["queue_memory"]["config"]);
    typo["no_such_key"] = 1;
    sdk::ConfigErrors typo_errors;
    config::validate_section(typo, config_schema(), "plugins.queue_memory.config", typo_errors);
    ASSERT_EQ(typo_errors.size(), 1u);
    EXPECT_EQ(typo_errors[0].path, "plugins.queue_memory.config.no_such_key");
}

}  // namespace
}  // namespace agenthost::plugins::queue_memory
