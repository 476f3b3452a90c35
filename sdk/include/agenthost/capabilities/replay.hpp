#pragma once
// Capability "replay": the nonce cache of PROTOCOL.md §2. Bounded; when full of live
// entries it answers `full` and never evicts a live entry.
// Threading: thread-safe; check_and_insert is atomic per (agent, nonce).

#include <cstdint>
#include <optional>
#include <string_view>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

enum class ReplayVerdict {
    fresh,     // first sighting, now recorded
    replayed,  // seen within the window
    stale,     // older than what this cache can vouch for (e.g. before its start)
    full,      // cache full of live entries: refuse, do not forget
};

struct ReplayStats {
    std::uint64_t entries = 0;
    std::uint64_t capacity = 0;  // 0 = unbounded by count (e.g. external store)
    std::uint64_t bytes = 0;     // memory held, best estimate
};

class ReplayCache {
public:
    static constexpr std::string_view capability = "replay";
    virtual ~ReplayCache() = default;

    // Records (agent_id, nonce) for `window_ms` past max(ts_ms, now) if unseen.
    // In-memory implementations answer synchronously here; others return nullopt and
    // the caller uses the asynchronous form.
    virtual std::optional<ReplayVerdict> check_now(std::string_view agent_id,
                                                   std::string_view nonce, std::int64_t ts_ms,
                                                   std::int64_t window_ms) = 0;
    virtual void check(std::string agent_id, std::string nonce, std::int64_t ts_ms,
                       std::int64_t window_ms, Callback<Result<ReplayVerdict>> done) = 0;
    virtual ReplayStats stats() const = 0;
};

}  // namespace agenthost::sdk
