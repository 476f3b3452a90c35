#pragma once
// Gate + run_blocking: keep blocking-pool work from outliving Plugin::stop().
// A task enters the gate first; once closed, a queued task returns without running
// (its completion is dropped, as the SDK's stop() contract requires) and close()
// waits for the tasks already inside, except one on the calling thread.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <agenthost/scheduler.hpp>
#include <agenthost/status.hpp>

namespace agenthost::telemetry_postgres {

class Gate {
public:
    class Pass {
    public:
        explicit Pass(Gate& g) : g_(g), in_(g.enter()) {}
        ~Pass() {
            if (in_) {
                g_.leave();
            }
        }
        Pass(const Pass&) = delete;
        Pass& operator=(const Pass&) = delete;
        explicit operator bool() const noexcept { return in_; }

    private:
        Gate& g_;
        bool in_;
    };

    void close() {
        std::unique_lock lk(mu_);
        closed_ = true;
        const auto own =
            static_cast<std::size_t>(std::count(inside().begin(), inside().end(), this));
        cv_.wait(lk, [&] { return inside_ <= own; });
    }
    bool closed() const {
        std::lock_guard lk(mu_);
        return closed_;
    }

private:
    static std::vector<const Gate*>& inside() {
        thread_local std::vector<const Gate*> v;
        return v;
    }
    bool enter() {
        std::lock_guard lk(mu_);
        if (closed_) {
            return false;
        }
        ++inside_;
        inside().push_back(this);
        return true;
    }
    void leave() {
        std::lock_guard lk(mu_);
        --inside_;
        auto& v = inside();
        if (auto it = std::find(v.rbegin(), v.rend(), this); it != v.rend()) {
            v.erase(std::next(it).base());
        }
        cv_.notify_all();
    }

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::size_t inside_ = 0;
    bool closed_ = false;
};

// Runs work() on the pool behind `gate` and hands its value to `done` on that pool
// thread. No exception escapes. After close, `done` gets Errc::unavailable inline.
template <typename R, typename Work>
void run_blocking(sdk::BlockingPool& pool, const std::shared_ptr<Gate>& gate, sdk::Callback<R> done,
                  Work work) {
    if (gate->closed()) {
        done(R(sdk::Status(sdk::Errc::unavailable, "store stopped")));
        return;
    }
    pool.submit([gate, done = std::move(done), work = std::move(work)]() mutable {
        Gate::Pass pass(*gate);
        if (!pass) {
            return;
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

// Runs work() on the pool and waits up to `timeout` (Plugin::start() only: its
// contract is synchronous, and the blocking work still happens on a pool thread).
template <typename Work>
sdk::Status wait_on_pool(sdk::BlockingPool& pool, std::chrono::milliseconds timeout, Work work) {
    auto promise = std::make_shared<std::promise<sdk::Status>>();
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
        return {sdk::Errc::timeout, "blocking pool did not finish in time"};
    }
    return future.get();
}

}  // namespace agenthost::telemetry_postgres
