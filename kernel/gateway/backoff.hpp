#pragma once
// Reconnect delays: exponential backoff with full jitter (AWS architecture blog,
// "Exponential Backoff And Jitter"): delay = uniform(0, min(max, initial × 2^n)).
// Full jitter spreads a fleet that lost the backend at the same moment, so its
// reconnects never arrive as one synchronized storm.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace agenthost::gateway {

class Backoff {
public:
    Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
            std::uint64_t seed = std::random_device{}())
        : initial_(std::max<std::int64_t>(1, initial.count())),
          max_(std::max<std::int64_t>(initial_, max.count())),
          rng_(seed) {}

    // The delay before the next attempt; each call doubles the ceiling.
    std::chrono::milliseconds next() {
        const std::int64_t ceiling = this->ceiling();
        if (attempt_ < 62) {
            ++attempt_;
        }
        std::uniform_int_distribution<std::int64_t> dist(0, ceiling);
        return std::chrono::milliseconds(dist(rng_));
    }
    // The upper bound of the next delay.
    std::int64_t ceiling() const {
        std::int64_t c = initial_;
        for (unsigned i = 0; i < attempt_ && c < max_; ++i) {
            c *= 2;
        }
        return std::min(c, max_);
    }
    // After a session was welcomed: start from `initial` again.
    void reset() { attempt_ = 0; }
    unsigned attempt() const { return attempt_; }

private:
    std::int64_t initial_;
    std::int64_t max_;
    unsigned attempt_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace agenthost::gateway
