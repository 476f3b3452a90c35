// An entry alias without the ABI tag (not built with AGENTHOST_PLUGIN): stage "abi";
// the entry aborts to prove it is never called.
#include <cstdlib>

#include "tests/plugin/bad_plugins/simple_plugin.hpp"

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    std::abort();
}
}  // namespace

BOOST_DLL_ALIAS(entry, agenthost_plugin_entry_v1)
