#include "plugins/replay_redis/local_fallback.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace agenthost::plugins::replay_redis {

Route route_of(Fallback mode, const sdk::Result<sdk::ReplayVerdict>& redis_answer) {
    if (redis_answer.ok()) {
        return Route::redis;
    }
    const auto code = redis_answer.status().code();
    const bool unavailable = code == sdk::Errc::unavailable || code == sdk::Errc::timeout;
    return unavailable && mode == Fallback::local ? Route::local : Route::fail;
}

LocalFallback::LocalFallback(Options options)
    : cache_(replay::NonceCache::Options{options.capacity, options.shards, /*bucket_ms=*/100}),
      epoch_ms_(options.start_ms) {}

void LocalFallback::advance_epoch(std::int64_t past_ts_ms) noexcept {
    std::int64_t cur = epoch_ms_.load();
    while (cur <= past_ts_ms && !epoch_ms_.compare_exchange_weak(cur, past_ts_ms + 1)) {
    }
}

sdk::ReplayVerdict LocalFallback::mirror(std::string_view agent, std::string_view nonce,
                                         std::int64_t ts_ms, std::int64_t expiry_ms,
                                         std::int64_t now_ms) {
    switch (cache_.check_and_insert(agent, nonce, expiry_ms, now_ms)) {
        case replay::NonceCache::Outcome::fresh:
            return sdk::ReplayVerdict::fresh;
        case replay::NonceCache::Outcome::replayed:
            // Accepted here during an outage and not written back yet (or Redis lost
            // it): Redis' "fresh" is wrong, the frame is a replay.
            return sdk::ReplayVerdict::replayed;
        case replay::NonceCache::Outcome::full:
            break;
    }
    // The shadow cannot hold it: never vouch for this ts (or older) locally again.
    dropped_.fetch_add(1);
    advance_epoch(ts_ms);
    return sdk::ReplayVerdict::fresh;
}

sdk::ReplayVerdict LocalFallback::check(std::string_view agent, std::string_view nonce,
                                        std::int64_t ts_ms, std::int64_t expiry_ms,
                                        std::int64_t now_ms) {
    if (ts_ms < epoch_ms_.load()) {
        return sdk::ReplayVerdict::stale;  // from before what the shadow knows
    }
    switch (cache_.check_and_insert(agent, nonce, expiry_ms, now_ms)) {
        case replay::NonceCache::Outcome::replayed:
            return sdk::ReplayVerdict::replayed;
        case replay::NonceCache::Outcome::full:
            return sdk::ReplayVerdict::full;  // full of live entries: refuse, never forget
        case replay::NonceCache::Outcome::fresh:
            break;
    }
    std::lock_guard lock(mu_);
    prune_locked(now_ms);
    journal_.push_back(Pending{std::string(agent), std::string(nonce), expiry_ms});
    return sdk::ReplayVerdict::fresh;
}

void LocalFallback::prune_locked(std::int64_t now_ms) {
    // Expiries are nearly monotonic (now + window): the journal is nearly a FIFO.
    while (!journal_.empty() && journal_.front().expiry_ms <= now_ms) {
        journal_.pop_front();
    }
    if (journal_.size() >= cache_.capacity()) {
        // Expired entries behind a live one (a future-dated ts): live ones are at most
        // `capacity` (each is a live cache entry), so this restores the bound.
        std::erase_if(journal_, [now_ms](const Pending& p) { return p.expiry_ms <= now_ms; });
    }
}

std::vector<LocalFallback::Pending> LocalFallback::take(std::int64_t now_ms, std::size_t max) {
    std::vector<Pending> out;
    std::lock_guard lock(mu_);
    while (!journal_.empty() && out.size() < max) {
        if (journal_.front().expiry_ms > now_ms) {
            out.push_back(std::move(journal_.front()));
        }
        journal_.pop_front();
    }
    return out;
}

void LocalFallback::restore(std::vector<Pending> batch) {
    std::lock_guard lock(mu_);
    journal_.insert(journal_.begin(), std::make_move_iterator(batch.begin()),
                    std::make_move_iterator(batch.end()));
}

std::size_t LocalFallback::pending() const {
    std::lock_guard lock(mu_);
    return journal_.size();
}

}  // namespace agenthost::plugins::replay_redis
