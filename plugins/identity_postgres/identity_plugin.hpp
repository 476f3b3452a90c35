#pragma once
// The identity_postgres plugin object: sdk::IdentityStore over IdentityPg, plus
// sdk::SchemaMigrations for `agenthost migrate`. Each store call runs on the blocking
// pool behind an AsyncGate (no completion after stop()), with its completion invoked
// on that pool thread (the SDK allows completions on any thread).

#include <memory>
#include <mutex>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/migrations.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/_common_postgres/pg_health.hpp"
#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/batch_queue.hpp"
#include "plugins/identity_postgres/identity_config.hpp"
#include "plugins/identity_postgres/identity_pg.hpp"

namespace agenthost::identity_postgres {

// The descriptor's factory: typed config (url_file read here), no connection yet.
sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config);

class IdentityPostgresPlugin final : public sdk::Plugin,
                                     public sdk::IdentityStore,
                                     public sdk::SchemaMigrations {
public:
    IdentityPostgresPlugin(sdk::PluginContext& ctx, IdentityConfig config);
    ~IdentityPostgresPlugin() override;

    // Connects and applies pending migrations on the pool (waiting up to
    // start_timeout), then registers the services, the health check and the metrics.
    // PostgreSQL unreachable at start → start fails (fail closed).
    sdk::Status start() override;
    void stop() noexcept override;

    void open_session(sdk::AgentHello hello, std::chrono::milliseconds lease,
                      sdk::Callback<sdk::Result<sdk::OpenSessionResult>> done) override;
    void renew_session(std::string agent_id, std::string session_id,
                       std::chrono::milliseconds lease, sdk::Callback<sdk::Status> done) override;
    void close_session(std::string agent_id, std::string session_id,
                       sdk::Callback<sdk::Status> done) override;
    void revoke(std::string agent_id, sdk::Callback<sdk::Status> done) override;
    void release(std::string agent_id,
                 sdk::Callback<sdk::Result<std::optional<std::string>>> done) override;
    void get_agent(std::string agent_id,
                   sdk::Callback<sdk::Result<sdk::AgentRecord>> done) override;
    void list_agents(sdk::Callback<sdk::Result<std::vector<sdk::AgentRecord>>> done) override;

    // SchemaMigrations (blocking; never called on the loop).
    sdk::Result<sdk::MigrationReport> migrate() override;

private:
    // What pool tasks share; outlives the plugin object if a task is still queued.
    struct Core {
        std::shared_ptr<IdentityPg> db;
        sdk::Counter* opened = nullptr;
        sdk::Counter* duplicate = nullptr;
        sdk::Counter* revoked = nullptr;
        sdk::Counter* errors = nullptr;
    };
    template <typename R, typename Fn>
    void submit(sdk::Callback<R> done, Fn fn);

    sdk::PluginContext& ctx_;
    IdentityConfig config_;
    std::shared_ptr<sqlite::AsyncGate> gate_ = std::make_shared<sqlite::AsyncGate>();
    std::shared_ptr<Core> core_ = std::make_shared<Core>();
    std::shared_ptr<pg::PoolHealth> health_;
    // renew_session goes through it: the renewals queued at one moment share one
    // statement (IdentityPg::renew_batch). Set by start().
    std::shared_ptr<sqlite::BatchQueue<RenewRequest, sdk::Status>> renewals_;

    std::mutex applied_mu_;
    std::vector<sdk::SchemaStep> applied_;  // by this instance (start + migrate())
};

}  // namespace agenthost::identity_postgres
