#include "plugins/telemetry_postgres/telemetry_plugin.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

namespace agenthost::telemetry_postgres {

using sdk::Errc;
using sdk::Status;

namespace {

Status not_started() {
    return {Errc::unavailable, "telemetry_postgres not started"};
}

// The GroupWriter of the plugin: one pooled connection, one transaction per group.
class PgGroupWriter final : public GroupWriter {
public:
    PgGroupWriter(std::shared_ptr<pg::Pool> pool, WriteMode mode, unsigned max_retries,
                  sdk::Counter* retries)
        : pool_(std::move(pool)), mode_(mode), max_retries_(max_retries), retries_(retries) {}

    sdk::Result<std::vector<sdk::IngestOutcome>> write(
        std::span<const PreparedBatch> group) override {
        std::vector<sdk::IngestOutcome> out;
        std::uint64_t retried = 0;
        Status st = pool_->with_connection([&](pqxx::connection& c) -> Status {
            out = write_group(c, group, mode_, max_retries_, &retried);
            return {};
        });
        if (retries_ != nullptr && retried > 0) {
            retries_->inc(retried);
        }
        if (!st) {
            return st;
        }
        return out;
    }

private:
    std::shared_ptr<pg::Pool> pool_;
    WriteMode mode_;
    unsigned max_retries_;
    sdk::Counter* retries_;
};

// One group of results, one pooled connection, one upsert statement: the batch step of
// the result BatchQueue. A failed group fails every result in it (none is acked).
std::vector<sdk::Result<bool>> write_results(pg::Pool& pool, unsigned max_retries,
                                             sdk::Counter* retries, sdk::Counter* write_errors,
                                             const std::vector<sdk::CommandResult>& group) {
    std::vector<bool> stored;
    std::uint64_t retried = 0;
    Status st = pool.with_connection([&](pqxx::connection& c) -> Status {
        stored = store_results(c, group, max_retries, &retried);
        return {};
    });
    if (retries != nullptr && retried > 0) {
        retries->inc(retried);
    }
    if (!st) {
        if (write_errors != nullptr) {
            write_errors->inc(group.size());
        }
        return std::vector<sdk::Result<bool>>(group.size(), sdk::Result<bool>(st));
    }
    return std::vector<sdk::Result<bool>>(stored.begin(), stored.end());
}

}  // namespace

struct TelemetryPostgresPlugin::Core {
    std::shared_ptr<pg::Pool> pool;
    sdk::Counter* points_accepted = nullptr;
    sdk::Counter* points_duplicate = nullptr;
    sdk::Counter* results_stored = nullptr;
    sdk::Counter* results_duplicate = nullptr;
    sdk::Counter* write_errors = nullptr;
    sdk::Counter* retries = nullptr;
    sdk::Counter* refused = nullptr;
    sdk::Histogram* group_batches = nullptr;
    sdk::Histogram* group_points = nullptr;
    sdk::Histogram* commit_seconds = nullptr;

    std::mutex mu;
    sdk::HealthReport probe;  // the last latency probe
    bool stopped = false;
    sdk::TimerId timer = 0;
    bool armed = false;

    void refresh() {
        sdk::HealthReport r;
        r.component_type = "datastore";
        r.observed_unit = "ms";
        Status st = pool->ping();
        if (!st) {
            r.state = sdk::HealthState::fail;
            r.output = st.message();
        } else {
            r.observed_value = static_cast<double>(pool->last_ping_latency().count()) / 1000.0;
        }
        std::lock_guard lk(mu);
        probe = std::move(r);
    }
};

TelemetryPostgresPlugin::TelemetryPostgresPlugin(sdk::PluginContext& ctx, TelemetryPgConfig config)
    : ctx_(ctx), config_(std::move(config)), core_(std::make_shared<Core>()) {
    core_->probe.state = sdk::HealthState::fail;
    core_->probe.component_type = "datastore";
    core_->probe.output = "not probed yet";
}

TelemetryPostgresPlugin::~TelemetryPostgresPlugin() {
    stop();
}

Status TelemetryPostgresPlugin::start() {
    core_->pool = std::make_shared<pg::Pool>(config_.pool);
    auto pool = core_->pool;
    // The shared helper yields an sdk::Result; the bool carried is unused.
    auto migrated = sqlite::wait_on_pool<bool>(
        ctx_.blocking(), config_.start_timeout, [pool]() -> sdk::Result<bool> {
            Status st = pool->with_connection([](pqxx::connection& c) -> Status {
                return pg::apply_migrations(c, kComponent, migrations()).status();
            });
            if (!st) {
                return st;
            }
            return true;
        });
    if (!migrated) {
        return {migrated.status().code(), "telemetry_postgres: " + pool->redacted_url() + ": " +
                                              migrated.status().message()};
    }

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
    core_->retries =
        &m.counter("telemetry_pg_retries_total", "Group transactions retried after 40P01/40001.");
    core_->refused = &m.counter("telemetry_pg_refused_total",
                                "Telemetry batches and results refused because their queue was full.");
    core_->group_batches =
        &m.histogram("telemetry_pg_group_batches", "Batches coalesced into one group transaction.",
                     {1, 2, 4, 8, 16, 32, 64, 128, 256});
    core_->group_points =
        &m.histogram("telemetry_pg_group_points", "Points written by one group transaction.",
                     {10, 100, 1000, 5000, 10000, 20000, 50000});
    core_->commit_seconds = &m.histogram(
        "telemetry_pg_commit_seconds", "Duration of one group transaction, commit included.",
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});

