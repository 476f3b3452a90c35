// Requires a capability nobody provides: stage "requires".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor("bad_unmet_requirement");
        d.requires_capabilities = {"replay"};
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
