// example.yaml is the documented config entry: it must pass the kernel's schema
// validator against this plugin's schema, and the plugin must start with it.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/audit_file/audit_config.hpp"
#include "plugins/audit_file/audit_plugin.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::plugins::audit_file {
namespace {

TEST(ExampleConfig, ValidatesAndStarts) {
    const YAML::Node root = YAML::LoadFile(AGENTHOST_EXAMPLE_YAML);
    ASSERT_TRUE(root["audit_file"]) << "example.yaml must hold the audit_file entry";
    EXPECT_TRUE(root["audit_file"]["enabled"].as<bool>());
    sdk::ConfigErrors errors;
    const sdk::json::object config = config::validate_section(
        root["audit_file"]["config"], config_schema(), "plugins.audit_file.config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    testing::FakeContext ctx;
    AuditFilePlugin plugin(ctx, parse_config(config));
    ASSERT_TRUE(plugin.start().ok());
    EXPECT_EQ(plugin.writer().path(), ctx.state_dir() + "/audit.log");
    plugin.stop();

    // A typo is refused, with its path (fail-closed config).
    YAML::Node typo = YAML::Clone(root["audit_file"]["config"]);
    typo["no_such_key"] = 1;
    sdk::ConfigErrors typo_errors;
    config::validate_section(typo, config_schema(), "plugins.audit_file.config", typo_errors);
    ASSERT_EQ(typo_errors.size(), 1u);
    EXPECT_EQ(typo_errors[0].path, "plugins.audit_file.config.no_such_key");
}

}  // namespace
}  // namespace agenthost::plugins::audit_file
