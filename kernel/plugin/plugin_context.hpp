#pragma once
// One PluginContext per plugin instance. The services it hands out are thin views
// of the Runtime's registries that tag every registration with the plugin's name, so
// the loader can (a) check that a plugin really provided what it declared and
// (b) withdraw its routes, health checks, services and callback gauges when it stops.

#include <memory>
#include <string>
#include <string_view>

#include <agenthost/context.hpp>

#include "kernel/runtime/runtime.hpp"

namespace agenthost::plugin {

class PluginContextImpl final : public sdk::PluginContext {
public:
    // `state_dir` must already exist (see make_state_dir()).
    PluginContextImpl(runtime::Runtime& rt, std::string name, std::string state_dir);
    ~PluginContextImpl() override;

    std::string_view plugin_name() const noexcept override { return name_; }
    std::string_view role() const noexcept override;
    std::string_view host_id() const noexcept override;
    const std::string& state_dir() const noexcept override { return state_dir_; }

    sdk::Logger& logger() noexcept override { return *logger_; }
    sdk::Metrics& metrics() noexcept override;
    sdk::Scheduler& scheduler() noexcept override;
    sdk::BlockingPool& blocking() noexcept override;
    sdk::Clock& clock() noexcept override;
    sdk::ServiceRegistry& services() noexcept override;
    sdk::RouteRegistry& routes() noexcept override;
    sdk::HealthRegistry& health() noexcept override;
    sdk::AuditSink& audit() noexcept override;

    // Did this plugin provide `capability`? ("http_routes": registered ≥ 1 route.)
    bool provided(std::string_view capability) const;
    // Before Plugin::stop(): scrapes no longer call into the plugin.
    void drop_callbacks();
    // After Plugin::stop(), before destruction: routes, checks, services withdrawn.
    void withdraw_all();

private:
    struct Views;
    runtime::Runtime& rt_;
    std::string name_;
    std::string state_dir_;
    std::shared_ptr<sdk::Logger> logger_;
    std::unique_ptr<Views> views_;
};

// Creates <base>/<name>/ with mode 0700 (tightening an existing one). Returns the
// path without a trailing slash ("<base>/<name>"), or an error naming the directory.
sdk::Result<std::string> make_state_dir(const std::string& base, const std::string& name);

}  // namespace agenthost::plugin
