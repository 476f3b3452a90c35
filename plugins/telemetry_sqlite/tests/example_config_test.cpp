// example.yaml is documentation the tests keep honest: see
// tests/support/example_config.hpp for what is checked.

#include <gtest/gtest.h>

#include "plugins/telemetry_sqlite/telemetry_plugin.hpp"
#include "tests/support/example_config.hpp"

namespace agenthost::telemetry_sqlite {
namespace {

TEST(TelemetryExampleConfig, ValidatesStatesTheDefaultsAndStarts) {
    testing::expect_example_config_starts("telemetry_sqlite", config_schema(), create);
}

TEST(TelemetryExampleConfig, UnknownKeyAndBadValueRefusedWithPaths) {
    testing::expect_section_refused("telemetry_sqlite", config_schema(),
                                    "{ pathh: x, synchronous: sometimes, busy_timeout_ms: -1 }",
                                    3, "pathh");
}

}  // namespace
}  // namespace agenthost::telemetry_sqlite
