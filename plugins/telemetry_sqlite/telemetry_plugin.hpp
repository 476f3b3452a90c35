#pragma once
// The telemetry_sqlite plugin object: sdk::TelemetryStore over TelemetryDb. Each
// call runs on the blocking pool behind an AsyncGate; its completion is invoked on
// that pool thread once the transaction is committed, so the caller's ack to the
// agent always follows durable storage.

#include <memory>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/health_probe.hpp"
#include "plugins/_common_sqlite/store_config.hpp"
#include "plugins/telemetry_sqlite/telemetry_db.hpp"

namespace agenthost::telemetry_sqlite {

struct TelemetryConfig {
    sqlite::StoreConfig store;
    std::size_t max_query_limit = 1000;  // a query asking for more gets this many
};

sdk::Schema config_schema();
sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config);

class TelemetrySqlitePlugin final : public sdk::Plugin, public sdk::TelemetryStore {
public:
    TelemetrySqlitePlugin(sdk::PluginContext& ctx, TelemetryConfig config);
    ~TelemetrySqlitePlugin() override;

    sdk::Status start() override;
    void stop() noexcept override;

    void store_result(sdk::CommandResult result, sdk::Callback<sdk::Result<bool>> done) override;
    void get_result(std::string command_id,
                    sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) override;
    void store_batch(sdk::TelemetryBatch batch,
                     sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) override;
    void query(sdk::TelemetryQuery query,
               sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) override;

private:
    struct Core {
        std::shared_ptr<TelemetryDb> db;
        sdk::Counter* points_accepted = nullptr;
        sdk::Counter* points_duplicate = nullptr;
        sdk::Counter* results_stored = nullptr;
        sdk::Counter* results_duplicate = nullptr;
        sdk::Counter* write_errors = nullptr;
    };

    sdk::PluginContext& ctx_;
    TelemetryConfig config_;
    std::shared_ptr<sqlite::AsyncGate> gate_ = std::make_shared<sqlite::AsyncGate>();
    std::shared_ptr<Core> core_ = std::make_shared<Core>();
    std::shared_ptr<sqlite::HealthProbe> probe_;
};

}  // namespace agenthost::telemetry_sqlite
