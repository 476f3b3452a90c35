#pragma once
// IdentityDb: the synchronous SQLite logic of the identity store. Blocking; callers
// run it on the blocking pool (the plugin) or on their own threads (unit tests).
// Thread-safe: every write goes through the one writer connection under its mutex,
// and the single-live-session rule is the sessions table's PRIMARY KEY (agent_id),
// so it also holds between processes sharing the file.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_sqlite/sqlite.hpp"

namespace agenthost::identity_sqlite {

class IdentityDb {
public:
    // Opens (creating if needed) and migrates the database.
    static sdk::Result<std::unique_ptr<IdentityDb>> open(const sqlite::Options& options);
    // The ordered schema steps; index i takes user_version i to i + 1.
    static std::span<const std::string_view> migrations();

    // One IMMEDIATE transaction: revoked → revoked; drop this agent's expired lease;
    // upsert the agent (first_seen kept) and insert the session; a PRIMARY KEY
    // violation means a live lease exists → duplicate (the agent row is left as it
    // was: a refused hello changes nothing). A retry by the same host with the same
    // session_id is idempotent (opened, lease extended).
    sdk::Result<sdk::OpenSessionResult> open_session(const sdk::AgentHello& hello,
                                                     std::int64_t now_ms, std::int64_t lease_ms);
    // not_found when this session no longer holds the lease; conflict when revoked.
    sdk::Status renew_session(const std::string& agent_id, const std::string& session_id,
                              std::int64_t now_ms, std::int64_t lease_ms);
    // Drops the lease if this session holds it; ok either way.
    sdk::Status close_session(const std::string& agent_id, const std::string& session_id,
                              std::int64_t now_ms);
    // not_found when the agent was never seen.
    sdk::Status revoke(const std::string& agent_id);
    // Drops any lease row (expired or not); returns its session_id. not_found when the
    // agent was never seen.
    sdk::Result<std::optional<std::string>> release(const std::string& agent_id);
    sdk::Result<sdk::AgentRecord> get_agent(const std::string& agent_id, std::int64_t now_ms);
    // Ordered by agent_id.
    sdk::Result<std::vector<sdk::AgentRecord>> list_agents(std::int64_t now_ms);

    sqlite::Database& database() noexcept { return *db_; }

private:
    IdentityDb(std::unique_ptr<sqlite::Database> db, bool full_sync)
        : db_(std::move(db)), full_sync_(full_sync) {}
    std::unique_ptr<sqlite::Database> db_;
    bool full_sync_ = true;  // the configured level, restored after a lease renewal
};

}  // namespace agenthost::identity_sqlite
