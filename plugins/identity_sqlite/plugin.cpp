// identity_sqlite: descriptor and entry point only; the logic is in identity_plugin.cpp
// and identity_db.cpp.

#include <agenthost/plugin.hpp>

#include "plugins/identity_sqlite/identity_plugin.hpp"

namespace {

const agenthost::sdk::PluginDescriptor& descriptor() {
    static const agenthost::sdk::PluginDescriptor d{
        .name = "identity_sqlite",
        .version = "1.0.0",
        .description = "Agent registry and single-session leases in an embedded SQLite file",
        .provides = {std::string(agenthost::sdk::capability::identity)},
        .requires_capabilities = {},
        .config_schema = agenthost::identity_sqlite::config_schema(),
        .validate = {},
        .create = &agenthost::identity_sqlite::create,
    };
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
