#pragma once
// AgentCache: the operator API's enqueue check (the agent exists, is not revoked, lists
// the command) remembered for a short TTL, so that a burst of commands for one agent
// does not cost one identity-store round trip each (with identity_postgres: a SELECT,
// a blocking-pool hop and a PostgreSQL backend wake-up per enqueue).
//
// Only acceptances come from the cache: a cached record that would refuse the command
// (revoked, command not listed) is never trusted and the store is asked again, so a
// refusal always reflects the store. Staleness is therefore one-sided and bounded by
// the TTL: a revocation done through another host (or while this host's lookup was in
// flight) stops acceptances here within `ttl`, no later; this host's own revocations
// invalidate at once (invalidate() before and after the store call, with the epoch
// guarding lookups that were in flight). A live session on another host already learns
// a revocation only at its next lease renewal, so a TTL below the renewal interval adds
// no new window. A command that a new hello adds to the agent's list is accepted at
// once (the cached record would refuse it, so the store is asked); one it drops may
// still be accepted for up to `ttl` (the agent then answers it `rejected`).
//
// Thread-safe (handlers run on loop threads, store completions on the blocking pool).
// Bounded: at most `max_entries`; when full, expired entries are dropped and, if still
// full, new records are simply not remembered.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <agenthost/capabilities/identity.hpp>

namespace agenthost::api {

class AgentCache {
public:
    using Clock = std::chrono::steady_clock;

    // ttl 0 disables the cache (find() never hits, put() stores nothing).
    AgentCache(std::chrono::milliseconds ttl, std::size_t max_entries);

    // The record remembered for `agent_id`, if younger than the TTL.
    std::shared_ptr<const sdk::AgentRecord> find(const std::string& agent_id,
                                                 Clock::time_point now) const;
    // Take before asking the store; pass to put(). A lookup that started before an
    // invalidate() is not remembered (it may predate the revocation).
    std::uint64_t epoch() const;
    void put(sdk::AgentRecord record, std::uint64_t epoch_at_lookup, Clock::time_point now);
    void invalidate(const std::string& agent_id);

    std::size_t size() const;
    bool enabled() const noexcept { return ttl_.count() > 0; }

private:
    struct Entry {
        std::shared_ptr<const sdk::AgentRecord> record;
        Clock::time_point expires;
    };

    const std::chrono::milliseconds ttl_;
    const std::size_t max_entries_;
    mutable std::mutex mu_;
    std::uint64_t epoch_ = 0;
    std::unordered_map<std::string, Entry> entries_;
};

// True when `agent` allows enqueueing `command` (not revoked; the command listed, or no
// hello yet, i.e. no capability list).
bool admits(const sdk::AgentRecord& agent, const std::string& command);

}  // namespace agenthost::api
