#pragma once
// The kernel's metrics registry (sdk::Metrics): counters, gauges and histograms are
// lock-free atomics owned by the registry for its whole lifetime; callback gauges
// are tagged with an owner so the plugin loader can drop a plugin's callbacks before
// it stops the plugin. Rendering follows the Prometheus text format 0.0.4.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/logger.hpp>
#include <agenthost/metrics.hpp>

namespace agenthost::runtime {

class MetricsRegistry final : public sdk::Metrics {
public:
    // `log` receives misuse reports (bad names, type clashes); may be null.
    explicit MetricsRegistry(std::shared_ptr<sdk::Logger> log = nullptr);
    ~MetricsRegistry() override;

    sdk::Counter& counter(std::string_view name, std::string_view help,
                          const sdk::Labels& labels = {}) override;
    sdk::Gauge& gauge(std::string_view name, std::string_view help,
                      const sdk::Labels& labels = {}) override;
    sdk::Histogram& histogram(std::string_view name, std::string_view help,
                              std::vector<double> buckets, const sdk::Labels& labels = {}) override;
    void callback_gauge(std::string_view name, std::string_view help, const sdk::Labels& labels,
                        std::function<double()> fn) override;
    std::string render_prometheus() const override;

    // As callback_gauge(), remembering the owning plugin.
    void callback_gauge_owned(std::string owner, std::string_view name, std::string_view help,
                              const sdk::Labels& labels, std::function<double()> fn);
    // Drops every callback gauge registered by `owner` (before the plugin stops).
    void drop_callbacks(std::string_view owner);

    static bool valid_metric_name(std::string_view name) noexcept;
    static bool valid_label_name(std::string_view name) noexcept;

private:
    enum class Kind { counter, gauge, histogram };
    struct Series;
    struct Family;

    // Returns the family for `name`, creating it; nullptr on a kind clash or bad name.
    Family* family_locked(std::string_view name, std::string_view help, Kind kind);
    Series* series_locked(Family& family, const sdk::Labels& labels, bool* created);
    void complain(std::string_view what, std::string_view name) noexcept;

    std::shared_ptr<sdk::Logger> log_;
    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
    // Handles given out for misuse (bad name, kind clash): usable, never rendered.
    std::vector<std::unique_ptr<Series>> detached_;
};

}  // namespace agenthost::runtime
