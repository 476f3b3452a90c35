// queue_memory: descriptor and entry point only (logic in memory_queue.cpp).
#include <agenthost/sdk.hpp>

#include "plugins/queue_memory/queue_config.hpp"
#include "plugins/queue_memory/queue_plugin.hpp"

namespace agenthost::plugins::queue_memory {
namespace {

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "queue_memory",
        .version = "1.0.0",
        .description = "In-process command queue (bounded, retries, dead-letter); not durable",
        .provides = {std::string(sdk::capability::queue)},
        .requires_capabilities = {},
        .config_schema = config_schema(),
        .validate = validate_config,
        .create = [](sdk::PluginContext& ctx,
                     const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<QueueMemoryPlugin>(ctx, parse_config(config)));
        },
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::queue_memory

AGENTHOST_PLUGIN(agenthost::plugins::queue_memory::descriptor)
