// queue_redis: descriptor and entry point only (logic in redis_queue.cpp).
#include <agenthost/sdk.hpp>

#include "plugins/queue_redis/queue_config.hpp"
#include "plugins/queue_redis/queue_plugin.hpp"

namespace agenthost::plugins::queue_redis {
namespace {

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "queue_redis",
        .version = "1.0.0",
        .description = "Durable, cluster-wide command queue on Redis streams (bounded, "
                       "retries, dead-letter)",
        .provides = {std::string(sdk::capability::queue)},
        .requires_capabilities = {},
        .config_schema = config_schema(),
        .validate = validate_config,
        .create = make_plugin,
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::queue_redis

AGENTHOST_PLUGIN(agenthost::plugins::queue_redis::descriptor)
