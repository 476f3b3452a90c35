// replay_redis: descriptor and entry point only (logic in redis_replay_cache.cpp).
#include <agenthost/sdk.hpp>

#include "plugins/replay_redis/redis_replay_cache.hpp"
#include "plugins/replay_redis/replay_config.hpp"

namespace agenthost::plugins::replay_redis {
namespace {

const sdk::PluginDescriptor& descriptor() {
    static const sdk::PluginDescriptor d{
        .name = "replay_redis",
        .version = "1.0.0",
        .description =
            "Cluster-wide nonce cache on Redis (SET NX PX per agent and nonce); Redis "
            "down: refuses frames (default) or, with fallback: local, answers from a "
            "local nonce cache and writes it back later",
        .provides = {std::string(sdk::capability::replay)},
        .requires_capabilities = {},
        .config_schema = config_schema(),
        .validate = validate_config,
        .create = make_plugin,
    };
    return d;
}

}  // namespace
}  // namespace agenthost::plugins::replay_redis

AGENTHOST_PLUGIN(agenthost::plugins::replay_redis::descriptor)
