// telemetry_sqlite: descriptor and entry point only; the logic is in
// telemetry_plugin.cpp and telemetry_db.cpp.

#include <agenthost/plugin.hpp>

#include "plugins/telemetry_sqlite/telemetry_plugin.hpp"

namespace {

const agenthost::sdk::PluginDescriptor& descriptor() {
    static const agenthost::sdk::PluginDescriptor d{
        .name = "telemetry_sqlite",
        .version = "1.0.0",
        .description = "Idempotent, durable storage of command results and telemetry in SQLite",
        .provides = {std::string(agenthost::sdk::capability::telemetry)},
        .requires_capabilities = {},
        .config_schema = agenthost::telemetry_sqlite::config_schema(),
        .validate = {},
        .create = &agenthost::telemetry_sqlite::create,
    };
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
