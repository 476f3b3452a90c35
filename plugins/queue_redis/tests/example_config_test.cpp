// example.yaml is the documented config entry: it must pass the kernel's schema
// validator and the plugin's own cross-field checks.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/queue_redis/queue_config.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

TEST(QueueRedisExampleConfig, Validates) {
    const YAML::Node root = YAML::LoadFile(AGENTHOST_EXAMPLE_YAML);
    ASSERT_TRUE(root["queue_redis"]) << "example.yaml must hold the queue_redis entry";
    sdk::ConfigErrors errors;
    const sdk::json::object config = config::validate_section(
        root["queue_redis"]["config"], config_schema(), "plugins.queue_redis.config", errors);
    validate_config(config, "plugins.queue_redis.config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    const QueueConfig c = parse_config(config);
    EXPECT_EQ(c.url, "redis://127.0.0.1:6379/0");
    EXPECT_EQ(c.max_attempts, 5);

    YAML::Node typo = YAML::Clone(root["queue_redis"]["config"]);
    typo["max_dept"] = 1;
    sdk::ConfigErrors typo_errors;
    config::validate_section(typo, config_schema(), "plugins.queue_redis.config", typo_errors);
    ASSERT_EQ(typo_errors.size(), 1u);
    EXPECT_EQ(typo_errors[0].path, "plugins.queue_redis.config.max_dept");
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis
