#pragma once
// Fake execution services for unit tests.
//
// FakeScheduler has two modes:
//  - manual (default, deterministic): post() only queues; the test drives execution
//    with run_until_idle(), and timers fire only when the fake clock is advanced
//    with advance() (in due order, the clock stepping to each timer's due time).
//  - background: start_background() runs posted tasks and due timers on one real
//    thread; the fake clock still decides when a timer is due (advance() wakes it).
// FakeBlockingPool runs work inline, on demand (manual) or on real threads.
//
// Tasks never run under the fakes' internal locks, so a task may post or schedule more.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <agenthost/scheduler.hpp>

#include "tests/support/fake_clock.hpp"

namespace agenthost::testing {

class FakeScheduler final : public sdk::Scheduler {
public:
    explicit FakeScheduler(FakeClock& clock) : clock_(clock) {}
    ~FakeScheduler() override { stop_background(); }
    FakeScheduler(const FakeScheduler&) = delete;
    FakeScheduler& operator=(const FakeScheduler&) = delete;

    void post(sdk::Task task) override {
        {
            std::lock_guard lock(mu_);
            ++posted_total_;
            posted_.push_back(std::move(task));
        }
        cv_.notify_all();
    }

    sdk::TimerId schedule(std::chrono::milliseconds delay, sdk::Task task) override {
        sdk::TimerId id = 0;
        {
            std::lock_guard lock(mu_);
            id = ++next_id_;
            const std::int64_t due = clock_.steady_ms() + std::max<std::int64_t>(0, delay.count());
            timers_.emplace(Key{due, id}, std::move(task));
        }
        cv_.notify_all();
        return id;
    }

    bool cancel(sdk::TimerId id) override {
        std::lock_guard lock(mu_);
        for (auto it = timers_.begin(); it != timers_.end(); ++it) {
            if (it->first.id == id) {
                timers_.erase(it);
                return true;
            }
        }
        return false;
    }

    unsigned concurrency() const noexcept override { return 1; }

    // Runs posted tasks and timers due at the current fake time until none is left.
    // Returns the number of tasks run. Manual mode only.
    std::size_t run_until_idle() {
        std::size_t n = 0;
        while (sdk::Task t = take_ready()) {
            t();
            ++n;
        }
        return n;
    }

    // Advances the clock by `d`, stepping to each due timer in order and running it
    // (plus everything it posts) before moving on. Manual mode: runs tasks here;
    // background mode: wakes the worker, which runs them.
    void advance(std::chrono::milliseconds d) {
        const std::int64_t target = clock_.steady_ms() + d.count();
        if (background_running()) {
            clock_.advance(d);
            cv_.notify_all();
            return;
        }
        run_until_idle();
        for (;;) {
            std::int64_t next_due = 0;
            {
                std::lock_guard lock(mu_);
                if (timers_.empty() || timers_.begin()->first.due > target) {
                    break;
                }
                next_due = timers_.begin()->first.due;
            }
            if (next_due > clock_.steady_ms()) {
                clock_.advance(std::chrono::milliseconds(next_due - clock_.steady_ms()));
            }
            run_until_idle();
        }
        if (target > clock_.steady_ms()) {
            clock_.advance(std::chrono::milliseconds(target - clock_.steady_ms()));
        }
        run_until_idle();
    }

    std::size_t pending_timers() const {
        std::lock_guard lock(mu_);
        return timers_.size();
    }
    std::size_t pending_posts() const {
        std::lock_guard lock(mu_);
        return posted_.size();
    }
    std::uint64_t posted_total() const {
        std::lock_guard lock(mu_);
        return posted_total_;
    }
    // Due time (steady ms) of the earliest timer, or -1.
    std::int64_t next_timer_due_ms() const {
        std::lock_guard lock(mu_);
        return timers_.empty() ? -1 : timers_.begin()->first.due;
    }

    void start_background() {
        std::lock_guard lock(mu_);
        if (worker_.joinable()) {
            return;
        }
        stopping_ = false;
        worker_ = std::thread([this] { background_loop(); });
    }
    // Stops the worker; queued tasks stay queued (run_until_idle may run them).
    void stop_background() {
        {
            std::lock_guard lock(mu_);
            if (!worker_.joinable()) {
                return;
            }
            stopping_ = true;
        }
        cv_.notify_all();
        worker_.join();
        std::lock_guard lock(mu_);
        worker_ = std::thread();
    }
    bool background_running() const {
        std::lock_guard lock(mu_);
        return worker_.joinable();
    }

private:
    struct Key {
        std::int64_t due;
        sdk::TimerId id;  // ties broken by scheduling order
        bool operator<(const Key& o) const { return due != o.due ? due < o.due : id < o.id; }
    };

    // Next runnable task: posted tasks first, then the earliest due timer.
    sdk::Task take_ready() {
        std::lock_guard lock(mu_);
        return take_ready_locked();
    }
    sdk::Task take_ready_locked() {
        if (!posted_.empty()) {
            sdk::Task t = std::move(posted_.front());
            posted_.pop_front();
            return t;
        }
        if (!timers_.empty() && timers_.begin()->first.due <= clock_.steady_ms()) {
            sdk::Task t = std::move(timers_.begin()->second);
            timers_.erase(timers_.begin());
            return t;
        }
        return {};
    }

    void background_loop() {
        std::unique_lock lock(mu_);
        while (!stopping_) {
            sdk::Task t = take_ready_locked();
            if (!t) {
                // The fake clock has no notification of its own: poll briefly so a
                // test that advances the clock directly still sees its timers fire.
                cv_.wait_for(lock, std::chrono::milliseconds(5));
                continue;
            }
            lock.unlock();
            t();
            lock.lock();
        }
    }

    FakeClock& clock_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<sdk::Task> posted_;
    std::map<Key, sdk::Task> timers_;
    sdk::TimerId next_id_ = 0;
    std::uint64_t posted_total_ = 0;
    std::thread worker_;
    bool stopping_ = false;
};

class FakeBlockingPool final : public sdk::BlockingPool {
public:
    enum class Mode {
        inline_run,  // submit() runs the work before returning
        manual,      // queued until run_until_idle()
        threaded,    // real threads (set_threads decides how many)
    };

    explicit FakeBlockingPool(Mode mode = Mode::manual, unsigned threads = 2)
        : mode_(mode), thread_count_(threads == 0 ? 1 : threads) {
        if (mode_ == Mode::threaded) {
            start_threads();
        }
    }
    ~FakeBlockingPool() override { stop_threads(); }
    FakeBlockingPool(const FakeBlockingPool&) = delete;
    FakeBlockingPool& operator=(const FakeBlockingPool&) = delete;

    void submit(sdk::Task work) override {
        if (mode_ == Mode::inline_run) {
            ++submitted_;
            work();
            return;
        }
        {
            std::lock_guard lock(mu_);
            ++submitted_;
            queue_.push_back(std::move(work));
        }
        cv_.notify_one();
    }
    unsigned threads() const noexcept override { return thread_count_; }

    // Manual mode: runs queued work (and work it submits) until none is left.
    std::size_t run_until_idle() {
        std::size_t n = 0;
        for (;;) {
            sdk::Task t;
            {
                std::lock_guard lock(mu_);
                if (queue_.empty() || mode_ == Mode::threaded) {
                    return n;
                }
                t = std::move(queue_.front());
                queue_.pop_front();
            }
            t();
            ++n;
        }
    }
    std::size_t pending() const {
        std::lock_guard lock(mu_);
        return queue_.size();
    }
    std::uint64_t submitted() const { return submitted_.load(); }
    Mode mode() const noexcept { return mode_; }

    // Switches mode; only call while no work is in flight.
    void set_mode(Mode mode) {
        stop_threads();
        mode_ = mode;
        if (mode_ == Mode::threaded) {
            start_threads();
        }
    }

private:
    void start_threads() {
        stopping_ = false;
        for (unsigned i = 0; i < thread_count_; ++i) {
            workers_.emplace_back([this] { worker_loop(); });
        }
    }
    void stop_threads() {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto& w : workers_) {
            w.join();
        }
        workers_.clear();
    }
    void worker_loop() {
        std::unique_lock lock(mu_);
        for (;;) {
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;  // stopping and drained
            }
            sdk::Task t = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            t();
            lock.lock();
        }
    }

    Mode mode_;
    unsigned thread_count_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<sdk::Task> queue_;
    std::vector<std::thread> workers_;
    std::atomic<std::uint64_t> submitted_{0};
    bool stopping_ = false;
};

}  // namespace agenthost::testing
