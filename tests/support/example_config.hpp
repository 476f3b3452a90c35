#pragma once
// Shared check that a plugin's example.yaml is documentation the tests keep honest:
// its config section passes the kernel's validator against the plugin's schema,
// states every default, and the plugin starts with it; a typo'd key is refused
// with its YAML path. Used by the plugins' example_config tests.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "kernel/config/schema_validator.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::testing {

// `create(ctx, cfg)` is the plugin's factory. Needs AGENTHOST_TEST_SOURCE_DIR.
template <typename Create>
void expect_example_config_starts(const std::string& name, const sdk::Schema& schema,
                                  Create create) {
    YAML::Node example = YAML::LoadFile(std::string(AGENTHOST_TEST_SOURCE_DIR) + "/plugins/" +
                                        name + "/example.yaml");
    sdk::ConfigErrors errors;
    auto cfg = config::validate_section(example[name]["config"], schema,
                                        "plugins." + name + ".config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    // The example lists every key with its default: an empty section means the same.
    sdk::ConfigErrors none;
    auto defaults = config::validate_section(YAML::Node(), schema, "x", none);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(cfg, defaults);
    EXPECT_EQ(cfg.size(), schema.size());

    FakeContextOptions o;
    o.plugin_name = name;
    o.blocking_mode = FakeBlockingPool::Mode::inline_run;
    FakeContext ctx(o);
    auto made = create(ctx, cfg);
    ASSERT_TRUE(made);
    auto st = made.value()->start();
    EXPECT_TRUE(st) << st.message();
    made.value()->stop();
}

// `yaml` holds `expected_errors` faults, one of them the unknown key `unknown_key`.
inline void expect_section_refused(const std::string& name, const sdk::Schema& schema,
                                   const std::string& yaml, std::size_t expected_errors,
                                   const std::string& unknown_key) {
    sdk::ConfigErrors errors;
    config::validate_section(YAML::Load(yaml), schema, "plugins." + name + ".config", errors);
    EXPECT_EQ(errors.size(), expected_errors);
    bool saw_unknown = false;
    for (const auto& e : errors) {
        saw_unknown |= e.path == "plugins." + name + ".config." + unknown_key;
    }
    EXPECT_TRUE(saw_unknown);
}

}  // namespace agenthost::testing
