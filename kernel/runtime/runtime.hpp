#pragma once
// The kernel runtime: the event loops (one io_context per loop thread, a small fixed
// number), the blocking pool, the clock, logging, metrics, health, routes, the
// service registry and the audit forwarder. One Runtime per process (tests may make
// several). Implementations live in kernel/runtime/*.cpp; only runtime.cpp and the
// net/ TUs include Asio.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/sdk.hpp>

namespace boost::asio {
class io_context;
}

namespace agenthost::runtime {

class MetricsRegistry;  // kernel/runtime/metrics_registry.hpp
class HealthTable;      // kernel/runtime/health_table.hpp
class ServiceTable;     // kernel/runtime/service_table.hpp
class AuditForwarder;   // kernel/runtime/audit_forwarder.hpp

struct RuntimeOptions {
    unsigned loop_threads = 2;
    unsigned blocking_threads = 4;
    std::string log_level = "info";   // trace|debug|info|warn|error
    std::string log_format = "text";  // text|json
    std::string host_id = "host";
    std::string role = "backend";
};

// A registered HTTP route, as matched by the listeners in kernel/net.
struct RouteMatch {
    sdk::HttpHandler handler;
};

class RouteTable final : public sdk::RouteRegistry {
public:
    sdk::Status add(sdk::Listener listener, std::string method, std::string path,
                    sdk::HttpHandler handler) override;
    // As add(), remembering `owner` (a plugin name; "" is the kernel) so that the
    // plugin loader can withdraw a plugin's routes when it stops it.
    sdk::Status add_owned(std::string owner, sdk::Listener listener, std::string method,
                          std::string path, sdk::HttpHandler handler);
    void remove_owner(std::string_view owner);
    std::size_t count_owned(std::string_view owner) const;
    // Exact path first, then the longest matching prefix route ("/x/*").
    // nullopt: 404 (or 405 when the path exists with another method: `method_mismatch`).
    std::optional<RouteMatch> match(sdk::Listener listener, std::string_view method,
                                    std::string_view path, bool* method_mismatch = nullptr) const;
    void remove_all();

private:
    struct Route {
        std::string owner;
        sdk::Listener listener;
        std::string method;
        std::string path;
        bool prefix;
        sdk::HttpHandler handler;
    };
    mutable std::mutex mu_;
    std::vector<Route> routes_;
};

class Runtime {
public:
    explicit Runtime(RuntimeOptions options);
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // The main loop: listeners, plugin timers and posts (sdk::Scheduler), the API.
    boost::asio::io_context& io();
    // The loop a new agent connection lives on: loop threads each run their own
    // io_context, and connections are spread over them in turn (io() is one of them).
    boost::asio::io_context& connection_io();
    sdk::Scheduler& scheduler();
    sdk::BlockingPool& blocking();
    sdk::Clock& clock();
    sdk::Metrics& metrics();
    sdk::HealthRegistry& health();
    RouteTable& routes();
    sdk::ServiceRegistry& services();
    sdk::AuditSink& audit();  // forwards to the "audit" capability once provided
    // A logger whose lines carry `component` (e.g. "kernel", "plugin:queue_memory").
    std::shared_ptr<sdk::Logger> logger(std::string_view component);
    const RuntimeOptions& options() const;

    // The concrete registries behind the SDK interfaces above, with the owner-aware
    // calls the plugin loader needs (include the matching header to use them).
    MetricsRegistry& metrics_registry();
    HealthTable& health_table();
    ServiceTable& service_table();
    AuditForwarder& audit_forwarder();

    // Draining: readiness goes false immediately (HealthRegistry::ready()).
    void set_draining(bool draining);
    bool draining() const;

    // Runs the loop on `loop_threads` threads until stop(); the calling thread is one
    // of them. Returns after every loop thread has finished.
    void run();
    // Starts loop threads in the background (tests); stop() joins them.
    void start_background();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace agenthost::runtime
