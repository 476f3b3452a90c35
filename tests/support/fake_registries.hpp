#pragma once
// In-memory fakes of the kernel registries a plugin sees through its context:
// logger, metrics, health, services, routes and the audit sink. Each one records
// what the plugin did so a test can assert on it. All are thread-safe.

#include <atomic>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <agenthost/audit.hpp>
#include <agenthost/health.hpp>
#include <agenthost/http.hpp>
#include <agenthost/logger.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/plugin.hpp>
#include <agenthost/services.hpp>

namespace agenthost::testing {

// ---------------------------------------------------------------- logger
struct LogLine {
    sdk::LogLevel level;
    std::string message;
    std::vector<std::pair<std::string, std::string>> fields;
};

class FakeLogger final : public sdk::Logger {
public:
    bool enabled(sdk::LogLevel) const noexcept override { return true; }
    void log(sdk::LogLevel level, std::string_view message,
             std::initializer_list<sdk::LogField> fields) noexcept override {
        LogLine line{level, std::string(message), {}};
        for (const auto& f : fields) {
            line.fields.emplace_back(std::string(f.key), f.value);
        }
        std::lock_guard lock(mu_);
        lines_.push_back(std::move(line));
    }
    std::vector<LogLine> lines() const {
        std::lock_guard lock(mu_);
        return lines_;
    }
    // True when some line's message or field value contains `needle`.
    bool contains(std::string_view needle) const {
        std::lock_guard lock(mu_);
        for (const auto& l : lines_) {
            if (l.message.find(needle) != std::string::npos) {
                return true;
            }
            for (const auto& [k, v] : l.fields) {
                if (v.find(needle) != std::string::npos) {
                    return true;
                }
            }
        }
        return false;
    }

private:
    mutable std::mutex mu_;
    std::vector<LogLine> lines_;
};

// ---------------------------------------------------------------- metrics
class FakeCounter final : public sdk::Counter {
public:
    void inc(std::uint64_t n) noexcept override { v_ += n; }
    std::uint64_t value() const noexcept override { return v_.load(); }

private:
    std::atomic<std::uint64_t> v_{0};
};

class FakeGauge final : public sdk::Gauge {
public:
    void set(double v) noexcept override { v_ = v; }
    void add(double d) noexcept override {
        double cur = v_.load();
        while (!v_.compare_exchange_weak(cur, cur + d)) {
        }
    }
    double value() const noexcept override { return v_.load(); }

private:
    std::atomic<double> v_{0};
};

class FakeHistogram final : public sdk::Histogram {
public:
    void observe(double v) noexcept override {
        std::lock_guard lock(mu_);
        values_.push_back(v);
    }
    std::vector<double> values() const {
        std::lock_guard lock(mu_);
        return values_;
    }

private:
    mutable std::mutex mu_;
    std::vector<double> values_;
};

class FakeMetrics final : public sdk::Metrics {
public:
    sdk::Counter& counter(std::string_view name, std::string_view,
                          const sdk::Labels& labels) override {
        return get(counters_, key(name, labels));
    }
    sdk::Gauge& gauge(std::string_view name, std::string_view, const sdk::Labels& labels) override {
        return get(gauges_, key(name, labels));
    }
    sdk::Histogram& histogram(std::string_view name, std::string_view, std::vector<double>,
                              const sdk::Labels& labels) override {
        return get(histograms_, key(name, labels));
    }
    void callback_gauge(std::string_view name, std::string_view, const sdk::Labels& labels,
                        std::function<double()> fn) override {
        std::lock_guard lock(mu_);
        callbacks_[key(name, labels)] = std::move(fn);
    }
    std::string render_prometheus() const override {
        std::lock_guard lock(mu_);
        std::string out;
        for (const auto& [k, c] : counters_) {
            out += k + " " + std::to_string(c->value()) + "\n";
        }
        for (const auto& [k, g] : gauges_) {
            out += k + " " + std::to_string(g->value()) + "\n";
        }
        for (const auto& [k, fn] : callbacks_) {
            out += k + " " + std::to_string(fn()) + "\n";
        }
        return out;
    }

