#pragma once
// QueueRedisPlugin: the Plugin object of queue_redis. Owns the RedisQueue, registers
// it as the "queue" capability with its health checks, and shuts it down.

#include <memory>

#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/queue_redis/queue_config.hpp"
#include "plugins/queue_redis/redis_queue.hpp"

namespace agenthost::plugins::queue_redis {

class QueueRedisPlugin final : public sdk::Plugin {
public:
    QueueRedisPlugin(sdk::PluginContext& ctx, const QueueConfig& config,
                     redis::Endpoint endpoint);
    ~QueueRedisPlugin() override;

    sdk::Status start() override;
    void stop() noexcept override;

    RedisQueue& queue() noexcept { return *queue_; }

private:
    sdk::PluginContext& ctx_;
    std::shared_ptr<RedisQueue> queue_;
};

// The factory: resolves the URL (url or url_file), fail-closed on anything wrong.
sdk::Result<std::unique_ptr<sdk::Plugin>> make_plugin(sdk::PluginContext& ctx,
                                                      const sdk::json::object& config);

}  // namespace agenthost::plugins::queue_redis
