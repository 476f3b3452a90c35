#pragma once
// NullTelemetryStore: answers every telemetry batch at once, inline, counting each
// point as accepted (no de-duplication, nothing kept), and keeps command results in a
// bounded in-memory map so the operator API can still read them. Benchmark only.

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/plugin.hpp>

namespace agenthost::telemetry_null {

sdk::Schema config_schema();

class NullTelemetryStore final : public sdk::TelemetryStore {
public:
    explicit NullTelemetryStore(std::size_t max_results) : max_results_(max_results) {}

    void store_result(sdk::CommandResult result, sdk::Callback<sdk::Result<bool>> done) override;
    void get_result(std::string command_id,
                    sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) override;
    void store_batch(sdk::TelemetryBatch batch,
                     sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) override;
    void query(sdk::TelemetryQuery query,
               sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) override;

private:
    std::size_t max_results_;
    std::mutex mu_;
    std::unordered_map<std::string, sdk::CommandResult> results_;
    std::deque<std::string> order_;  // oldest first, for the bound
};

class TelemetryNullPlugin final : public sdk::Plugin {
public:
    TelemetryNullPlugin(sdk::PluginContext& ctx, std::size_t max_results)
        : ctx_(ctx), store_(max_results) {}
    sdk::Status start() override;
    void stop() noexcept override {}

private:
    sdk::PluginContext& ctx_;
    NullTelemetryStore store_;
};

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config);

}  // namespace agenthost::telemetry_null
