#pragma once
// LocalFallback: replay_redis' degraded mode (`fallback: local`). Redis-free and
// clock-free (callers pass unix ms) so its rules are unit-tested without a server.
//
//  - Shadow. A bounded in-process NonceCache (plugins/_common_replay, the very cache of
//    replay_memory) holds this host's accepted nonces: while Redis answers, each nonce
//    it calls fresh is mirrored here (mirror()); while Redis is unreachable this cache
//    answers (check()) with replay_memory's rules. So a frame this host accepted —
//    before or during an outage — is refused when replayed to this host, and a nonce
//    accepted locally is still refused here after Redis returns, before its
//    write-back (mirror() answers `replayed` for it although Redis said fresh).
//  - Epoch. Like replay_memory the cache cannot vouch for frames older than its own
//    start: `ts < epoch` is `stale`. The epoch is the plugin's start, moved past the
//    `ts` of any nonce the mirror could not record (cache full of live entries), so a
//    nonce missing from the shadow is never answered fresh by it.
//  - Journal. Nonces accepted locally wait in a FIFO for the write-back to Redis
//    (SET NX PX with their remaining lifetime) once Redis is back: take() hands out a
//    batch, restore() puts back a batch whose write failed. Expired entries are dropped
//    (Redis would expire them at once). Bounded: every live journal entry is a live
//    cache entry, so at most `capacity` are live, and expired ones are pruned.
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/replay.hpp>
#include <agenthost/status.hpp>

#include "plugins/_common_replay/nonce_cache.hpp"

namespace agenthost::plugins::replay_redis {

enum class Fallback { refuse, local };

// What a check does with Redis' answer.
enum class Route {
    redis,  // use Redis' verdict (fresh / replayed / stale / full — OOM stays `full`)
    local,  // Redis unreachable or too slow, `fallback: local`: ask the local cache
    fail,   // fail closed: the kernel refuses the frame (1013)
};
// Only unavailability (disconnected, timed out, a transient error reply such as
// LOADING or BUSY) falls back; anything else (an unexpected reply) fails closed.
Route route_of(Fallback mode, const sdk::Result<sdk::ReplayVerdict>& redis_answer);

class LocalFallback {
public:
    struct Options {
        std::uint64_t capacity = 1'000'000;
        unsigned shards = 16;
        std::int64_t start_ms = 0;  // the plugin's start: the first epoch
    };
    struct Pending {
        std::string agent;
        std::string nonce;
        std::int64_t expiry_ms = 0;
    };

    explicit LocalFallback(Options options);
    LocalFallback(const LocalFallback&) = delete;
    LocalFallback& operator=(const LocalFallback&) = delete;

    // Redis answered `fresh` for (agent, nonce): record it in the shadow. Answers
    // `replayed` when this host had accepted the nonce locally (an outage) and Redis
    // has not got it yet, else `fresh`; a nonce the full shadow cannot hold moves the
    // epoch past `ts` (and stays fresh: Redis recorded it).
    sdk::ReplayVerdict mirror(std::string_view agent, std::string_view nonce, std::int64_t ts_ms,
                              std::int64_t expiry_ms, std::int64_t now_ms);
    // Redis unreachable: replay_memory's answer from the shadow; a fresh nonce is
    // journaled for the write-back.
    sdk::ReplayVerdict check(std::string_view agent, std::string_view nonce, std::int64_t ts_ms,
                             std::int64_t expiry_ms, std::int64_t now_ms);

    // Up to `max` live journal entries, oldest first (they leave the journal).
    std::vector<Pending> take(std::int64_t now_ms, std::size_t max);
    // A batch whose write-back failed goes back to the front, in order.
    void restore(std::vector<Pending> batch);
    std::size_t pending() const;

    // Degraded = checks are being answered locally. Returns whether it changed, so
    // the caller logs each transition once.
    bool set_degraded(bool on) noexcept { return degraded_.exchange(on) != on; }
    bool degraded() const noexcept { return degraded_.load(); }

    std::int64_t epoch_ms() const noexcept { return epoch_ms_.load(); }
    std::uint64_t size() const noexcept { return cache_.size(); }
    std::uint64_t capacity() const noexcept { return cache_.capacity(); }
    // Nonces the full shadow could not record (each moved the epoch).
    std::uint64_t dropped() const noexcept { return dropped_.load(); }

private:
    void advance_epoch(std::int64_t past_ts_ms) noexcept;
    void prune_locked(std::int64_t now_ms);

    replay::NonceCache cache_;
    std::atomic<std::int64_t> epoch_ms_;
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<bool> degraded_{false};
    mutable std::mutex mu_;
    std::deque<Pending> journal_;  // guarded by mu_
};

}  // namespace agenthost::plugins::replay_redis
