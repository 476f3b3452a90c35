#pragma once
// Probes of the process's own health, for /livez, /healthz, /metrics and the memory
// watermark guard: the event-loop heartbeat (loop lag) and the resident set size.
// No Asio: the heartbeat is a timer on the SDK scheduler.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include <agenthost/scheduler.hpp>

namespace agenthost::runtime {

// Resident set size of this process in bytes (/proc/self/statm); 0 when unreadable.
std::uint64_t resident_bytes() noexcept;

// A timer on the event loop stamps the time every `interval`; the lag is how late the
// timer ran. /livez fails only when no stamp arrived for `stall_after` (the loop is
// stuck), never because a dependency is down. Thread-safe readers.
class LoopMonitor : public std::enable_shared_from_this<LoopMonitor> {
public:
    using Clock = std::chrono::steady_clock;

    LoopMonitor(sdk::Scheduler& scheduler,
                std::chrono::milliseconds interval = std::chrono::milliseconds(250),
                std::chrono::milliseconds stall_after = std::chrono::seconds(5));
    // Arms the first beat (call once; later calls do nothing). The timer chain holds a
    // weak reference, so destroying the monitor stops it.
    void start();

    // Time since the last beat.
    std::chrono::milliseconds since_last_beat() const noexcept;
    bool stalled() const noexcept { return since_last_beat() >= stall_after_; }
    // Lateness of the last beat and the largest since start, in milliseconds.
    double lag_ms() const noexcept { return lag_us_.load() / 1000.0; }
    double max_lag_ms() const noexcept { return max_lag_us_.load() / 1000.0; }
    std::chrono::milliseconds stall_after() const noexcept { return stall_after_; }

private:
    void arm();
    void beat(Clock::time_point due);

    sdk::Scheduler& scheduler_;
    const std::chrono::milliseconds interval_;
    const std::chrono::milliseconds stall_after_;
    std::atomic<bool> started_{false};
    std::atomic<std::int64_t> last_beat_ns_;  // steady clock, since epoch
    std::atomic<std::int64_t> lag_us_{0};
    std::atomic<std::int64_t> max_lag_us_{0};
};

}  // namespace agenthost::runtime
