#pragma once
// A token bucket (rate per second, burst capacity) for admission control and message
// rate limits. Not thread-safe: each owner uses it from one strand (or under its lock).
// Time is passed in, so the unit tests drive it without sleeping.

#include <algorithm>
#include <chrono>

namespace agenthost::net {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    // rate <= 0: unlimited (take() always succeeds).
    TokenBucket(double rate_per_s, double burst, Clock::time_point now = Clock::now())
        : rate_(rate_per_s), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

    // Takes one token if there is one; false means "over the limit".
    bool take(Clock::time_point now = Clock::now()) {
        if (rate_ <= 0) {
            return true;
        }
        if (now > last_) {
            const double elapsed = std::chrono::duration<double>(now - last_).count();
            tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
            last_ = now;
        }
        if (tokens_ < 1.0) {
            return false;
        }
        tokens_ -= 1.0;
        return true;
    }

    double tokens() const noexcept { return tokens_; }

private:
    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_;
};

}  // namespace agenthost::net
