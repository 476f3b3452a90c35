// identity_postgres: descriptor and entry point only; the logic is in identity_plugin.cpp
// and identity_pg.cpp.

#include <agenthost/capabilities/migrations.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/identity_postgres/identity_plugin.hpp"

namespace {

const agenthost::sdk::PluginDescriptor& descriptor() {
    namespace cap = agenthost::sdk::capability;
    static const agenthost::sdk::PluginDescriptor d{
        .name = "identity_postgres",
        .version = "1.0.0",
        .description = "Agent registry and cluster-wide single-session leases in PostgreSQL",
        .provides = {std::string(cap::identity), std::string(cap::schema_migrations)},
        .requires_capabilities = {},
        .config_schema = agenthost::identity_postgres::config_schema(),
        .validate = &agenthost::identity_postgres::validate_config,
        .create = &agenthost::identity_postgres::create,
    };
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
