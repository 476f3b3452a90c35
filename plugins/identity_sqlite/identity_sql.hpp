#pragma once
// SQL helpers shared by identity_db.cpp (registry, revoke, release, reads) and
// lease_writes.cpp (open/renew/close and their batches). Internal to the plugin.

#include <string>

#include <agenthost/status.hpp>

#include "plugins/_common_sqlite/sqlite.hpp"

namespace agenthost::identity_sqlite {

// 1 when the agent is revoked, 0 when not, -1 when unknown.
sdk::Result<int> revoked_state(sqlite::Connection& c, const std::string& agent_id);

}  // namespace agenthost::identity_sqlite
