#include "plugins/telemetry_sqlite/telemetry_plugin.hpp"

#include <algorithm>
#include <utility>

#include "plugins/_common_sqlite/store_start.hpp"

namespace agenthost::telemetry_sqlite {

using sdk::Errc;
using sdk::Status;
using sqlite::run_blocking;

namespace {
// FULL: the agent deletes its spooled copy when it gets the ack, and the ack follows
// our completion, so a commit must survive a power cut (README, "Durability").
constexpr sqlite::Synchronous kDefaultSync = sqlite::Synchronous::full;
Status not_started() {
    return {Errc::unavailable, "telemetry_sqlite not started"};
}
}  // namespace

sdk::Schema config_schema() {
    sdk::Schema schema = sqlite::store_schema(kDefaultSync);
    schema.push_back(sdk::integer_field("max_query_limit")
                         .describe("Most points one query returns; larger limits are cut.")
                         .range(1, 100000)
                         .fallback(sdk::json::value(1000)));
    return schema;
}

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config) {
    TelemetryConfig typed;
    typed.store = sqlite::parse_store_config(config, kDefaultSync);
    typed.max_query_limit = static_cast<std::size_t>(
        std::max<std::int64_t>(1, sqlite::config_int(config, "max_query_limit", 1000)));
    return std::unique_ptr<sdk::Plugin>(new TelemetrySqlitePlugin(ctx, std::move(typed)));
}

TelemetrySqlitePlugin::TelemetrySqlitePlugin(sdk::PluginContext& ctx, TelemetryConfig config)
    : ctx_(ctx), config_(std::move(config)) {}

TelemetrySqlitePlugin::~TelemetrySqlitePlugin() {
    stop();
}

Status TelemetrySqlitePlugin::start() {
    auto db = sqlite::start_store<TelemetryDb>(ctx_, config_.store, gate_, probe_);
    if (!db) {
        return db.status();
    }
    core_->db = std::move(db).value();

    auto& m = ctx_.metrics();
    const char* points_help = "Telemetry points received, by storage outcome.";
    core_->points_accepted =
        &m.counter("telemetry_points_total", points_help, {{"outcome", "accepted"}});
    core_->points_duplicate =
        &m.counter("telemetry_points_total", points_help, {{"outcome", "duplicate"}});
    const char* results_help = "Command results received, by storage outcome.";
    core_->results_stored = &m.counter("results_total", results_help, {{"outcome", "stored"}});
    core_->results_duplicate =
        &m.counter("results_total", results_help, {{"outcome", "duplicate"}});
    core_->write_errors = &m.counter("telemetry_store_errors_total",
                                     "Failed telemetry/result writes (nothing acked).");
    return ctx_.services().provide<sdk::TelemetryStore>(this);
}

void TelemetrySqlitePlugin::stop() noexcept {
    if (probe_) {
        probe_->stop();
    }
    gate_->close();
}

void TelemetrySqlitePlugin::store_result(sdk::CommandResult result,
                                         sdk::Callback<sdk::Result<bool>> done) {
    if (result.received_ms == 0) {
        result.received_ms = ctx_.clock().now_unix_ms();  // the caller left it to us
    }
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, result = std::move(result)]() -> sdk::Result<bool> {
                     if (!core->db) {
                         return not_started();
                     }
                     auto stored = core->db->store_result(result);
                     if (!stored) {
                         core->write_errors->inc();
                     } else {
                         (*stored ? core->results_stored : core->results_duplicate)->inc();
                     }
                     return stored;
                 });
}

void TelemetrySqlitePlugin::get_result(
    std::string command_id, sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) {
    run_blocking(
        ctx_.blocking(), gate_, std::move(done),
        [core = core_,
         command_id = std::move(command_id)]() -> sdk::Result<std::optional<sdk::CommandResult>> {
            if (!core->db) {
                return not_started();
            }
            return core->db->get_result(command_id);
        });
}

void TelemetrySqlitePlugin::store_batch(sdk::TelemetryBatch batch,
                                        sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) {
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, batch = std::move(batch)]() -> sdk::Result<sdk::IngestOutcome> {
                     if (!core->db) {
                         return not_started();
                     }
                     auto outcome = core->db->store_batch(batch);
                     if (!outcome) {
                         core->write_errors->inc();
                     } else {
                         core->points_accepted->inc(outcome->accepted);
                         core->points_duplicate->inc(outcome->duplicates);
                     }
                     return outcome;
                 });
}

void TelemetrySqlitePlugin::query(
    sdk::TelemetryQuery query, sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) {
    query.limit = std::min(query.limit, config_.max_query_limit);
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_,
                  query = std::move(query)]() -> sdk::Result<std::vector<sdk::TelemetryPoint>> {
                     if (!core->db) {
                         return not_started();
                     }
                     return core->db->query(query);
                 });
}

}  // namespace agenthost::telemetry_sqlite
