#include "plugins/_common_redis/url_config.hpp"
#include "plugins/queue_redis/queue_plugin.hpp"

#include <string>

namespace agenthost::plugins::queue_redis {

QueueRedisPlugin::QueueRedisPlugin(sdk::PluginContext& ctx, const QueueConfig& config,
                                   redis::Endpoint endpoint)
    : ctx_(ctx), queue_(RedisQueue::create(ctx, config, std::move(endpoint))) {}

QueueRedisPlugin::~QueueRedisPlugin() {
    queue_->shutdown();
}

sdk::Status QueueRedisPlugin::start() {
    if (auto st = queue_->start(); !st.ok()) {
        return st;
    }
    if (auto st = ctx_.services().provide<sdk::CommandQueue>(queue_.get()); !st.ok()) {
        queue_->shutdown();
        return st;
    }
    // Redis down: enqueue answers 503, so the host is not ready (a load balancer sends
    // operators elsewhere); sessions stay up. Weak: the registry may outlive us.
    std::weak_ptr<RedisQueue> weak = queue_;
    ctx_.health().add_check("queue_redis:latency", true, [weak] {
        sdk::HealthReport r;
        r.component_type = "datastore";
        r.observed_unit = "ms";
        auto q = weak.lock();
        if (!q) {
            r.state = sdk::HealthState::fail;
            r.output = "queue stopped";
            return r;
        }
        r.observed_value = q->ping_latency_ms();
        if (!q->healthy()) {
            r.state = sdk::HealthState::fail;
            r.output = "redis unreachable: " + q->last_error();
        }
        return r;
    });
    // The depth never fails readiness: a full agent queue is a 429 for that agent.
    ctx_.health().add_check("queue:depth", false, [weak] {
        sdk::HealthReport r;
        r.component_type = "component";
        r.observed_unit = "commands";
        auto q = weak.lock();
        r.observed_value = q ? static_cast<double>(q->depth()) : 0.0;
        return r;
    });
    return {};
}

void QueueRedisPlugin::stop() noexcept {
    queue_->shutdown();
}

sdk::Result<std::unique_ptr<sdk::Plugin>> make_plugin(sdk::PluginContext& ctx,
                                                      const sdk::json::object& config) {
    const QueueConfig c = parse_config(config);
    auto url = redis::resolve_url(c.url, c.url_file);
    if (!url.ok()) {
        return url.status();
    }
    auto ep = redis::parse_url(*url);
    if (!ep.ok()) {
        return ep.status();
    }
    return std::unique_ptr<sdk::Plugin>(std::make_unique<QueueRedisPlugin>(ctx, c, *ep));
}

}  // namespace agenthost::plugins::queue_redis
