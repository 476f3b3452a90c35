#pragma once
// QueueMemoryPlugin: the Plugin object of queue_memory. Owns the MemoryQueue,
// registers it as the "queue" capability and its health check, and shuts it down.

#include <memory>

#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/queue_memory/memory_queue.hpp"
#include "plugins/queue_memory/queue_config.hpp"

namespace agenthost::plugins::queue_memory {

class QueueMemoryPlugin final : public sdk::Plugin {
public:
    QueueMemoryPlugin(sdk::PluginContext& ctx, const QueueConfig& config);
    ~QueueMemoryPlugin() override;

    sdk::Status start() override;
    void stop() noexcept override;

    MemoryQueue& queue() noexcept { return *queue_; }

private:
    sdk::PluginContext& ctx_;
    std::shared_ptr<MemoryQueue> queue_;
};

}  // namespace agenthost::plugins::queue_memory
