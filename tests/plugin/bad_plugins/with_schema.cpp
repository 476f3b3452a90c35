// A valid plugin with a schema (depth: integer 1..100, default 10). Tests give it an
// unknown key or a wrong type to be refused at stage "config".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    namespace sdk = agenthost::sdk;
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor("bad_with_schema");
        d.config_schema = {
            sdk::integer_field("depth").range(1, 100).fallback(10).describe("queue depth"),
        };
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
