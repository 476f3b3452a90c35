#pragma once
// Metrics registry (rendered by the health plugin in Prometheus text format).
// Handles are owned by the registry and stay valid until the process exits, so a
// plugin may keep the pointers it gets for its whole lifetime. All handle
// operations are lock-free and callable from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agenthost::sdk {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
public:
    virtual ~Counter() = default;
    virtual void inc(std::uint64_t n = 1) noexcept = 0;
    virtual std::uint64_t value() const noexcept = 0;
};

class Gauge {
public:
    virtual ~Gauge() = default;
    virtual void set(double v) noexcept = 0;
    virtual void add(double d) noexcept = 0;
    virtual double value() const noexcept = 0;
};

class Histogram {
public:
    virtual ~Histogram() = default;
    virtual void observe(double v) noexcept = 0;
};

class Metrics {
public:
    virtual ~Metrics() = default;
    // Same (name, labels) → same handle. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*.
    virtual Counter& counter(std::string_view name, std::string_view help,
                             const Labels& labels = {}) = 0;
    virtual Gauge& gauge(std::string_view name, std::string_view help,
                         const Labels& labels = {}) = 0;
    virtual Histogram& histogram(std::string_view name, std::string_view help,
                                 std::vector<double> buckets, const Labels& labels = {}) = 0;
    // A gauge computed on scrape; `fn` runs on the scraping thread and must be cheap
    // and thread-safe. It must not outlive the plugin: plugins register these in
    // start() and the kernel drops them before stop().
    virtual void callback_gauge(std::string_view name, std::string_view help,
                                const Labels& labels, std::function<double()> fn) = 0;
    // Renders every metric in Prometheus text exposition format 0.0.4.
    virtual std::string render_prometheus() const = 0;
};

}  // namespace agenthost::sdk
