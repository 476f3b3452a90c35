// example.yaml is documentation the tests keep honest: its config section passes the
// kernel's validator against this plugin's schema, states the defaults, and the
// plugin starts with it. A typo'd key is refused with its YAML path.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/health_http/health_plugin.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::health_http {
namespace {

constexpr const char* kName = "health_http";

YAML::Node example() {
    return YAML::LoadFile(std::string(AGENTHOST_TEST_SOURCE_DIR) + "/plugins/" + kName +
                          "/example.yaml");
}

TEST(HealthExampleConfig, ValidatesStatesTheDefaultsAndStarts) {
    sdk::ConfigErrors errors;
    auto cfg = config::validate_section(example()[kName]["config"], config_schema(),
                                        std::string("plugins.") + kName + ".config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    // The example lists every key with its default: an empty section means the same.
    sdk::ConfigErrors none;
    auto defaults = config::validate_section(YAML::Node(), config_schema(), "x", none);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(cfg, defaults);
    EXPECT_EQ(cfg.size(), config_schema().size());

    testing::FakeContextOptions o;
    o.plugin_name = kName;
    o.blocking_mode = testing::FakeBlockingPool::Mode::inline_run;
    testing::FakeContext ctx(o);
    auto made = create(ctx, cfg);
    ASSERT_TRUE(made);
    auto st = made.value()->start();
    EXPECT_TRUE(st) << st.message();
    made.value()->stop();
}

TEST(HealthExampleConfig, UnknownKeyAndBadValueRefusedWithPaths) {
    YAML::Node node = YAML::Load("{ pathh: x, synchronous: sometimes, busy_timeout_ms: -1 }");
    sdk::ConfigErrors errors;
    config::validate_section(node, config_schema(), "plugins.health_http.config", errors);
    ASSERT_EQ(errors.size(), 3u);
    bool saw_unknown = false;
    for (const auto& e : errors) {
        saw_unknown |= e.path == "plugins.health_http.config.pathh";
    }
    EXPECT_TRUE(saw_unknown);
}

}  // namespace
}  // namespace agenthost::health_http
