#pragma once
// The health_http plugin object: registers GET /readyz, /healthz and /metrics on the
// kernel's plain health listener (/livez belongs to the kernel). Handlers answer
// inline on the listener's thread: health checks and metric rendering are cheap by
// contract (cached values), so nothing here blocks.

#include <atomic>
#include <memory>
#include <string>

#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

namespace agenthost::health_http {

struct HealthHttpConfig {
    bool expose_metrics = true;  // register GET /metrics
    bool readyz_details = true;  // name the failing checks in a 503 /readyz body
};

sdk::Schema config_schema();
sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config);

class HealthHttpPlugin final : public sdk::Plugin {
public:
    HealthHttpPlugin(sdk::PluginContext& ctx, HealthHttpConfig config);
    sdk::Status start() override;
    void stop() noexcept override;

private:
    // Shared with the handlers, which the route table may keep after stop().
    struct State {
        sdk::PluginContext* ctx = nullptr;
        HealthHttpConfig config;
        std::atomic<bool> stopped{false};
    };

    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace agenthost::health_http
