#pragma once
// Capability "identity": the registry of agents and their live sessions.
// Invariant: at most one live session per agent_id (cluster-wide for shared stores),
// enforced by the store itself (PRIMARY KEY / constraint), never by the caller.
// Threading: every method may be called from any thread; completions run on any
// thread, possibly inline. Blocking stores do their I/O on the blocking pool.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/status.hpp>

namespace agenthost::sdk {

struct AgentHello {
    std::string agent_id;
    std::string cert_fingerprint;  // SHA-256 of the client certificate DER, lower-case hex
    std::string host_id;           // host opening the session
    std::string session_id;        // UUID chosen by the host
    std::string agent_version;
    std::string hostname;
    std::string platform;
    std::vector<std::string> capabilities;
    std::string remote_address;
};

struct AgentRecord {
    std::string agent_id;
    std::string cert_fingerprint;
    std::int64_t first_seen_ms = 0;
    std::int64_t last_seen_ms = 0;
    bool revoked = false;
    bool online = false;                   // a live (unexpired) session exists
    std::optional<std::string> host_id;    // host holding the live session
    std::optional<std::string> session_id;
    std::string agent_version;
    std::string hostname;
    std::string platform;
    std::optional<std::vector<std::string>> capabilities;  // from the last hello
};

enum class OpenOutcome { opened, revoked, duplicate };

struct OpenSessionResult {
    OpenOutcome outcome = OpenOutcome::opened;
    // For `duplicate`: the live session that keeps running.
    std::string existing_session_id;
    std::string existing_host_id;
    std::string existing_fingerprint;
};

class IdentityStore {
public:
    static constexpr std::string_view capability = "identity";
    virtual ~IdentityStore() = default;

    // Registers/updates the agent and takes its session lease for `lease`, unless the
    // agent is revoked or another unexpired lease exists.
    virtual void open_session(AgentHello hello, std::chrono::milliseconds lease,
                              Callback<Result<OpenSessionResult>> done) = 0;
    // Extends the lease (heartbeat). Errc::not_found when the session no longer
    // holds the lease (released by an operator); Errc::conflict when revoked.
    virtual void renew_session(std::string agent_id, std::string session_id,
                               std::chrono::milliseconds lease, Callback<Status> done) = 0;
    // Releases the lease held by this session (no-op if it no longer holds it).
    virtual void close_session(std::string agent_id, std::string session_id,
                               Callback<Status> done) = 0;
    // Marks the agent revoked (future hellos refused). Errc::not_found if unknown.
    virtual void revoke(std::string agent_id, Callback<Status> done) = 0;
    // Operator release: drops any lease. Returns the session that held it, if any.
    virtual void release(std::string agent_id,
                         Callback<Result<std::optional<std::string>>> done) = 0;
    virtual void get_agent(std::string agent_id, Callback<Result<AgentRecord>> done) = 0;
    virtual void list_agents(Callback<Result<std::vector<AgentRecord>>> done) = 0;
};

}  // namespace agenthost::sdk
