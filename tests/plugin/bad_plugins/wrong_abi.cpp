// Exports an ABI tag from another SDK build and an entry that aborts the process: the
// loader must refuse at stage "abi" without ever calling the entry.
#include <cstdlib>

#include "tests/plugin/bad_plugins/simple_plugin.hpp"

extern "C" BOOST_SYMBOL_EXPORT const char agenthost_abi_tag[];
extern "C" BOOST_SYMBOL_EXPORT const char agenthost_abi_tag[] =
    "agenthost-sdk/0;cxx=gcc-4;stdlib=libstdc++-cow;boost=106600;hdr=0000000000000000";

namespace {
const agenthost::sdk::PluginDescriptor& entry() {
    std::abort();
}
}  // namespace

BOOST_DLL_ALIAS(entry, agenthost_plugin_entry_v1)
