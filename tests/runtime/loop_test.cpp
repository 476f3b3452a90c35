// Runtime loop: post, schedule, cancel, blocking pool, run()/stop().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/runtime/runtime.hpp"

namespace agenthost::runtime {
namespace {
using namespace std::chrono_literals;

// A one-shot latch with a deadline (never sleep as synchronisation).
class Latch {
public:
    void open() {
        std::lock_guard lock(mu_);
        open_ = true;
        cv_.notify_all();
    }
    bool wait(std::chrono::milliseconds limit = 5s) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, limit, [this] { return open_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

RuntimeOptions small() {
    RuntimeOptions o;
    o.loop_threads = 2;
    o.blocking_threads = 2;
    o.log_level = "warn";
    return o;
}

TEST(Loop, PostRunsOnALoopThreadNotInline) {
    Runtime rt(small());
    rt.start_background();
    Latch done;
    std::thread::id ran_on;
    rt.scheduler().post([&] {
        ran_on = std::this_thread::get_id();
        done.open();
    });
    ASSERT_TRUE(done.wait());
    EXPECT_NE(ran_on, std::this_thread::get_id());
    EXPECT_EQ(rt.scheduler().concurrency(), 2u);
    rt.stop();
}

TEST(Loop, ScheduleRunsAfterTheDelay) {
    Runtime rt(small());
    rt.start_background();
    Latch done;
    auto t0 = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point fired;
    rt.scheduler().schedule(50ms, [&] {
        fired = std::chrono::steady_clock::now();
        done.open();
    });
    ASSERT_TRUE(done.wait());
    EXPECT_GE(fired - t0, 50ms);
    rt.stop();
}

TEST(Loop, CancelledTimerNeverRuns) {
    Runtime rt(small());
    rt.start_background();
    std::atomic<bool> cancelled_ran{false};
    auto id = rt.scheduler().schedule(30ms, [&] { cancelled_ran = true; });
    EXPECT_TRUE(rt.scheduler().cancel(id));
    EXPECT_FALSE(rt.scheduler().cancel(id)) << "second cancel reports nothing to cancel";
    // A later timer proves the loop went past the cancelled one's deadline.
    Latch later;
    rt.scheduler().schedule(80ms, [&] { later.open(); });
    ASSERT_TRUE(later.wait());
    EXPECT_FALSE(cancelled_ran.load());
    rt.stop();
}

TEST(Loop, CancelAfterRunReturnsFalse) {
    Runtime rt(small());
    rt.start_background();
    Latch done;
    auto id = rt.scheduler().schedule(1ms, [&] { done.open(); });
    ASSERT_TRUE(done.wait());
    // The entry is erased before the task runs, so this is deterministic.
    EXPECT_FALSE(rt.scheduler().cancel(id));
    rt.stop();
}

TEST(Loop, BlockingPoolRunsOffTheLoopAndPostsBack) {
    Runtime rt(small());
    rt.start_background();
    Latch done;
    std::thread::id pool_thread;
    std::thread::id completion_thread;
    rt.blocking().submit([&] {
        pool_thread = std::this_thread::get_id();
        rt.scheduler().post([&] {
            completion_thread = std::this_thread::get_id();
            done.open();
        });
    });
    ASSERT_TRUE(done.wait());
    EXPECT_NE(pool_thread, completion_thread);
    EXPECT_EQ(rt.blocking().threads(), 2u);
    rt.stop();
}

TEST(Loop, RunReturnsAfterStopFromALoopTask) {
    Runtime rt(small());
    std::atomic<int> ran{0};
    rt.scheduler().post([&] { ++ran; });
    rt.scheduler().schedule(10ms, [&] {
        ++ran;
        rt.stop();
    });
    rt.run();  // blocks until the task above stops the loop
    EXPECT_EQ(ran.load(), 2);
}

TEST(Loop, StopThenStartAgain) {
    Runtime rt(small());
    rt.start_background();
    rt.stop();
    rt.start_background();
    Latch done;
    rt.scheduler().post([&] { done.open(); });
    EXPECT_TRUE(done.wait());
    rt.stop();
}

TEST(Loop, StopFromALoopThreadThenStartAgain) {
    Runtime rt(small());
    rt.start_background();
    Latch stopped;
    rt.scheduler().post([&] {
        rt.stop();  // cannot join itself; the next start_background() reaps it
        stopped.open();
    });
    ASSERT_TRUE(stopped.wait());
    rt.start_background();
    Latch done;
    rt.scheduler().post([&] { done.open(); });
    EXPECT_TRUE(done.wait());
    rt.stop();
}

TEST(Loop, ClockIsSane) {
    Runtime rt(small());
    auto ms = rt.clock().now_unix_ms();
    EXPECT_GT(ms, 1'700'000'000'000);  // after 2023
    auto a = rt.clock().steady_now();
    EXPECT_LE(a, rt.clock().steady_now());
}

}  // namespace
}  // namespace agenthost::runtime
