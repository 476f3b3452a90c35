#include "kernel/api/agent_cache.hpp"

#include <algorithm>
#include <utility>

namespace agenthost::api {

AgentCache::AgentCache(std::chrono::milliseconds ttl, std::size_t max_entries)
    : ttl_(ttl), max_entries_(max_entries) {}

std::shared_ptr<const sdk::AgentRecord> AgentCache::find(const std::string& agent_id,
                                                         Clock::time_point now) const {
    if (!enabled()) {
        return nullptr;
    }
    std::lock_guard lock(mu_);
    auto it = entries_.find(agent_id);
    if (it == entries_.end() || now >= it->second.expires) {
        return nullptr;
    }
    return it->second.record;
}

std::uint64_t AgentCache::epoch() const {
    std::lock_guard lock(mu_);
    return epoch_;
}

void AgentCache::put(sdk::AgentRecord record, std::uint64_t epoch_at_lookup,
                     Clock::time_point now) {
    if (!enabled()) {
        return;
    }
    auto rec = std::make_shared<const sdk::AgentRecord>(std::move(record));
    std::lock_guard lock(mu_);
    if (epoch_at_lookup != epoch_) {
        return;  // an invalidation happened while the store was being asked
    }
    auto it = entries_.find(rec->agent_id);
    if (it == entries_.end() && entries_.size() >= max_entries_) {
        for (auto e = entries_.begin(); e != entries_.end();) {
            e = now >= e->second.expires ? entries_.erase(e) : std::next(e);
        }
        if (entries_.size() >= max_entries_) {
            return;
        }
    }
    const std::string key = rec->agent_id;
    entries_[key] = Entry{std::move(rec), now + ttl_};
}

void AgentCache::invalidate(const std::string& agent_id) {
    std::lock_guard lock(mu_);
    ++epoch_;
    entries_.erase(agent_id);
}

std::size_t AgentCache::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

bool admits(const sdk::AgentRecord& agent, const std::string& command) {
    if (agent.revoked) {
        return false;
    }
    if (!agent.capabilities) {
        return true;
    }
    const auto& caps = *agent.capabilities;
    return std::find(caps.begin(), caps.end(), command) != caps.end();
}

}  // namespace agenthost::api
