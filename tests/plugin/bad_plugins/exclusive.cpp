// Built twice (BAD_PLUGIN_NAME = bad_exclusive_one / bad_exclusive_two): both provide
// the exclusive capability "replay", so enabling both fails at stage "exclusive".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor(BAD_PLUGIN_NAME);
        d.provides = {"replay"};
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
