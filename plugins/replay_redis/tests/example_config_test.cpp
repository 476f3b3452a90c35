// example.yaml is the documented config entry: it must pass the kernel's schema
// validator and the plugin's own cross-field checks; a typo is refused with its path.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/replay_redis/replay_config.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

TEST(ExampleConfig, Validates) {
    const YAML::Node root = YAML::LoadFile(AGENTHOST_EXAMPLE_YAML);
    ASSERT_TRUE(root["replay_redis"]) << "example.yaml must hold the replay_redis entry";
    EXPECT_TRUE(root["replay_redis"]["enabled"].as<bool>());
    sdk::ConfigErrors errors;
    const sdk::json::object config = config::validate_section(
        root["replay_redis"]["config"], config_schema(), "plugins.replay_redis.config", errors);
    validate_config(config, "plugins.replay_redis.config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    EXPECT_EQ(parse_config(config).key_prefix, "agenthost:r:");
    EXPECT_EQ(parse_config(config).fallback, Fallback::local) << "the documented choice";

    YAML::Node typo = YAML::Clone(root["replay_redis"]["config"]);
    typo["no_such_key"] = 1;
    sdk::ConfigErrors typo_errors;
    config::validate_section(typo, config_schema(), "plugins.replay_redis.config", typo_errors);
    ASSERT_EQ(typo_errors.size(), 1u);
    EXPECT_EQ(typo_errors[0].path, "plugins.replay_redis.config.no_such_key");
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis
