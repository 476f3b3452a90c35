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
#include <utility>
#include <variant>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_sqlite/sqlite.hpp"

namespace agenthost::identity_sqlite {

// The lease writes every agent makes (hello, every heartbeat, goodbye), as items of
// IdentityDb::write_batch. The time is the batch's, taken when it runs.
struct OpenWrite {
    sdk::AgentHello hello;
    std::int64_t lease_ms = 0;
};
struct RenewWrite {
    std::string agent_id;
    std::string session_id;
    std::int64_t lease_ms = 0;
};
struct CloseWrite {
    std::string agent_id;
    std::string session_id;
};
using LeaseWrite = std::variant<OpenWrite, RenewWrite, CloseWrite>;

// What the single call would have answered: `status`, and for an OpenWrite whose
// status is ok, `open` (opened, duplicate with the holder, or revoked).
struct LeaseWriteResult {
    LeaseWriteResult() = default;
    // NOLINTNEXTLINE(google-explicit-constructor): an error is a result
    LeaseWriteResult(sdk::Status st, sdk::OpenSessionResult o = {})
        : status(std::move(st)), open(std::move(o)) {}
    sdk::Status status;
    sdk::OpenSessionResult open;
};

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
    // Group commit: runs `writes` in order in ONE IMMEDIATE transaction, each inside its
    // own savepoint, so each outcome is exactly what the single call above would have
    // answered at that point (a duplicate in the same batch sees the lease the earlier
    // item opened; a renew after a close in the same batch is not_found) and a failed
    // item undoes only itself. One commit for all: FULL (when configured) if any item
    // is an open or a close, NORMAL if all are renewals, as for a single renewal. If
    // the transaction cannot begin or commit, every item gets that error (none of the
    // batch was written); only invalid arguments are answered without the database.
    std::vector<LeaseWriteResult> write_batch(std::span<const LeaseWrite> writes,
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
