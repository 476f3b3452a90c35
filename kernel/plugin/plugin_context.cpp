// Per-plugin context: owner-tagging views of the runtime's registries.
#include "kernel/plugin/plugin_context.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <sys/stat.h>

#include "kernel/runtime/health_table.hpp"
#include "kernel/runtime/metrics_registry.hpp"
#include "kernel/runtime/service_table.hpp"

namespace agenthost::plugin {
namespace {

class OwnedServices final : public sdk::ServiceRegistry {
public:
    OwnedServices(runtime::ServiceTable& t, std::string owner) : t_(t), owner_(std::move(owner)) {}
    sdk::Status provide_raw(std::string_view capability, void* service) override {
        return t_.provide_owned(owner_, capability, service);
    }
    void* find_raw(std::string_view capability) const override { return t_.find_raw(capability); }
    std::vector<void*> find_all_raw(std::string_view capability) const override {
        return t_.find_all_raw(capability);
    }

private:
    runtime::ServiceTable& t_;
    std::string owner_;
};

class OwnedRoutes final : public sdk::RouteRegistry {
public:
    OwnedRoutes(runtime::RouteTable& t, std::string owner) : t_(t), owner_(std::move(owner)) {}
    sdk::Status add(sdk::Listener listener, std::string method, std::string path,
                    sdk::HttpHandler handler) override {
        return t_.add_owned(owner_, listener, std::move(method), std::move(path),
                            std::move(handler));
    }

private:
    runtime::RouteTable& t_;
    std::string owner_;
};

class OwnedHealth final : public sdk::HealthRegistry {
public:
    OwnedHealth(runtime::HealthTable& t, std::string owner) : t_(t), owner_(std::move(owner)) {}
    void add_check(std::string name, bool affects_readiness, sdk::HealthCheck check) override {
        t_.add_check_owned(owner_, std::move(name), affects_readiness, std::move(check));
    }
    std::vector<std::pair<std::string, sdk::HealthReport>> evaluate() const override {
        return t_.evaluate();
    }
    bool ready() const override { return t_.ready(); }

private:
    runtime::HealthTable& t_;
    std::string owner_;
};

class OwnedMetrics final : public sdk::Metrics {
public:
    OwnedMetrics(runtime::MetricsRegistry& m, std::string owner)
        : m_(m), owner_(std::move(owner)) {}
    sdk::Counter& counter(std::string_view name, std::string_view help,
                          const sdk::Labels& labels) override {
        return m_.counter(name, help, labels);
    }
    sdk::Gauge& gauge(std::string_view name, std::string_view help,
                      const sdk::Labels& labels) override {
        return m_.gauge(name, help, labels);
    }
    sdk::Histogram& histogram(std::string_view name, std::string_view help,
                              std::vector<double> buckets, const sdk::Labels& labels) override {
        return m_.histogram(name, help, std::move(buckets), labels);
    }
    void callback_gauge(std::string_view name, std::string_view help, const sdk::Labels& labels,
                        std::function<double()> fn) override {
        m_.callback_gauge_owned(owner_, name, help, labels, std::move(fn));
    }
    std::string render_prometheus() const override { return m_.render_prometheus(); }

private:
    runtime::MetricsRegistry& m_;
    std::string owner_;
};

}  // namespace

struct PluginContextImpl::Views {
    OwnedServices services;
    OwnedRoutes routes;
    OwnedHealth health;
    OwnedMetrics metrics;
};

PluginContextImpl::PluginContextImpl(runtime::Runtime& rt, std::string name, std::string state_dir)
    : rt_(rt),
      name_(std::move(name)),
      state_dir_(std::move(state_dir)),
      logger_(rt.logger("plugin:" + name_)),
      views_(std::make_unique<Views>(Views{{rt.service_table(), name_},
                                           {rt.routes(), name_},
                                           {rt.health_table(), name_},
                                           {rt.metrics_registry(), name_}})) {}

PluginContextImpl::~PluginContextImpl() = default;

std::string_view PluginContextImpl::role() const noexcept {
    return rt_.options().role;
}
std::string_view PluginContextImpl::host_id() const noexcept {
    return rt_.options().host_id;
}
sdk::Metrics& PluginContextImpl::metrics() noexcept {
    return views_->metrics;
}
sdk::Scheduler& PluginContextImpl::scheduler() noexcept {
    return rt_.scheduler();
}
sdk::BlockingPool& PluginContextImpl::blocking() noexcept {
    return rt_.blocking();
}
sdk::Clock& PluginContextImpl::clock() noexcept {
    return rt_.clock();
}
sdk::ServiceRegistry& PluginContextImpl::services() noexcept {
    return views_->services;
}
sdk::RouteRegistry& PluginContextImpl::routes() noexcept {
    return views_->routes;
}
sdk::HealthRegistry& PluginContextImpl::health() noexcept {
    return views_->health;
}
sdk::AuditSink& PluginContextImpl::audit() noexcept {
    return rt_.audit();
}

bool PluginContextImpl::provided(std::string_view capability) const {
    if (capability == sdk::capability::http_routes) {
        return rt_.routes().count_owned(name_) > 0;
    }
    for (const auto& c : rt_.service_table().provided_by(name_)) {
        if (c == capability) {
            return true;
        }
    }
    return false;
}

void PluginContextImpl::drop_callbacks() {
    rt_.metrics_registry().drop_callbacks(name_);
}

void PluginContextImpl::withdraw_all() {
    rt_.routes().remove_owner(name_);
    rt_.health_table().remove_owner(name_);
    rt_.service_table().withdraw_owner(name_);
}

sdk::Result<std::string> make_state_dir(const std::string& base, const std::string& name) {
    namespace fs = std::filesystem;
    if (base.empty()) {
        return sdk::error(sdk::Errc::invalid_argument, "state_dir is not configured");
    }
    fs::path dir = fs::path(base) / name;
    std::error_code ec;
    fs::create_directories(base, ec);
    if (ec) {
        return sdk::error(sdk::Errc::unavailable,
                          "cannot create state_dir " + base + ": " + ec.message());
    }
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return sdk::error(sdk::Errc::unavailable,
                          "cannot create " + dir.string() + ": " + std::strerror(errno));
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return sdk::error(sdk::Errc::unavailable, dir.string() + " is not a directory");
    }
    // Plugin state (databases, spools, audit chains) is private to this service user.
    if ((st.st_mode & 0777) != 0700 && ::chmod(dir.c_str(), 0700) != 0) {
        return sdk::error(sdk::Errc::permission_denied,
                          "cannot set mode 0700 on " + dir.string() + ": " + std::strerror(errno));
    }
    return dir.string();
}

}  // namespace agenthost::plugin
