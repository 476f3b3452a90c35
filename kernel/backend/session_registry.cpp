#include "kernel/backend/session_registry.hpp"

namespace agenthost::backend {

void SessionRegistry::add(const std::string& agent_id, const std::string& session_id,
                          std::weak_ptr<LiveSession> session) {
    std::lock_guard lock(mu_);
    sessions_[agent_id] = Entry{session_id, std::move(session)};
}

void SessionRegistry::remove(const std::string& agent_id, const std::string& session_id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(agent_id);
    if (it != sessions_.end() && it->second.session_id == session_id) {
        sessions_.erase(it);
    }
}

bool SessionRegistry::terminate(const std::string& agent_id, std::uint16_t code,
                                const std::string& reason) {
    std::shared_ptr<LiveSession> session;
    {
        std::lock_guard lock(mu_);
        auto it = sessions_.find(agent_id);
        if (it == sessions_.end()) {
            return false;
        }
        session = it->second.session.lock();
    }
    // Called outside the lock: terminate() posts to the session, which may call
    // remove() from another thread.
    if (!session) {
        return false;
    }
    session->terminate(code, reason);
    return true;
}

void SessionRegistry::terminate_all(std::uint16_t code, const std::string& reason) {
    std::vector<std::shared_ptr<LiveSession>> live;
    {
        std::lock_guard lock(mu_);
        for (auto& [agent, entry] : sessions_) {
            if (auto s = entry.session.lock()) {
                live.push_back(std::move(s));
            }
        }
    }
    for (auto& s : live) {
        s->terminate(code, reason);
    }
}

bool SessionRegistry::contains(std::string_view agent_id) const {
    std::lock_guard lock(mu_);
    return sessions_.count(std::string(agent_id)) != 0;
}

std::size_t SessionRegistry::size() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
}

}  // namespace agenthost::backend
