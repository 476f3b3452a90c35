#pragma once
// System telemetry from /proc and statvfs: cpu utilisation (from /proc/stat deltas
// between two samples), memory (MemTotal/MemAvailable), load averages, and disk
// usage of configured paths. Reads happen on the blocking pool.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <agenthost/sdk.hpp>

namespace agenthost::plugins::collect_sys {

struct CollectOptions {
    std::chrono::milliseconds interval{10'000};
    std::vector<std::string> paths{"/"};
    std::string proc_root = "/proc";
};

CollectOptions parse_options(const sdk::json::object& config);

struct CpuTimes {
    std::uint64_t busy = 0;
    std::uint64_t total = 0;
};

// Parsers over file contents (pure, for tests).
std::optional<CpuTimes> parse_proc_stat(const std::string& text);
// MemTotal and MemAvailable in bytes.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_meminfo(const std::string& text);
std::optional<std::vector<double>> parse_loadavg(const std::string& text);

// Takes samples; shared with pool tasks so a sample in flight outlives the plugin.
class Sampler {
public:
    Sampler(sdk::PluginContext& ctx, CollectOptions options)
        : ctx_(ctx), options_(std::move(options)) {}
    // One sample, synchronously (blocking reads).
    sdk::Result<std::vector<sdk::TelemetryPoint>> sample();
    const CollectOptions& options() const { return options_; }

private:
    sdk::PluginContext& ctx_;  // outlives every plugin object and task
    CollectOptions options_;
    std::mutex mu_;
    std::optional<CpuTimes> last_cpu_;
};

class SysCollector final : public sdk::TelemetryCollector {
public:
    SysCollector(sdk::PluginContext& ctx, CollectOptions options)
        : ctx_(ctx), sampler_(std::make_shared<Sampler>(ctx, std::move(options))) {}

    std::chrono::milliseconds interval() const override { return sampler_->options().interval; }
    void collect(sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) override;
    sdk::Result<std::vector<sdk::TelemetryPoint>> sample() { return sampler_->sample(); }

private:
    sdk::PluginContext& ctx_;
    std::shared_ptr<Sampler> sampler_;
};

}  // namespace agenthost::plugins::collect_sys
