// audit_file: descriptor and entry point only (logic in audit_writer.cpp).
#include <agenthost/sdk.hpp>

#include "plugins/audit_file/audit_config.hpp"
#include "plugins/audit_file/audit_plugin.hpp"

namespace agenthost::plugins::audit_file {
namespace {

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "audit_file",
        .version = "1.1.0",
        .description = "Audit trail: HMAC-chained JSON lines, checkpoints, rotation (0600)",
        .provides = {std::string(sdk::capability::audit)},
        .requires_capabilities = {},
        .config_schema = config_schema(),
        .validate = validate_config,
        .create = [](sdk::PluginContext& ctx,
                     const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<AuditFilePlugin>(ctx, parse_config(config)));
        },
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::audit_file

AGENTHOST_PLUGIN(agenthost::plugins::audit_file::descriptor)