    auto writer = std::make_shared<PgGroupWriter>(core_->pool, config_.write_mode,
                                                  config_.max_retries, core_->retries);
    std::weak_ptr<Core> weak = core_;
    queue_ = std::make_shared<IngestQueue>(
        ctx_.blocking(), std::move(writer), config_.ingest, [weak](const GroupReport& r) {
            auto core = weak.lock();
            if (!core) {
                return;
            }
            core->group_batches->observe(static_cast<double>(r.batches));
            core->group_points->observe(static_cast<double>(r.points));
            core->commit_seconds->observe(std::chrono::duration<double>(r.elapsed).count());
            if (!r.status) {
                core->write_errors->inc(r.batches);
            }
        });

    results_ = std::make_shared<ResultQueue>(
        ctx_.blocking(), gate_, config_.results,
        [core = core_, retries = config_.max_retries](std::vector<sdk::CommandResult>& group) {
            return write_results(*core->pool, retries, core->retries, core->write_errors, group);
        },
        sqlite::BatchCounters{nullptr, nullptr, core_->refused});

    core_->refresh();  // on the caller's thread once: the first scrape sees a real value
    register_health();
    arm_probe();
    ctx_.logger().info("telemetry_postgres started",
                       {{"url", core_->pool->redacted_url()},
                        {"write_mode", to_string(config_.write_mode)},
                        {"ingest_queue_points", std::to_string(config_.ingest.max_queue_points)}});
    return ctx_.services().provide<sdk::TelemetryStore>(this);
}

void TelemetryPostgresPlugin::register_health() {
    const std::string name(ctx_.plugin_name());
    std::weak_ptr<Core> weak = core_;
    const double warn_ms = config_.latency_warn_ms;
    ctx_.health().add_check(name + ":latency", true, [weak, warn_ms]() {
        auto core = weak.lock();
        if (!core) {
            return sdk::HealthReport{sdk::HealthState::fail, "datastore", std::nullopt, "ms",
                                     "store stopped"};
        }
        sdk::HealthReport r;
        {
            std::lock_guard lk(core->mu);
            r = core->probe;
        }
        // A write that lost its connection fails readiness at once, before the next probe.
        if (r.state != sdk::HealthState::fail && !core->pool->healthy()) {
            r.state = sdk::HealthState::fail;
            r.output = "database connection lost";
        } else if (r.state == sdk::HealthState::pass && r.observed_value &&
                   *r.observed_value > warn_ms) {
            r.state = sdk::HealthState::warn;
            r.output = "latency above " + std::to_string(warn_ms) + " ms";
        }
        return r;
    });
    std::weak_ptr<IngestQueue> wq = queue_;
    const double warn_ratio = config_.queue_warn_ratio;
    ctx_.health().add_check(name + ":ingest_queue", false, [wq, warn_ratio]() {
        sdk::HealthReport r;
        r.component_type = "component";
        r.observed_unit = "ratio";
        auto q = wq.lock();
        if (!q) {
            r.state = sdk::HealthState::fail;
            r.output = "store stopped";
            return r;
        }
        const double ratio =
            static_cast<double>(q->queued_points()) / static_cast<double>(q->capacity_points());
        r.observed_value = ratio;
        if (ratio >= 1.0) {
            r.state = sdk::HealthState::fail;
            r.output = "ingest queue full: telemetry acks are withheld";
        } else if (ratio >= warn_ratio) {
            r.state = sdk::HealthState::warn;
            r.output = "ingest queue filling up";
        }
        return r;
    });
    const sdk::Labels labels{{"plugin", name}};
    ctx_.metrics().callback_gauge("telemetry_pg_queue_points",
                                  "Points waiting in the ingest queue.", labels, [wq]() {
                                      auto q = wq.lock();
                                      return q ? static_cast<double>(q->queued_points()) : 0.0;
                                  });
    ctx_.metrics().callback_gauge("telemetry_pg_queue_capacity_points",
                                  "Bound of the ingest queue (points).", labels, [wq]() {
                                      auto q = wq.lock();
                                      return q ? static_cast<double>(q->capacity_points()) : 0.0;
                                  });
    ctx_.metrics().callback_gauge("telemetry_pg_latency_ms",
                                  "Latency of the last database probe (ms; -1 when down).", labels,
                                  [weak]() {
                                      auto core = weak.lock();
                                      if (!core) {
                                          return -1.0;
                                      }
                                      std::lock_guard lk(core->mu);
                                      return core->probe.observed_value.value_or(-1.0);
                                  });
}

