// Route table: exact routes, then the longest prefix route ("/x/*"), per listener.
#include <algorithm>

#include "kernel/runtime/runtime.hpp"

namespace agenthost::runtime {

sdk::Status RouteTable::add(sdk::Listener listener, std::string method, std::string path,
                            sdk::HttpHandler handler) {
    return add_owned("", listener, std::move(method), std::move(path), std::move(handler));
}

sdk::Status RouteTable::add_owned(std::string owner, sdk::Listener listener, std::string method,
                                  std::string path, sdk::HttpHandler handler) {
    if (method.empty() || path.empty() || path.front() != '/' || !handler) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "route needs a method, a path starting with '/' and a handler");
    }
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    bool prefix = path.back() == '*';
    if (prefix) {
        path.pop_back();
    }
    std::lock_guard lock(mu_);
    for (const auto& r : routes_) {
        if (r.listener == listener && r.method == method && r.path == path && r.prefix == prefix) {
            return sdk::error(
                sdk::Errc::conflict,
                "route " + method + " " + path + (prefix ? "*" : "") + " is already registered");
        }
    }
    routes_.push_back({std::move(owner), listener, std::move(method), std::move(path), prefix,
                       std::move(handler)});
    return sdk::Status::success();
}

std::optional<RouteMatch> RouteTable::match(sdk::Listener listener, std::string_view method,
                                            std::string_view path, bool* method_mismatch) const {
    if (method_mismatch != nullptr) {
        *method_mismatch = false;
    }
    std::lock_guard lock(mu_);
    const Route* exact = nullptr;
    const Route* best_prefix = nullptr;
    bool path_known = false;
    for (const auto& r : routes_) {
        if (r.listener != listener) {
            continue;
        }
        bool path_ok = r.prefix ? path.starts_with(r.path) : path == r.path;
        if (!path_ok) {
            continue;
        }
        path_known = true;
        if (r.method != method) {
            continue;
        }
        if (!r.prefix) {
            exact = &r;
        } else if (best_prefix == nullptr || r.path.size() > best_prefix->path.size()) {
            best_prefix = &r;
        }
    }
    const Route* hit = exact != nullptr ? exact : best_prefix;
    if (hit == nullptr) {
        if (method_mismatch != nullptr) {
            *method_mismatch = path_known;
        }
        return std::nullopt;
    }
    return RouteMatch{hit->handler};
}

void RouteTable::remove_all() {
    std::lock_guard lock(mu_);
    routes_.clear();
}

void RouteTable::remove_owner(std::string_view owner) {
    std::lock_guard lock(mu_);
    std::erase_if(routes_, [&](const Route& r) { return r.owner == owner; });
}

std::size_t RouteTable::count_owned(std::string_view owner) const {
    std::lock_guard lock(mu_);
    return static_cast<std::size_t>(std::count_if(
        routes_.begin(), routes_.end(), [&](const Route& r) { return r.owner == owner; }));
}

}  // namespace agenthost::runtime
