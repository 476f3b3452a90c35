// example.yaml is the documented config entry: it must pass the kernel's schema
// validator against this plugin's schema, and the plugin must start with it.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/replay_memory/memory_replay_cache.hpp"
#include "plugins/replay_memory/replay_config.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::replay_memory {
namespace {

TEST(ExampleConfig, ValidatesAndStarts) {
    const YAML::Node root = YAML::LoadFile(AGENTHOST_EXAMPLE_YAML);
    ASSERT_TRUE(root["replay_memory"]) << "example.yaml must hold the replay_memory entry";
    EXPECT_TRUE(root["replay_memory"]["enabled"].as<bool>());
    sdk::ConfigErrors errors;
    const sdk::json::object config = config::validate_section(
        root["replay_memory"]["config"], config_schema(), "plugins.replay_memory.config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    testing::FakeContext ctx;
    MemoryReplayCache plugin(ctx, parse_config(config));
    ASSERT_TRUE(plugin.start().ok());
    EXPECT_EQ(plugin.stats().capacity, 1'000'000u);
    plugin.stop();

    // A typo is refused, with its path (fail-closed config).
    YAML::Node typo = YAML::Clone(root["replay_memory"]["config"]);
    typo["no_such_key"] = 1;
    sdk::ConfigErrors typo_errors;
    config::validate_section(typo, config_schema(), "plugins.replay_memory.config", typo_errors);
    ASSERT_EQ(typo_errors.size(), 1u);
    EXPECT_EQ(typo_errors[0].path, "plugins.replay_memory.config.no_such_key");
}

}  // namespace
}  // namespace agenthost::plugins::replay_memory
