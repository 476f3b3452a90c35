#pragma once
// The identity_sqlite plugin object: sdk::IdentityStore over IdentityDb. Each call
// runs on the blocking pool behind an AsyncGate, with its completion invoked on that
// pool thread (the SDK allows completions on any thread). The lease writes (open,
// renew, close) are queued to a LeaseWriter, which commits them in batches.

#include <memory>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/config_schema.hpp>
#include <agenthost/context.hpp>
#include <agenthost/metrics.hpp>
#include <agenthost/plugin.hpp>

#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/health_probe.hpp"
#include "plugins/_common_sqlite/store_config.hpp"
#include "plugins/_common_sqlite/store_start.hpp"
#include "plugins/identity_sqlite/identity_db.hpp"
#include "plugins/identity_sqlite/lease_writer.hpp"

namespace agenthost::identity_sqlite {

// The shared SQLite store keys plus the group-commit limits (write_batch_max,
// write_queue_max).
sdk::Schema config_schema();
// The descriptor's factory: typed config from the validated section, no I/O yet.
sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const sdk::json::object& config);

class IdentitySqlitePlugin final : public sdk::Plugin, public sdk::IdentityStore {
public:
    IdentitySqlitePlugin(sdk::PluginContext& ctx, sqlite::StoreConfig config,
                         LeaseWriterLimits limits);
    ~IdentitySqlitePlugin() override;

    // Opens and migrates the database on the pool (waiting for it), registers the
    // service, the health check and the metrics.
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

private:
    // What pool tasks share; outlives the plugin object if a task is still queued.
    struct Core {
        std::shared_ptr<IdentityDb> db;
        sdk::Counter* opened = nullptr;
        sdk::Counter* duplicate = nullptr;
        sdk::Counter* revoked = nullptr;
    };

    sdk::PluginContext& ctx_;
    sqlite::StoreConfig config_;
    LeaseWriterLimits limits_;
    std::shared_ptr<sqlite::AsyncGate> gate_ = std::make_shared<sqlite::AsyncGate>();
    std::shared_ptr<Core> core_ = std::make_shared<Core>();
    std::shared_ptr<sqlite::HealthProbe> probe_;
    // open/renew/close go through it (group commit); set by start().
    std::shared_ptr<LeaseWriter> writer_;
};

}  // namespace agenthost::identity_sqlite
