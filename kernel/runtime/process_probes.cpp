#include "kernel/runtime/process_probes.hpp"

#include <unistd.h>

#include <cstdio>

namespace agenthost::runtime {

std::uint64_t resident_bytes() noexcept {
    // statm: size resident shared text lib data dt, in pages.
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) {
        return 0;
    }
    unsigned long long size = 0;
    unsigned long long resident = 0;
    const int n = std::fscanf(f, "%llu %llu", &size, &resident);
    std::fclose(f);
    if (n != 2) {
        return 0;
    }
    const long page = ::sysconf(_SC_PAGESIZE);
    return resident * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

namespace {
std::int64_t ns_of(LoopMonitor::Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
}  // namespace

LoopMonitor::LoopMonitor(sdk::Scheduler& scheduler, std::chrono::milliseconds interval,
                         std::chrono::milliseconds stall_after)
    : scheduler_(scheduler),
      interval_(interval),
      stall_after_(stall_after),
      last_beat_ns_(ns_of(Clock::now())) {}

void LoopMonitor::start() {
    if (started_.exchange(true)) {
        return;
    }
    last_beat_ns_.store(ns_of(Clock::now()));
    arm();
}

void LoopMonitor::arm() {
    const auto due = Clock::now() + interval_;
    std::weak_ptr<LoopMonitor> weak = weak_from_this();
    scheduler_.schedule(interval_, [weak, due] {
        if (auto self = weak.lock()) {
            self->beat(due);
        }
    });
}

void LoopMonitor::beat(Clock::time_point due) {
    const auto now = Clock::now();
    const auto late = std::chrono::duration_cast<std::chrono::microseconds>(now - due).count();
    const std::int64_t lag = late > 0 ? late : 0;
    lag_us_.store(lag);
    std::int64_t seen = max_lag_us_.load();
    while (lag > seen && !max_lag_us_.compare_exchange_weak(seen, lag)) {
    }
    last_beat_ns_.store(ns_of(now));
    arm();
}

std::chrono::milliseconds LoopMonitor::since_last_beat() const noexcept {
    const std::int64_t diff = ns_of(Clock::now()) - last_beat_ns_.load();
    return std::chrono::milliseconds(diff > 0 ? diff / 1'000'000 : 0);
}

}  // namespace agenthost::runtime