    // Test accessors: nullopt when the plugin never registered that series.
    std::optional<std::uint64_t> counter_value(std::string_view name,
                                               const sdk::Labels& labels = {}) const {
        std::lock_guard lock(mu_);
        auto it = counters_.find(key(name, labels));
        return it == counters_.end() ? std::nullopt : std::optional(it->second->value());
    }
    std::optional<double> gauge_value(std::string_view name, const sdk::Labels& labels = {}) const {
        std::lock_guard lock(mu_);
        if (auto it = gauges_.find(key(name, labels)); it != gauges_.end()) {
            return it->second->value();
        }
        if (auto it = callbacks_.find(key(name, labels)); it != callbacks_.end()) {
            return it->second();
        }
        return std::nullopt;
    }
    void drop_callbacks() {
        std::lock_guard lock(mu_);
        callbacks_.clear();
    }

    // name{k="v",...} with labels in the given order.
    static std::string key(std::string_view name, const sdk::Labels& labels) {
        std::string k(name);
        if (!labels.empty()) {
            k += '{';
            for (std::size_t i = 0; i < labels.size(); ++i) {
                k += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
            }
            k += '}';
        }
        return k;
    }

private:
    template <typename T>
    T& get(std::map<std::string, std::unique_ptr<T>>& m, const std::string& k) {
        std::lock_guard lock(mu_);
        auto& slot = m[k];
        if (!slot) {
            slot = std::make_unique<T>();
        }
        return *slot;
    }

    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<FakeCounter>> counters_;
    std::map<std::string, std::unique_ptr<FakeGauge>> gauges_;
    std::map<std::string, std::unique_ptr<FakeHistogram>> histograms_;
    std::map<std::string, std::function<double()>> callbacks_;
};

// ---------------------------------------------------------------- health
class FakeHealthRegistry final : public sdk::HealthRegistry {
public:
    void add_check(std::string name, bool affects_readiness, sdk::HealthCheck check) override {
        std::lock_guard lock(mu_);
        checks_[std::move(name)] = Entry{affects_readiness, std::move(check)};
    }
    std::vector<std::pair<std::string, sdk::HealthReport>> evaluate() const override {
        std::vector<std::pair<std::string, sdk::HealthReport>> out;
        for (const auto& [name, e] : snapshot()) {
            out.emplace_back(name, e.check());
        }
        return out;
    }
    bool ready() const override {
        for (const auto& [name, e] : snapshot()) {
            if (e.affects_readiness && e.check().state == sdk::HealthState::fail) {
                return false;
            }
        }
        return true;
    }
    // Runs one named check; nullopt when not registered.
    std::optional<sdk::HealthReport> run(const std::string& name) const {
        sdk::HealthCheck check;
        {
            std::lock_guard lock(mu_);
            auto it = checks_.find(name);
            if (it == checks_.end()) {
                return std::nullopt;
            }
            check = it->second.check;
        }
        return check();
    }
    bool has(const std::string& name) const {
        std::lock_guard lock(mu_);
        return checks_.count(name) != 0;
    }
    bool affects_readiness(const std::string& name) const {
        std::lock_guard lock(mu_);
        auto it = checks_.find(name);
        return it != checks_.end() && it->second.affects_readiness;
    }
    void clear() {
        std::lock_guard lock(mu_);
        checks_.clear();
    }

private:
    struct Entry {
        bool affects_readiness = false;
        sdk::HealthCheck check;
    };
    std::map<std::string, Entry> snapshot() const {
        std::lock_guard lock(mu_);
        return checks_;
    }
    mutable std::mutex mu_;
    std::map<std::string, Entry> checks_;
};

// ---------------------------------------------------------------- services
class FakeServiceRegistry final : public sdk::ServiceRegistry {
public:
    sdk::Status provide_raw(std::string_view capability, void* service) override {
        std::lock_guard lock(mu_);
        auto& v = services_[std::string(capability)];
        if (!v.empty() && sdk::is_exclusive_capability(capability)) {
            return sdk::error(sdk::Errc::conflict,
                              "capability already provided: " + std::string(capability));
        }
        v.push_back(service);
        return {};
    }
    void* find_raw(std::string_view capability) const override {
        std::lock_guard lock(mu_);
        auto it = services_.find(std::string(capability));
        return it == services_.end() || it->second.empty() ? nullptr : it->second.front();
    }
    std::vector<void*> find_all_raw(std::string_view capability) const override {
        std::lock_guard lock(mu_);
        auto it = services_.find(std::string(capability));
        return it == services_.end() ? std::vector<void*>{} : it->second;
    }
    void clear() {
        std::lock_guard lock(mu_);
        services_.clear();
    }

private:
    mutable std::mutex mu_;
    std::map<std::string, std::vector<void*>> services_;
};

// ---------------------------------------------------------------- routes
class FakeRouteRegistry final : public sdk::RouteRegistry {
public:
    sdk::Status add(sdk::Listener listener, std::string method, std::string path,
                    sdk::HttpHandler handler) override {
        std::lock_guard lock(mu_);
        for (const auto& r : routes_) {
            if (r.listener == listener && r.method == method && r.path == path) {
                return sdk::error(sdk::Errc::conflict, "route already registered: " + path);
            }
        }
        routes_.push_back(Route{listener, std::move(method), std::move(path), std::move(handler)});
        return {};
    }

