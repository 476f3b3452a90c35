#pragma once
// Execution services: the event loop, timers, the blocking-work pool and the clock.
// Rule: nothing that can block (disk fsync, a database call, a child process wait)
// runs on the loop. Such work goes to the blocking pool, which posts its completion
// back to the loop.

#include <chrono>
#include <cstdint>
#include <functional>

namespace agenthost::sdk {

using Task = std::function<void()>;
using TimerId = std::uint64_t;

// The kernel's event loop (a small fixed set of threads). Thread-safe.
class Scheduler {
public:
    virtual ~Scheduler() = default;
    // Runs `task` on a loop thread soon; never inline.
    virtual void post(Task task) = 0;
    // Runs `task` on a loop thread after `delay`. The returned id may be cancelled.
    virtual TimerId schedule(std::chrono::milliseconds delay, Task task) = 0;
    // Cancels a pending timer; returns false when it already ran or was cancelled.
    virtual bool cancel(TimerId id) = 0;
    // Number of loop threads: tasks posted here may run concurrently with each other.
    virtual unsigned concurrency() const noexcept = 0;
    // The native event loop behind this scheduler, for plugins that must wait on
    // socket readiness themselves (e.g. a Redis client driving hiredis): the kernel
    // returns its `boost::asio::io_context*`. Only usable by code built against the
    // same Boost (the ABI tag guarantees it). nullptr: no native loop (test fakes);
    // such plugins then refuse to start with Errc::unsupported.
    virtual void* native_loop() noexcept { return nullptr; }
};

// A bounded pool of threads for blocking work (SQLite, libpqxx, fsync, waitpid).
class BlockingPool {
public:
    virtual ~BlockingPool() = default;
    // Runs `work` on a pool thread. Completion must be posted back to the loop by the
    // caller (through Scheduler::post) when it touches loop-owned state.
    virtual void submit(Task work) = 0;
    virtual unsigned threads() const noexcept = 0;
};

// Time source; tests may substitute a fake one.
class Clock {
public:
    virtual ~Clock() = default;
    // Unix time in milliseconds (wall clock; used on the wire and in storage).
    virtual std::int64_t now_unix_ms() const noexcept = 0;
    // Monotonic time for durations and deadlines.
    virtual std::chrono::steady_clock::time_point steady_now() const noexcept = 0;
};

}  // namespace agenthost::sdk
