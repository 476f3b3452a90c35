#pragma once
// The telemetry_postgres plugin object: sdk::TelemetryStore over PostgreSQL.
//  - store_batch: validated and deduplicated on the caller's thread (cheap, no I/O),
//    then queued in the bounded IngestQueue; group commits on the blocking pool;
//    the completion follows the commit. A full queue fails fast (exhausted).
//  - store_result: validated on the caller's thread, then queued in the bounded
//    result BatchQueue (_common_sqlite); groups are upserted in one statement each; the completion follows
//    the commit. A full queue fails fast (unavailable: the result is not acked).
//  - get_result / query: one pooled connection each, on the pool.
//  - health: "<name>:latency" (readiness; fails while the database is unreachable)
//    and "<name>:ingest_queue" (depth vs bound; warn only, not readiness).

#include <chrono>
#include <memory>

#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/_common_postgres/pg_migrate.hpp"
#include "plugins/_common_postgres/pg_pool.hpp"
#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/telemetry_postgres/ingest_queue.hpp"
#include "plugins/_common_sqlite/batch_queue.hpp"
#include "plugins/telemetry_postgres/telemetry_pg.hpp"

namespace agenthost::telemetry_postgres {

struct TelemetryPgConfig {
    pg::PoolOptions pool;
    std::string url_file;  // read at create(); wins over pool.url
    WriteMode write_mode = WriteMode::multirow;
    IngestOptions ingest;
    sqlite::BatchLimits results{1000, 10000};  // results per upsert, queued results
    unsigned max_retries = 5;
    std::chrono::milliseconds health_interval{2000};
    double latency_warn_ms = 100;
    double queue_warn_ratio = 0.8;
    std::chrono::milliseconds start_timeout{30000};
    std::size_t max_query_limit = 1000;
};

sdk::Schema config_schema();
TelemetryPgConfig parse_config(const sdk::json::object& config);
// Cross-field check run by the kernel's validator: exactly one of url / url_file.
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);
sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config);
// The embedded migrations (migrations/NNNN_name.sql), applied at start under an
// advisory lock by pg::apply_migrations.
std::span<const pg::Migration> migrations();
inline constexpr std::string_view kComponent = "telemetry_postgres";

class TelemetryPostgresPlugin final : public sdk::Plugin, public sdk::TelemetryStore {
public:
    TelemetryPostgresPlugin(sdk::PluginContext& ctx, TelemetryPgConfig config);
    ~TelemetryPostgresPlugin() override;

    sdk::Status start() override;
    void stop() noexcept override;

    void store_result(sdk::CommandResult result, sdk::Callback<sdk::Result<bool>> done) override;
    void get_result(std::string command_id,
                    sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) override;
    void store_batch(sdk::TelemetryBatch batch,
                     sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) override;
    void query(sdk::TelemetryQuery query,
               sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) override;

    // For tests: the queue in front of the database.
    const IngestQueue* ingest_queue() const noexcept { return queue_.get(); }

private:
    struct Core;
    void register_health();
    void arm_probe();

    sdk::PluginContext& ctx_;
    TelemetryPgConfig config_;
    std::shared_ptr<sqlite::AsyncGate> gate_ = std::make_shared<sqlite::AsyncGate>();
    std::shared_ptr<Core> core_;
    std::shared_ptr<IngestQueue> queue_;
    // Group commit of results (the same queue as identity lease writes).
    using ResultQueue = sqlite::BatchQueue<sdk::CommandResult, sdk::Result<bool>>;
    std::shared_ptr<ResultQueue> results_;
};

}  // namespace agenthost::telemetry_postgres
