// telemetry_postgres: descriptor and entry point only; the logic is in
// telemetry_plugin.cpp, ingest_queue.cpp, telemetry_pg.cpp and rows.cpp.

#include <agenthost/plugin.hpp>

#include "plugins/telemetry_postgres/telemetry_plugin.hpp"

namespace {

const agenthost::sdk::PluginDescriptor& descriptor() {
    static const agenthost::sdk::PluginDescriptor d{
        .name = "telemetry_postgres",
        .version = "1.0.0",
        .description =
            "Idempotent, group-committed storage of command results and telemetry "
            "in PostgreSQL",
        .provides = {std::string(agenthost::sdk::capability::telemetry)},
        .requires_capabilities = {},
        .config_schema = agenthost::telemetry_postgres::config_schema(),
        .validate = &agenthost::telemetry_postgres::validate_config,
        .create = &agenthost::telemetry_postgres::create,
    };
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
