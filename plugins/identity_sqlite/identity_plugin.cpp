#include "plugins/identity_sqlite/identity_plugin.hpp"

#include <utility>

namespace agenthost::identity_sqlite {

using sdk::Errc;
using sdk::Status;
using sqlite::run_blocking;

namespace {
constexpr sqlite::Synchronous kDefaultSync = sqlite::Synchronous::full;
Status not_started() {
    return {Errc::unavailable, "identity_sqlite not started"};
}
}  // namespace

sdk::Schema config_schema() {
    const LeaseWriterLimits defaults;
    sdk::Schema schema = sqlite::store_schema(kDefaultSync);
    schema.push_back(
        sdk::integer_field("write_batch_max")
            .describe("Group commit: at most this many queued lease writes (session opens, "
                      "renewals, closes) share one transaction and one fsync; 1 commits "
                      "each write on its own.")
            .range(1, 10000)
            .fallback(sdk::json::value(static_cast<std::int64_t>(defaults.max_batch))));
    schema.push_back(
        sdk::integer_field("write_queue_max")
            .describe("Lease writes that may wait for the writer; past it a hello or "
                      "heartbeat is refused as unavailable instead of queueing without bound.")
            .range(1, 1000000)
            .fallback(sdk::json::value(static_cast<std::int64_t>(defaults.max_queued))));
    return schema;
}

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config) {
    auto typed = sqlite::parse_store_config(config, kDefaultSync);
    LeaseWriterLimits limits;
    limits.max_batch = static_cast<std::size_t>(
        sqlite::config_int(config, "write_batch_max", static_cast<std::int64_t>(limits.max_batch)));
    limits.max_queued = static_cast<std::size_t>(sqlite::config_int(
        config, "write_queue_max", static_cast<std::int64_t>(limits.max_queued)));
    return std::unique_ptr<sdk::Plugin>(new IdentitySqlitePlugin(ctx, std::move(typed), limits));
}

IdentitySqlitePlugin::IdentitySqlitePlugin(sdk::PluginContext& ctx, sqlite::StoreConfig config,
                                           LeaseWriterLimits limits)
    : ctx_(ctx), config_(std::move(config)), limits_(limits) {}

IdentitySqlitePlugin::~IdentitySqlitePlugin() {
    stop();
}

Status IdentitySqlitePlugin::start() {
    auto db = sqlite::start_store<IdentityDb>(ctx_, config_, gate_, probe_);
    if (!db) {
        return db.status();
    }
    core_->db = std::move(db).value();

    auto& m = ctx_.metrics();
    const char* help = "Session opens by outcome (identity_sqlite).";
    core_->opened = &m.counter("identity_sessions_total", help, {{"outcome", "opened"}});
    core_->duplicate = &m.counter("identity_sessions_total", help, {{"outcome", "duplicate"}});
    core_->revoked = &m.counter("identity_sessions_total", help, {{"outcome", "revoked"}});
    LeaseWriterCounters counters;
    counters.batches = &m.counter("identity_sqlite_write_batches_total",
                                  "Lease-write transactions run by the group commit.", {});
    counters.items = &m.counter("identity_sqlite_write_items_total",
                                "Lease writes (open, renew, close) run in those transactions.", {});
    counters.refused = &m.counter("identity_sqlite_write_refused_total",
                                  "Lease writes refused because the write queue was full.", {});
    writer_ = make_lease_writer(core_->db, ctx_.blocking(), ctx_.clock(), gate_, limits_, counters);
    return ctx_.services().provide<sdk::IdentityStore>(this);
}

void IdentitySqlitePlugin::stop() noexcept {
    if (probe_) {
        probe_->stop();
    }
    // Waits for tasks already running; queued ones will find the gate closed.
    gate_->close();
    if (writer_) {
        writer_->clear();
    }
}

void IdentitySqlitePlugin::open_session(sdk::AgentHello hello, std::chrono::milliseconds lease,
                                        sdk::Callback<sdk::Result<sdk::OpenSessionResult>> done) {
    if (!writer_) {
        run_blocking(ctx_.blocking(), gate_, std::move(done),
                     []() -> sdk::Result<sdk::OpenSessionResult> { return not_started(); });
        return;
    }
    writer_->submit(OpenWrite{std::move(hello), lease.count()},
                    [core = core_, done = std::move(done)](LeaseWriteResult r) {
                        if (!r.status) {
                            done(std::move(r.status));
                            return;
                        }
                        switch (r.open.outcome) {
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
                        done(std::move(r.open));
                    });
}

void IdentitySqlitePlugin::renew_session(std::string agent_id, std::string session_id,
                                         std::chrono::milliseconds lease,
                                         sdk::Callback<Status> done) {
    if (!writer_) {
        run_blocking(ctx_.blocking(), gate_, std::move(done), []() { return not_started(); });
        return;
    }
    writer_->submit(RenewWrite{std::move(agent_id), std::move(session_id), lease.count()},
                    [done = std::move(done)](LeaseWriteResult r) { done(std::move(r.status)); });
}

void IdentitySqlitePlugin::close_session(std::string agent_id, std::string session_id,
                                         sdk::Callback<Status> done) {
    if (!writer_) {
        run_blocking(ctx_.blocking(), gate_, std::move(done), []() { return not_started(); });
        return;
    }
    writer_->submit(CloseWrite{std::move(agent_id), std::move(session_id)},
                    [done = std::move(done)](LeaseWriteResult r) { done(std::move(r.status)); });
}

void IdentitySqlitePlugin::revoke(std::string agent_id, sdk::Callback<Status> done) {
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, agent_id = std::move(agent_id)]() -> Status {
                     if (!core->db) {
                         return not_started();
                     }
                     return core->db->revoke(agent_id);
                 });
}

void IdentitySqlitePlugin::release(std::string agent_id,
                                   sdk::Callback<sdk::Result<std::optional<std::string>>> done) {
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_,
                  agent_id = std::move(agent_id)]() -> sdk::Result<std::optional<std::string>> {
                     if (!core->db) {
                         return not_started();
                     }
                     return core->db->release(agent_id);
                 });
}

void IdentitySqlitePlugin::get_agent(std::string agent_id,
                                     sdk::Callback<sdk::Result<sdk::AgentRecord>> done) {
    auto& clock = ctx_.clock();
    run_blocking(
        ctx_.blocking(), gate_, std::move(done),
        [core = core_, &clock, agent_id = std::move(agent_id)]() -> sdk::Result<sdk::AgentRecord> {
            if (!core->db) {
                return not_started();
            }
            return core->db->get_agent(agent_id, clock.now_unix_ms());
        });
}

void IdentitySqlitePlugin::list_agents(
    sdk::Callback<sdk::Result<std::vector<sdk::AgentRecord>>> done) {
    auto& clock = ctx_.clock();
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, &clock]() -> sdk::Result<std::vector<sdk::AgentRecord>> {
                     if (!core->db) {
                         return not_started();
                     }
                     return core->db->list_agents(clock.now_unix_ms());
                 });
}

}  // namespace agenthost::identity_sqlite
