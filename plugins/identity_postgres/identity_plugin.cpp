#include "plugins/identity_postgres/identity_plugin.hpp"

#include <utility>

#include "plugins/_common_sqlite/store_start.hpp"

namespace agenthost::identity_postgres {

using sdk::Errc;
using sdk::Status;

namespace {
Status not_started() {
    return {Errc::unavailable, "identity_postgres not started"};
}
const Status& status_of(const Status& s) {
    return s;
}
template <typename T>
Status status_of(const sdk::Result<T>& r) {
    return r.status();
}
// Answers that describe the agent, not a failing database.
bool counts_as_error(Errc code) {
    return code != Errc::ok && code != Errc::not_found && code != Errc::conflict &&
           code != Errc::invalid_argument;
}
}  // namespace

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config) {
    auto typed = parse_config(config);
    if (!typed) {
        return typed.status();
    }
    return std::unique_ptr<sdk::Plugin>(new IdentityPostgresPlugin(ctx, std::move(typed).value()));
}

IdentityPostgresPlugin::IdentityPostgresPlugin(sdk::PluginContext& ctx, IdentityConfig config)
    : ctx_(ctx), config_(std::move(config)) {}

IdentityPostgresPlugin::~IdentityPostgresPlugin() {
    stop();
}

Status IdentityPostgresPlugin::start() {
    auto pool = std::make_shared<pg::Pool>(config_.pool);
    auto db = std::make_shared<IdentityPg>(pool);
    const std::string where = "postgres " + pool->redacted_url() + ": ";

    // Connecting and migrating block: do them on the pool, bounded by start_timeout.
    auto applied = sqlite::wait_on_pool<std::vector<pg::AppliedMigration>>(
        ctx_.blocking(), config_.start_timeout, [db] { return db->migrate(); });
    if (!applied) {
        const Status& st = applied.status();
        // The message already names the server for connect failures.
        const bool named = st.message().rfind("postgres ", 0) == 0;
        return {st.code(), (named ? "" : where) + st.message()};
    }
    {
        std::lock_guard lock(applied_mu_);
        for (const auto& m : *applied) {
            applied_.push_back({m.version, m.name});
            ctx_.logger().info("schema migration applied", {{"component", std::string(kComponent)},
                                                            {"version", std::to_string(m.version)},
                                                            {"name", m.name}});
        }
    }
    auto health = std::make_shared<pg::PoolHealth>(ctx_, pool, config_.health_interval,
                                                   config_.latency_warn_ms);
    auto probed = sqlite::wait_on_pool<bool>(ctx_.blocking(), config_.start_timeout,
                                             [health]() -> sdk::Result<bool> {
                                                 health->refresh();
                                                 return true;
                                             });
    if (!probed) {
        return {probed.status().code(), where + probed.status().message()};
    }
    health->start(std::string(ctx_.plugin_name()) + ":postgres");
    health_ = std::move(health);
    core_->db = std::move(db);

    auto& m = ctx_.metrics();
    const char* help = "Session opens by outcome (identity_postgres).";
    core_->opened = &m.counter("identity_sessions_total", help, {{"outcome", "opened"}});
    core_->duplicate = &m.counter("identity_sessions_total", help, {{"outcome", "duplicate"}});
    core_->revoked = &m.counter("identity_sessions_total", help, {{"outcome", "revoked"}});
    core_->errors = &m.counter("identity_postgres_errors_total",
                               "Identity store calls that failed (database down, timeout...).");
    sqlite::BatchLimits limits;
    limits.max_batch = config_.renew_batch_max;
    limits.max_queued = config_.renew_queue_max;
    sqlite::BatchCounters counters;
    counters.batches = &m.counter("identity_postgres_renew_batches_total",
                                  "Lease-renewal statements run by the batcher.", {});
    counters.items = &m.counter("identity_postgres_renew_items_total",
                                "Lease renewals in those statements.", {});
    counters.refused = &m.counter("identity_postgres_renew_refused_total",
                                  "Lease renewals refused because the queue was full.", {});
    renewals_ = std::make_shared<sqlite::BatchQueue<RenewRequest, Status>>(
        ctx_.blocking(), gate_, limits,
        [core = core_](std::vector<RenewRequest>& batch) { return core->db->renew_batch(batch); },
        counters);
    ctx_.logger().info("postgres identity store ready",
                       {{"url", pool->redacted_url()},
                        {"pool_size", std::to_string(config_.pool.max_connections)}});
    if (auto st = ctx_.services().provide<sdk::IdentityStore>(this); !st) {
        return st;
    }
    return ctx_.services().provide<sdk::SchemaMigrations>(this);
}