void TelemetryPostgresPlugin::arm_probe() {
    std::lock_guard lk(core_->mu);
    if (core_->stopped) {
        return;
    }
    std::weak_ptr<Core> weak = core_;
    auto gate = gate_;
    auto& ctx = ctx_;
    core_->armed = true;
    core_->timer = ctx_.scheduler().schedule(config_.health_interval, [this, weak, gate, &ctx] {
        // Never probe on the loop: the ping may wait for a connect timeout.
        sqlite::run_blocking<Status>(
            ctx.blocking(), gate, [](Status) {},
            [this, weak]() -> Status {
                if (auto core = weak.lock()) {
                    core->refresh();
                    arm_probe();  // the gate keeps `this` alive while we are inside
                }
                return {};
            });
    });
}

void TelemetryPostgresPlugin::stop() noexcept {
    {
        std::lock_guard lk(core_->mu);
        core_->stopped = true;
        if (core_->armed) {
            ctx_.scheduler().cancel(core_->timer);
            core_->armed = false;
        }
    }
    if (queue_) {
        queue_->close();
    }
    gate_->close();
    if (results_) {
        results_->clear();  // queued results are not acked: the agents resend them
    }
}

void TelemetryPostgresPlugin::store_result(sdk::CommandResult result,
                                           sdk::Callback<sdk::Result<bool>> done) {
    if (result.received_ms == 0) {
        result.received_ms = ctx_.clock().now_unix_ms();  // the caller left it to us
    }
    if (result.command_id.empty()) {
        done(Status(Errc::invalid_argument, "result without command_id"));
        return;
    }
    if (!result.output_encoding.empty() && result.output_encoding != "utf-8" &&
        result.output_encoding != "base64") {
        done(Status(Errc::invalid_argument, "unknown output_encoding: " + result.output_encoding));
        return;
    }
    if (!results_) {
        done(not_started());
        return;
    }
    results_->submit(std::move(result),
                     [core = core_, done = std::move(done)](sdk::Result<bool> r) {
                         if (r) {
                             (*r ? core->results_stored : core->results_duplicate)->inc();
                         }
                         done(std::move(r));
                     });
}

void TelemetryPostgresPlugin::get_result(
    std::string command_id, sdk::Callback<sdk::Result<std::optional<sdk::CommandResult>>> done) {
    using R = sdk::Result<std::optional<sdk::CommandResult>>;
    sqlite::run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, command_id = std::move(command_id)]() -> R {
                     if (!core->pool) {
                         return not_started();
                     }
                     std::optional<sdk::CommandResult> out;
                     Status st = core->pool->with_connection([&](pqxx::connection& c) -> Status {
                         out = telemetry_postgres::get_result(c, command_id);
                         return {};
                     });
                     if (!st) {
                         return st;
                     }
                     return out;
                 });
}

void TelemetryPostgresPlugin::store_batch(sdk::TelemetryBatch batch,
                                          sdk::Callback<sdk::Result<sdk::IngestOutcome>> done) {
    if (!queue_) {
        done(not_started());
        return;
    }
    // Validation and dedup are CPU only (no I/O): fine on the caller's thread, and a
    // bad batch never takes a place in the queue.
    auto prepared = prepare_batch(batch);
    if (!prepared) {
        done(prepared.status());
        return;
    }
    auto core = core_;
    queue_->submit(std::move(prepared).value(),
                   [core, done = std::move(done)](sdk::Result<sdk::IngestOutcome> r) {
                       if (r) {
                           core->points_accepted->inc(r->accepted);
                           core->points_duplicate->inc(r->duplicates);
                       } else if (r.status().code() == Errc::exhausted) {
                           core->refused->inc();
                       }
                       done(std::move(r));
                   });
}

void TelemetryPostgresPlugin::query(
    sdk::TelemetryQuery query, sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) {
    using R = sdk::Result<std::vector<sdk::TelemetryPoint>>;
    query.limit = std::min(query.limit, config_.max_query_limit);
    sqlite::run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, query = std::move(query)]() -> R {
                     if (!core->pool) {
                         return not_started();
                     }
                     std::vector<sdk::TelemetryPoint> out;
                     Status st = core->pool->with_connection([&](pqxx::connection& c) -> Status {
                         out = telemetry_postgres::query(c, query);
                         return {};
                     });
                     if (!st) {
                         return st;
                     }
                     return out;
                 });
}

}  // namespace agenthost::telemetry_postgres
