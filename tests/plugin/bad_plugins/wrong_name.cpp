// The descriptor's name differs from the library/entry name: stage "descriptor".
#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    static const auto d = agenthost::test::simple_descriptor("someone_else");
    return d;
}
}  // namespace

AGENTHOST_PLUGIN(entry)
