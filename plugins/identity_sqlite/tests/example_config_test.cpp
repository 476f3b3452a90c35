// example.yaml is documentation the tests keep honest: see
// tests/support/example_config.hpp for what is checked.

#include <gtest/gtest.h>

#include "plugins/identity_sqlite/identity_plugin.hpp"
#include "tests/support/example_config.hpp"

namespace agenthost::identity_sqlite {
namespace {

TEST(IdentityExampleConfig, ValidatesStatesTheDefaultsAndStarts) {
    testing::expect_example_config_starts("identity_sqlite", config_schema(), create);
}

TEST(IdentityExampleConfig, UnknownKeyAndBadValueRefusedWithPaths) {
    testing::expect_section_refused("identity_sqlite", config_schema(),
                                    "{ pathh: x, synchronous: sometimes, busy_timeout_ms: -1 }",
                                    3, "pathh");
}

}  // namespace
}  // namespace agenthost::identity_sqlite
