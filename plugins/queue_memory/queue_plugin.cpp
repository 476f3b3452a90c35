#include "plugins/queue_memory/queue_plugin.hpp"

#include <string>

namespace agenthost::plugins::queue_memory {

QueueMemoryPlugin::QueueMemoryPlugin(sdk::PluginContext& ctx, const QueueConfig& config)
    : ctx_(ctx), queue_(MemoryQueue::create(ctx, config)) {}

QueueMemoryPlugin::~QueueMemoryPlugin() {
    queue_->shutdown();
}

sdk::Status QueueMemoryPlugin::start() {
    if (auto st = ctx_.services().provide<sdk::CommandQueue>(queue_.get()); !st.ok()) {
        return st;
    }
    // Reports the depth; never fails readiness (a full agent queue is a 429 for that
    // agent, not an unhealthy host). Holds a weak_ptr: the registry may outlive us.
    std::weak_ptr<MemoryQueue> weak = queue_;
    ctx_.health().add_check("queue:depth", false, [weak] {
        sdk::HealthReport r;
        r.component_type = "component";
        r.observed_unit = "commands";
        auto q = weak.lock();
        r.observed_value = q ? static_cast<double>(q->depth()) : 0.0;
        return r;
    });
    ctx_.logger().warn("queue_memory keeps commands in memory only: a restart loses them");
    return {};
}

void QueueMemoryPlugin::stop() noexcept {
    queue_->shutdown();
}

}  // namespace agenthost::plugins::queue_memory
