// Declares capability "queue" but never registers it: stage "provide".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = [] {
        auto d = agenthost::test::simple_descriptor("bad_no_provide");
        d.provides = {"queue"};
        return d;
    }();
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