    // Dispatches `request` like the kernel would (exact path, else longest prefix
    // route ending in '*'); nullopt when no route matches. The handler's response is
    // returned when it answered inline; otherwise use the responder-capturing form.
    std::optional<sdk::HttpResponse> call(sdk::Listener listener, sdk::HttpRequest request) const {
        sdk::HttpHandler handler = find(listener, request.method, request.path);
        if (!handler) {
            return std::nullopt;
        }
        auto out = std::make_shared<std::optional<sdk::HttpResponse>>();
        handler(request, [out](sdk::HttpResponse r) { *out = std::move(r); });
        return *out ? std::move(*out) : std::optional<sdk::HttpResponse>(sdk::HttpResponse{0});
    }
    sdk::HttpHandler find(sdk::Listener listener, const std::string& method,
                          const std::string& path) const {
        std::lock_guard lock(mu_);
        const Route* best = nullptr;
        for (const auto& r : routes_) {
            if (r.listener != listener || r.method != method) {
                continue;
            }
            if (r.path == path) {
                return r.handler;
            }
            if (!r.path.empty() && r.path.back() == '*' &&
                path.compare(0, r.path.size() - 1, r.path, 0, r.path.size() - 1) == 0 &&
                (!best || r.path.size() > best->path.size())) {
                best = &r;
            }
        }
        return best ? best->handler : sdk::HttpHandler{};
    }
    std::size_t size() const {
        std::lock_guard lock(mu_);
        return routes_.size();
    }

private:
    struct Route {
        sdk::Listener listener;
        std::string method;
        std::string path;
        sdk::HttpHandler handler;
    };
    mutable std::mutex mu_;
    std::vector<Route> routes_;
};

// ---------------------------------------------------------------- audit
class FakeAuditSink final : public sdk::AuditSink {
public:
    void record(sdk::AuditEvent event, sdk::AuditCompletion done) override {
        sdk::Status st;
        {
            std::lock_guard lock(mu_);
            if (!writable_) {
                st = sdk::error(sdk::Errc::unavailable, "fake audit sink not writable");
            } else {
                events_.push_back(std::move(event));
            }
        }
        if (done) {
            done(st);
        }
    }
    bool writable() const noexcept override { return writable_.load(); }
    sdk::Status flush() override {
        ++flushes_;
        return {};
    }

    void set_writable(bool w) { writable_ = w; }
    std::vector<sdk::AuditEvent> events() const {
        std::lock_guard lock(mu_);
        return events_;
    }
    std::vector<sdk::AuditEvent> events_with_action(std::string_view action) const {
        std::vector<sdk::AuditEvent> out;
        for (auto& e : events()) {
            if (e.action == action) {
                out.push_back(std::move(e));
            }
        }
        return out;
    }
    int flushes() const { return flushes_.load(); }

private:
    mutable std::mutex mu_;
    std::vector<sdk::AuditEvent> events_;
    std::atomic<bool> writable_{true};
    std::atomic<int> flushes_{0};
};

}  // namespace agenthost::testing
