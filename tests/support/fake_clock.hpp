#pragma once
// A manual clock for unit tests: time moves only when the test says so.
// Wall time (unix ms) and steady time advance together. Thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>

#include <agenthost/scheduler.hpp>

namespace agenthost::testing {

class FakeClock final : public sdk::Clock {
public:
    // 2026-11-27T08:00:00.000Z: a fixed, readable start so expected timestamps are stable.
    static constexpr std::int64_t default_start_unix_ms = 1795766400000;

    explicit FakeClock(std::int64_t start_unix_ms = default_start_unix_ms)
        : unix_ms_(start_unix_ms) {}

    std::int64_t now_unix_ms() const noexcept override { return unix_ms_.load(); }
    std::chrono::steady_clock::time_point steady_now() const noexcept override {
        return std::chrono::steady_clock::time_point(std::chrono::milliseconds(steady_ms_.load()));
    }
    std::int64_t steady_ms() const noexcept { return steady_ms_.load(); }

    // Moves both clocks forward. Prefer FakeContext::advance(), which also fires timers.
    void advance(std::chrono::milliseconds d) noexcept {
        unix_ms_ += d.count();
        steady_ms_ += d.count();
    }
    // Moves only the wall clock (e.g. an NTP step); steady time is unaffected.
    void set_unix_ms(std::int64_t ms) noexcept { unix_ms_ = ms; }

private:
    std::atomic<std::int64_t> unix_ms_;
    std::atomic<std::int64_t> steady_ms_{1'000'000};
};

}  // namespace agenthost::testing