void IdentityPostgresPlugin::stop() noexcept {
    if (health_) {
        health_->stop();
    }
    // Waits for tasks already running; queued ones will find the gate closed.
    gate_->close();
    if (renewals_) {
        renewals_->clear();
    }
}

template <typename R, typename Fn>
void IdentityPostgresPlugin::submit(sdk::Callback<R> done, Fn fn) {
    sqlite::run_blocking(ctx_.blocking(), gate_, std::move(done),
                         [core = core_, fn = std::move(fn)]() -> R {
                             if (!core->db) {
                                 return R(not_started());
                             }
                             R r = fn(*core);
                             if (counts_as_error(status_of(r).code())) {
                                 core->errors->inc();
                             }
                             return r;
                         });
}

void IdentityPostgresPlugin::open_session(sdk::AgentHello hello, std::chrono::milliseconds lease,
                                          sdk::Callback<sdk::Result<sdk::OpenSessionResult>> done) {
    using R = sdk::Result<sdk::OpenSessionResult>;
    sqlite::run_blocking(ctx_.blocking(), gate_, std::move(done),
                         [core = core_, hello = std::move(hello), lease]() -> R {
                             if (!core->db) {
                                 return not_started();
                             }
                             auto r = core->db->open_session(hello, lease);
                             if (!r) {
                                 if (counts_as_error(r.status().code())) {
                                     core->errors->inc();
                                 }
                                 return r;
                             }
                             switch (r->outcome) {
                                 case sdk::OpenOutcome::opened:
                                     core->opened->inc();
                                     break;
                                 case sdk::OpenOutcome::duplicate:
                                     core->duplicate->inc();
                                     break;
                                 case sdk::OpenOutcome::revoked:
                                     core->revoked->inc();
                                     break;
                             }
                             return r;
                         });
}

void IdentityPostgresPlugin::renew_session(std::string agent_id, std::string session_id,
                                           std::chrono::milliseconds lease,
                                           sdk::Callback<Status> done) {
    if (!renewals_) {
        submit(std::move(done), [](Core&) { return not_started(); });
        return;
    }
    renewals_->submit(RenewRequest{std::move(agent_id), std::move(session_id), lease},
                      [core = core_, done = std::move(done)](Status s) {
                          if (counts_as_error(s.code())) {
                              core->errors->inc();
                          }
                          done(std::move(s));
                      });
}

void IdentityPostgresPlugin::close_session(std::string agent_id, std::string session_id,
                                           sdk::Callback<Status> done) {
    submit(std::move(done),
           [agent_id = std::move(agent_id), session_id = std::move(session_id)](Core& core) {
               return core.db->close_session(agent_id, session_id);
           });
}

void IdentityPostgresPlugin::revoke(std::string agent_id, sdk::Callback<Status> done) {
    submit(std::move(done),
           [agent_id = std::move(agent_id)](Core& core) { return core.db->revoke(agent_id); });
}

void IdentityPostgresPlugin::release(std::string agent_id,
                                     sdk::Callback<sdk::Result<std::optional<std::string>>> done) {
    submit(std::move(done),
           [agent_id = std::move(agent_id)](Core& core) { return core.db->release(agent_id); });
}

void IdentityPostgresPlugin::get_agent(std::string agent_id,
                                       sdk::Callback<sdk::Result<sdk::AgentRecord>> done) {
    submit(std::move(done),
           [agent_id = std::move(agent_id)](Core& core) { return core.db->get_agent(agent_id); });
}

void IdentityPostgresPlugin::list_agents(
    sdk::Callback<sdk::Result<std::vector<sdk::AgentRecord>>> done) {
    submit(std::move(done), [](Core& core) { return core.db->list_agents(); });
}

sdk::Result<sdk::MigrationReport> IdentityPostgresPlugin::migrate() {
    auto db = core_->db;
    if (!db) {
        return not_started();
    }
    auto applied = db->migrate();
    if (!applied) {
        return applied.status();
    }
    auto version = db->schema_version();
    if (!version) {
        return version.status();
    }
    sdk::MigrationReport report;
    report.component = std::string(kComponent);
    report.current_version = *version;
    std::lock_guard lock(applied_mu_);
    for (const auto& m : *applied) {
        applied_.push_back({m.version, m.name});
    }
    report.applied = applied_;
    return report;
}

}  // namespace agenthost::identity_postgres
