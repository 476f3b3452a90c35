#pragma once
// IdentityPg: the synchronous PostgreSQL logic of the identity store. Blocking;
// callers run it on the blocking pool (the plugin) or on their own threads (tests).
// Thread-safe: every call borrows its own connection from the pool.
//
// The single-live-session rule is the sessions table's PRIMARY KEY (agent_id), so it
// holds cluster-wide: every host sharing the database competes for the same row.
// Lease times are the server's now(), never a host clock.

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_postgres/pg_migrate.hpp"
#include "plugins/_common_postgres/pg_pool.hpp"

namespace agenthost::identity_postgres {

// The steps in migrations/, embedded at build time (see CMakeLists.txt).
std::span<const pg::Migration> embedded_migrations();
// The component name the steps are recorded under in schema_version.
inline constexpr std::string_view kComponent = "identity_postgres";

// One queued lease renewal (IdentityPg::renew_batch).
struct RenewRequest {
    std::string agent_id;
    std::string session_id;
    std::chrono::milliseconds lease{0};
};

class IdentityPg {
public:
    explicit IdentityPg(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

    // Applies pending migrations under the advisory lock; returns those applied.
    sdk::Result<std::vector<pg::AppliedMigration>> migrate();
    // Highest schema version recorded for this component (0 if none).
    sdk::Result<int> schema_version();

    // One transaction: revoked → revoked; register the agent if new; take the lease in
    // one INSERT … ON CONFLICT (agent_id) DO UPDATE … WHERE the held lease expired (or
    // is this same host+session: an idempotent retry) RETURNING; no row back means a
    // live lease exists → duplicate, and the agent row is left as it was (a refused
    // hello changes nothing). On success the agent's details and last_seen update.
    sdk::Result<sdk::OpenSessionResult> open_session(const sdk::AgentHello& hello,
                                                     std::chrono::milliseconds lease);
    // not_found when this session no longer holds the lease; conflict when revoked.
    sdk::Status renew_session(const std::string& agent_id, const std::string& session_id,
                              std::chrono::milliseconds lease);
    // The renewals queued at one moment in ONE statement (UPDATE … FROM unnest of
    // arrays, autocommit): each gets exactly what renew_session would have answered —
    // conflict when the agent is revoked, not_found when this session no longer holds
    // the lease, ok otherwise (lease extended, last_seen updated). If the statement
    // fails, every renewal gets that error (none was written).
    std::vector<sdk::Status> renew_batch(std::span<const RenewRequest> renewals);
    // Drops the lease if this session holds it; ok either way.
    sdk::Status close_session(const std::string& agent_id, const std::string& session_id);
    // not_found when the agent was never seen.
    sdk::Status revoke(const std::string& agent_id);
    // Drops any lease row (expired or not); returns its session_id. not_found when the
    // agent was never seen.
    sdk::Result<std::optional<std::string>> release(const std::string& agent_id);
    sdk::Result<sdk::AgentRecord> get_agent(const std::string& agent_id);
    // Ordered by agent_id.
    sdk::Result<std::vector<sdk::AgentRecord>> list_agents();

    pg::Pool& pool() noexcept { return *pool_; }

private:
    std::shared_ptr<pg::Pool> pool_;
};

}  // namespace agenthost::identity_postgres
