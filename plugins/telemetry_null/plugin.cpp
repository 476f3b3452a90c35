// telemetry_null: descriptor and entry point only (logic in null_store.cpp).
#include <agenthost/plugin.hpp>

#include "plugins/telemetry_null/null_store.hpp"

namespace {

const agenthost::sdk::PluginDescriptor& descriptor() {
    static const agenthost::sdk::PluginDescriptor d{
        .name = "telemetry_null",
        .version = "1.0.0",
        .description = "Benchmark only: acks telemetry without storing it",
        .provides = {std::string(agenthost::sdk::capability::telemetry)},
        .requires_capabilities = {},
        .config_schema = agenthost::telemetry_null::config_schema(),
        .validate = {},
        .create = &agenthost::telemetry_null::create,
    };
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
