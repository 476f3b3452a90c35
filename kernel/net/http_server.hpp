#pragma once
// The kernel's HTTP listeners (API.md): the plain health listener and the HTTPS
// operator listener. Parses and bounds requests, authenticates before routing
// (401 before 404), dispatches to the RouteTable, and writes the handler's answer.
//
// Threading: handlers run on the connection's strand (a loop thread) and must not
// block; their responder may be called from any thread, exactly once.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <agenthost/health.hpp>
#include <agenthost/http.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/status.hpp>

#include "kernel/net/endpoint.hpp"
#include "kernel/net/tls.hpp"

namespace agenthost::runtime {
class Runtime;
}

namespace agenthost::net {

// Returns the authenticated operator's name, or nullopt → 401.
using AuthHook = std::function<std::optional<std::string>(const sdk::HttpRequest&)>;
// Told about every 401 (the API audits it); runs on the connection's strand.
using UnauthorizedHook = std::function<void(const sdk::HttpRequest&)>;

struct HttpServerOptions {
    std::size_t body_limit = 1 << 20;             // larger → 413
    std::size_t header_limit = 16 * 1024;         // larger → 431
    std::chrono::seconds read_timeout{10};        // one whole request (or TLS handshake)
    std::chrono::seconds keep_alive_timeout{30};  // idle between requests
    std::chrono::seconds handler_timeout{30};     // no answer → 504
    std::size_t max_connections = 1024;           // more are closed after accept
};

class HttpServer {
public:
    // `tls` null: plain HTTP. `auth` empty: no authentication (health listener).
    HttpServer(runtime::Runtime& runtime, Endpoint endpoint, sdk::Listener kind,
               std::shared_ptr<TlsContext> tls, AuthHook auth = {},
               UnauthorizedHook on_unauthorized = {}, HttpServerOptions options = {});
    ~HttpServer();  // stops accepting and closes open connections
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    sdk::Status start();
    std::uint16_t port() const;
    void set_tls(std::shared_ptr<TlsContext> tls);  // HTTPS only; new connections
    void stop();

    struct State;

private:
    std::shared_ptr<State> state_;
};

// "a=1&b=x%20y" → {{"a","1"},{"b","x y"}} ('+' is a space; bad escapes stay literal).
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query);
std::string percent_decode(std::string_view text, bool plus_is_space);
// {"error":{"code":...,"message":...}} with JSON string escaping.
std::string json_error(std::string_view code, std::string_view message);

// GET /livez on the health listener: 200 {"status":"pass"} while the event-loop
// heartbeat beats; 503 once it has missed 5 s (a loop so stuck that the handler cannot
// run gets no answer at all). Dependencies never fail it. Also registers the
// "loop:lag" check and the loop-lag, resident-memory and build-info gauges.
sdk::Status register_livez(runtime::Runtime& runtime);
// GET /readyz and GET /metrics on the health listener unless a health plugin already
// serves them (the gateway runs without one by default).
void register_health_fallback(runtime::Runtime& runtime);
// Sets agenthost_health_check_status{check} (0 pass, 1 warn, 2 fail) and
// agenthost_ready from the registry; called before each /metrics render.
void update_health_gauges(sdk::HealthRegistry& health, sdk::Metrics& metrics);

}  // namespace agenthost::net
