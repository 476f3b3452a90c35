#pragma once
// HTTP route registry: plugins add routes to the kernel's listeners (the plain
// health listener and, on the backend, the HTTPS operator listener). The kernel
// owns parsing, limits, TLS and authentication; a handler sees a value-type
// request and answers once through its responder.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <agenthost/status.hpp>

namespace agenthost::sdk {

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // full target incl. query string
    std::string path;    // target without the query string
    std::vector<std::pair<std::string, std::string>> query;    // decoded parameters
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    std::string remote_address;
    std::string actor;  // authenticated operator name (admin listener), else empty

    // First header with this (lower-case) name, or nullptr.
    const std::string* header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (k == name) return &v;
        }
        return nullptr;
    }
    const std::string* query_param(std::string_view name) const {
        for (const auto& [k, v] : query) {
            if (k == name) return &v;
        }
        return nullptr;
    }
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// Called exactly once per request, from any thread.
using HttpResponder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(const HttpRequest&, HttpResponder)>;

enum class Listener { health, admin };

class RouteRegistry {
public:
    virtual ~RouteRegistry() = default;
    // Registers `handler` for `method` and an exact `path`, or a prefix when `path`
    // ends with '*'. A conflicting registration fails with Errc::conflict. Routes are
    // registered in Plugin::start() and live until the kernel stops the plugin.
    virtual Status add(Listener listener, std::string method, std::string path,
                       HttpHandler handler) = 0;
};

}  // namespace agenthost::sdk
