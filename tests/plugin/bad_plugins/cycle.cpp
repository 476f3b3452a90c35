// Built twice: bad_cycle_a (provides cycle_x, requires cycle_y) and bad_cycle_b (the
// reverse): a dependency cycle, refused at stage "requires".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor(BAD_PLUGIN_NAME);
        d.provides = {BAD_PROVIDES};
        d.requires_capabilities = {BAD_REQUIRES};
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
