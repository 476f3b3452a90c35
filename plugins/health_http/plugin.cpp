// health_http: descriptor and entry point only; the logic is in health_plugin.cpp
// and render.cpp.

#include <agenthost/plugin.hpp>

#include "plugins/health_http/health_plugin.hpp"

namespace {

const agenthost::sdk::PluginDescriptor& descriptor() {
    static const agenthost::sdk::PluginDescriptor d{
        .name = "health_http",
        .version = "1.0.0",
        .description =
            "GET /readyz, /healthz (application/health+json) and /metrics on the "
            "health listener",
        .provides = {std::string(agenthost::sdk::capability::health)},
        .requires_capabilities = {},
        .config_schema = agenthost::health_http::config_schema(),
        .validate = {},
        .create = &agenthost::health_http::create,
    };
    return d;
}

}  // namespace

AGENTHOST_PLUGIN(descriptor)
