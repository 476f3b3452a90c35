#pragma once
// The agent sessions live on this host, by agent_id. The operator API uses it to end
// a session when an agent is revoked (4403) or its lease released (4409); the
// identity store stays the authority on who holds the lease, this map only knows
// which local connection to close. Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace agenthost::backend {

// A live session as the registry sees it.
class LiveSession {
public:
    virtual ~LiveSession() = default;
    // Ends the session: a fatal `error` frame with `code` and `reason`, then the close.
    // Callable from any thread; the work runs on the session's strand.
    virtual void terminate(std::uint16_t code, std::string reason) = 0;
};

class SessionRegistry {
public:
    // Registers the session that now holds `agent_id`'s lease on this host.
    void add(const std::string& agent_id, const std::string& session_id,
             std::weak_ptr<LiveSession> session);
    // Forgets the entry, only if it still belongs to `session_id`.
    void remove(const std::string& agent_id, const std::string& session_id);
    // Terminates the local session of `agent_id`, if any. Returns whether one existed.
    bool terminate(const std::string& agent_id, std::uint16_t code, const std::string& reason);
    // Terminates every local session (drain).
    void terminate_all(std::uint16_t code, const std::string& reason);
    bool contains(std::string_view agent_id) const;
    std::size_t size() const;

private:
    struct Entry {
        std::string session_id;
        std::weak_ptr<LiveSession> session;
    };
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> sessions_;
};

}  // namespace agenthost::backend
