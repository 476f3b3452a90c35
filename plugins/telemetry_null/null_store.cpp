#include "plugins/telemetry_null/null_store.hpp"

namespace agenthost::telemetry_null {

sdk::Schema config_schema() {
    return {sdk::integer_field("max_results")
                .describe("Command results kept in memory (oldest dropped first).")
                .range(1, 10'000'000)
                .fallback(sdk::json::value(100000))};
}

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config) {
    std::size_t max_results = 100000;
    if (const auto* v = config.if_contains("max_results"); v != nullptr && v->is_int64()) {
        max_results = static_cast<std::size_t>(v->as_int64());
    }
    return std::unique_ptr<sdk::Plugin>(new TelemetryNullPlugin(ctx, max_results));
}

sdk::Status TelemetryNullPlugin::start() {
    ctx_.logger().warn("telemetry_null stores no telemetry: benchmark use only");
    return ctx_.services().provide<sdk::TelemetryStore>(&store_);
}

void NullTelemetryStore::store_result(sdk::CommandResult result,
                                      sdk::Callback<sdk::Result<bool>> done) {
    bool fresh = false;
    {
        std::lock_guard lock(mu_);
        std::string id = result.command_id;
        fresh = results_.emplace(id, std::move(result)).second;
        if (fresh) {
            order_.push_back(std::move(id));
            if (order_.size() > max_results_) {
                results_.erase(order_.front());
                order_.pop_front();
            }
        }
    }
    done(fresh);
}

void NullTelemetryStore::get_result(
    std::string command_id, sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) {
    std::optional<sdk::CommandResult> out;
    {
        std::lock_guard lock(mu_);
        if (auto it = results_.find(command_id); it != results_.end()) {
            out = it->second;
        }
    }
    done(std::move(out));
}

void NullTelemetryStore::store_batch(sdk::TelemetryBatch batch,
                                     sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) {
    sdk::IngestOutcome outcome;
    outcome.accepted = batch.points.size();
    done(outcome);
}

void NullTelemetryStore::query(sdk::TelemetryQuery,
                               sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) {
    done(std::vector<sdk::TelemetryPoint>{});
}

}  // namespace agenthost::telemetry_null
