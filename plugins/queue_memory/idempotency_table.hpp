#pragma once
// IdempotencyTable: (agent, Idempotency-Key) -> (command_id, request digest), each
// remembered for a fixed TTL. The TTL is the same for every entry, so insertion
// order is expiry order and a FIFO purges in amortised O(1).
// Not thread-safe: the queue calls it under its own lock.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace agenthost::plugins::queue_memory {

class IdempotencyTable {
public:
    struct Entry {
        std::string command_id;
        std::string request_digest;
        std::int64_t expires_ms = 0;
    };

    explicit IdempotencyTable(std::int64_t ttl_ms) : ttl_ms_(ttl_ms) {}

    // The live entry for (agent, key), if any.
    const Entry* find(std::string_view agent, std::string_view key, std::int64_t now_ms) {
        purge(now_ms);
        auto it = map_.find(make_key(agent, key));
        return it == map_.end() ? nullptr : &it->second;
    }
    void put(std::string_view agent, std::string_view key, std::string command_id,
             std::string digest, std::int64_t now_ms) {
        std::string k = make_key(agent, key);
        const std::int64_t expires = now_ms + ttl_ms_;
        map_[k] = Entry{std::move(command_id), std::move(digest), expires};
        fifo_.emplace_back(expires, std::move(k));
    }
    void erase(std::string_view agent, std::string_view key) { map_.erase(make_key(agent, key)); }
    std::size_t size() const noexcept { return map_.size(); }

private:
    static std::string make_key(std::string_view agent, std::string_view key) {
        // Length-prefixed, so no (agent, key) pair can alias another whatever bytes it holds.
        std::string k = std::to_string(agent.size());
        k.push_back(':');
        k.append(agent);
        k.append(key);
        return k;
    }
    void purge(std::int64_t now_ms) {
        while (!fifo_.empty() && fifo_.front().first <= now_ms) {
            auto it = map_.find(fifo_.front().second);
            // A re-put key has a later FIFO item; only the matching one erases it.
            if (it != map_.end() && it->second.expires_ms == fifo_.front().first) {
                map_.erase(it);
            }
            fifo_.pop_front();
        }
    }

    std::int64_t ttl_ms_;
    std::unordered_map<std::string, Entry> map_;
    std::deque<std::pair<std::int64_t, std::string>> fifo_;
};

}  // namespace agenthost::plugins::queue_memory
