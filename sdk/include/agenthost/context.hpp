#pragma once
// The plugin context: every kernel service a plugin may use, through one object.
// One context per plugin instance; it outlives the plugin object.

#include <string>
#include <string_view>

#include <agenthost/audit.hpp>
#include <agenthost/health.hpp>
#include <agenthost/http.hpp>
#include <agenthost/logger.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/scheduler.hpp>
#include <agenthost/services.hpp>

namespace agenthost::sdk {

class PluginContext {
public:
    virtual ~PluginContext() = default;
    virtual std::string_view plugin_name() const noexcept = 0;
    virtual std::string_view role() const noexcept = 0;     // "backend" or "gateway"
    virtual std::string_view host_id() const noexcept = 0;  // this process's host id
    // A directory this plugin may write its state to (created by the kernel).
    virtual const std::string& state_dir() const noexcept = 0;

    virtual Logger& logger() noexcept = 0;  // lines are tagged with the plugin name
    virtual Metrics& metrics() noexcept = 0;
    virtual Scheduler& scheduler() noexcept = 0;
    virtual BlockingPool& blocking() noexcept = 0;
    virtual Clock& clock() noexcept = 0;
    virtual ServiceRegistry& services() noexcept = 0;
    virtual RouteRegistry& routes() noexcept = 0;
    virtual HealthRegistry& health() noexcept = 0;
    // Always usable: forwards to the audit capability once it is started.
    virtual AuditSink& audit() noexcept = 0;
};

}  // namespace agenthost::sdk
