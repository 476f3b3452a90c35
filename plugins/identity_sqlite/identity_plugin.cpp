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
    return sqlite::store_schema(kDefaultSync);
}

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config) {
    auto typed = sqlite::parse_store_config(config, kDefaultSync);
    return std::unique_ptr<sdk::Plugin>(new IdentitySqlitePlugin(ctx, std::move(typed)));
}

IdentitySqlitePlugin::IdentitySqlitePlugin(sdk::PluginContext& ctx, sqlite::StoreConfig config)
    : ctx_(ctx), config_(std::move(config)) {}

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
    return ctx_.services().provide<sdk::IdentityStore>(this);
}

void IdentitySqlitePlugin::stop() noexcept {
    if (probe_) {
        probe_->stop();
    }
    // Waits for tasks already running; queued ones will find the gate closed.
    gate_->close();
}

void IdentitySqlitePlugin::open_session(sdk::AgentHello hello, std::chrono::milliseconds lease,
                                        sdk::Callback<sdk::Result<sdk::OpenSessionResult>> done) {
    auto& clock = ctx_.clock();
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, &clock, hello = std::move(hello),
                  lease]() -> sdk::Result<sdk::OpenSessionResult> {
                     if (!core->db) {
                         return not_started();
                     }
                     auto r = core->db->open_session(hello, clock.now_unix_ms(), lease.count());
                     if (r) {
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
                     }
                     return r;
                 });
}

void IdentitySqlitePlugin::renew_session(std::string agent_id, std::string session_id,
                                         std::chrono::milliseconds lease,
                                         sdk::Callback<Status> done) {
    auto& clock = ctx_.clock();
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, &clock, agent_id = std::move(agent_id),
                  session_id = std::move(session_id), lease]() -> Status {
                     if (!core->db) {
                         return not_started();
                     }
                     return core->db->renew_session(agent_id, session_id, clock.now_unix_ms(),
                                                    lease.count());
                 });
}

void IdentitySqlitePlugin::close_session(std::string agent_id, std::string session_id,
                                         sdk::Callback<Status> done) {
    auto& clock = ctx_.clock();
    run_blocking(ctx_.blocking(), gate_, std::move(done),
                 [core = core_, &clock, agent_id = std::move(agent_id),
                  session_id = std::move(session_id)]() -> Status {
                     if (!core->db) {
                         return not_started();
                     }
                     return core->db->close_session(agent_id, session_id, clock.now_unix_ms());
                 });
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
