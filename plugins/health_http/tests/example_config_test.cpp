// example.yaml is documentation the tests keep honest: see
// tests/support/example_config.hpp for what is checked.

#include <gtest/gtest.h>

#include "plugins/health_http/health_plugin.hpp"
#include "tests/support/example_config.hpp"

namespace agenthost::health_http {
namespace {

TEST(HealthExampleConfig, ValidatesStatesTheDefaultsAndStarts) {
    testing::expect_example_config_starts("health_http", config_schema(), create);
}

TEST(HealthExampleConfig, UnknownKeyAndBadValueRefusedWithPaths) {
    testing::expect_section_refused("health_http", config_schema(),
                                    "{ pathh: x, synchronous: sometimes, busy_timeout_ms: -1 }",
                                    3, "pathh");
}

}  // namespace
}  // namespace agenthost::health_http
