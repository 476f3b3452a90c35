// example.yaml is documentation the tests keep honest: it validates against the
// schema, states every default except the mandatory url, and typos are refused.
// (Starting the plugin needs a server: telemetry_plugin_test does that.)

#include <fstream>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/config/schema_validator.hpp"
#include "plugins/telemetry_postgres/telemetry_plugin.hpp"
#include "tests/support/example_config.hpp"

namespace agenthost::telemetry_postgres {
namespace {

TEST(TelemetryPgExampleConfig, ValidatesAndStatesTheDefaults) {
    YAML::Node example = YAML::LoadFile(std::string(AGENTHOST_TEST_SOURCE_DIR) +
                                        "/plugins/telemetry_postgres/example.yaml");
    sdk::ConfigErrors errors;
    auto cfg = config::validate_section(example["telemetry_postgres"]["config"], config_schema(),
                                        "plugins.telemetry_postgres.config", errors);
    for (const auto& e : errors) {
        ADD_FAILURE() << e.path << ": " << e.message;
    }
    // Everything but the url equals the schema default (url_file has none: unset).
    YAML::Node only_url;
    only_url["url"] = example["telemetry_postgres"]["config"]["url"];
    sdk::ConfigErrors none;
    auto defaults = config::validate_section(only_url, config_schema(), "x", none);
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(cfg, defaults);
    EXPECT_EQ(cfg.count("url_file"), 0u);
    sdk::ConfigErrors cross;
    validate_config(cfg, "plugins.telemetry_postgres.config", cross);
    EXPECT_TRUE(cross.empty());

    auto typed = parse_config(cfg);
    EXPECT_EQ(typed.write_mode, WriteMode::multirow);
    EXPECT_EQ(typed.ingest.max_queue_points, 200000u);
    EXPECT_EQ(typed.ingest.workers, 2u);
}

TEST(TelemetryPgExampleConfig, UnknownKeyAndBadValuesRefused) {
    testing::expect_section_refused("telemetry_postgres", config_schema(),
                                    "{ urll: x, write_mode: bulk, writers: 0 }", 3, "urll");
}

TEST(TelemetryPgExampleConfig, ExactlyOneOfUrlAndUrlFile) {
    sdk::ConfigErrors neither;
    validate_config(sdk::json::object{}, "p", neither);
    EXPECT_EQ(neither.size(), 1u);
    sdk::ConfigErrors both;
    validate_config(sdk::json::object{{"url", "postgresql://x"}, {"url_file", "/f"}}, "p", both);
    EXPECT_EQ(both.size(), 1u);
}

TEST(TelemetryPgExampleConfig, UrlFileReadAtCreate) {
    agenthost::testing::TempDir dir("tpg-url");
    const std::string file = dir.file("url");
    {
        std::ofstream out(file);
        out << "\n  postgresql://agenthost@127.0.0.1:1/agenthost  \n";
    }
    agenthost::testing::FakeContext ctx;
    auto made = create(ctx, sdk::json::object{{"url_file", file}});
    EXPECT_TRUE(made) << made.status().message();
    auto missing = create(ctx, sdk::json::object{{"url_file", dir.file("nope")}});
    EXPECT_EQ(missing.status().code(), sdk::Errc::invalid_argument);
}

TEST(TelemetryPgExampleConfig, UrlIsSecret) {
    for (const auto& f : config_schema()) {
        if (f.key == "url") {
            EXPECT_TRUE(f.secret);
        }
    }
}

}  // namespace
}  // namespace agenthost::telemetry_postgres
