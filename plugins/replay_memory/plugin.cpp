// replay_memory: descriptor and entry point only (logic in memory_replay_cache.cpp).
#include <agenthost/sdk.hpp>

#include "plugins/replay_memory/memory_replay_cache.hpp"
#include "plugins/replay_memory/replay_config.hpp"

namespace agenthost::plugins::replay_memory {
namespace {

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "replay_memory",
        .version = "1.0.0",
        .description = "In-process nonce cache (bounded, TTL, refuses when full); one host only",
        .provides = {std::string(sdk::capability::replay)},
        .requires_capabilities = {},
        .config_schema = config_schema(),
        .validate = {},
        .create = [](sdk::PluginContext& ctx,
                     const sdk::json::object& config) -> sdk::Result<std::unique_ptr<sdk::Plugin>> {
            return std::unique_ptr<sdk::Plugin>(
                std::make_unique<MemoryReplayCache>(ctx, parse_config(config)));
        },
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::replay_memory

AGENTHOST_PLUGIN(agenthost::plugins::replay_memory::descriptor)
