#pragma once
// AsyncGate: keeps blocking-pool work from outliving Plugin::stop().
//
// The SDK says that after stop() returns a plugin invokes no pending completion and
// makes no call into the kernel. Work already queued on the pool cannot be recalled,
// so each task enters the gate first: once the gate is closed a task returns without
// running (its completion is dropped), and close() waits for the tasks already
// inside. Tasks hold the gate through a shared_ptr, so a late task never touches a
// destroyed plugin.

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace agenthost::sqlite {

class AsyncGate {
public:
    // RAII entry: `if (AsyncGate::Pass pass(gate); pass) { ... }`.
    class Pass {
    public:
        explicit Pass(AsyncGate& gate) : gate_(gate), entered_(gate.enter()) {}
        ~Pass() {
            if (entered_) {
                gate_.leave();
            }
        }
        Pass(const Pass&) = delete;
        Pass& operator=(const Pass&) = delete;
        explicit operator bool() const noexcept { return entered_; }

    private:
        AsyncGate& gate_;
        bool entered_;
    };

    // Closes the gate and waits until no task is inside, except one running on the
    // calling thread (stop() called from a completion must not wait for itself).
    void close();
    bool closed() const;

private:
    bool enter();
    void leave();

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::size_t inside_ = 0;
    bool closed_ = false;
};

}  // namespace agenthost::sqlite

#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include <agenthost/scheduler.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sqlite {

// Runs `work()` (returning R: a Status or an sdk::Result) on the blocking pool behind
// `gate`, then hands the value to `done` on that pool thread. No exception escapes:
// a throw in `work` becomes Errc::internal; a throw in `done` is swallowed (there is
// nobody left to tell). After the gate closed, `done` gets Errc::unavailable inline.
template <typename R, typename Work>
void run_blocking(sdk::BlockingPool& pool, const std::shared_ptr<AsyncGate>& gate,
                  sdk::Callback<R> done, Work work) {
    if (gate->closed()) {
        done(R(sdk::Status(sdk::Errc::unavailable, "store stopped")));
        return;
    }
    pool.submit([gate, done = std::move(done), work = std::move(work)]() mutable {
        AsyncGate::Pass pass(*gate);
        if (!pass) {
            return;  // stopped while queued: the completion is dropped by contract
        }
        std::optional<R> result;
        try {
            result.emplace(work());
        } catch (const std::exception& e) {
            result.emplace(sdk::Status(sdk::Errc::internal, e.what()));
        } catch (...) {
            result.emplace(sdk::Status(sdk::Errc::internal, "unknown exception"));
        }
        try {
            done(std::move(*result));
        } catch (...) {  // NOLINT(bugprone-empty-catch): the caller's bug, not ours
        }
    });
}

}  // namespace agenthost::sqlite

#include <chrono>
#include <future>

namespace agenthost::sqlite {

// Runs `work` on the pool and waits up to `timeout` for its value. Only for
// Plugin::start(), whose contract is synchronous: the blocking work (opening and
// migrating the database) still happens on a pool thread, and nothing is served yet.
template <typename T, typename Work>
sdk::Result<T> wait_on_pool(sdk::BlockingPool& pool, std::chrono::milliseconds timeout, Work work) {
    auto promise = std::make_shared<std::promise<sdk::Result<T>>>();
    auto future = promise->get_future();
    pool.submit([promise, work = std::move(work)]() mutable {
        try {
            promise->set_value(work());
        } catch (const std::exception& e) {
            promise->set_value(sdk::Status(sdk::Errc::internal, e.what()));
        } catch (...) {
            promise->set_value(sdk::Status(sdk::Errc::internal, "unknown exception"));
        }
    });
    if (future.wait_for(timeout) != std::future_status::ready) {
        return sdk::Status(sdk::Errc::timeout, "blocking pool did not finish in time");
    }
    return future.get();
}

}  // namespace agenthost::sqlite
