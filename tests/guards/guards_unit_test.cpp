// Unit tests of the guard building blocks: the token bucket (time passed in), the
// per-agent in-flight gate, and the event-loop heartbeat with a fake scheduler.

#include <gtest/gtest.h>

#include <thread>

#include "kernel/backend/inflight_gate.hpp"
#include "kernel/net/token_bucket.hpp"
#include "kernel/runtime/metrics_registry.hpp"
#include "kernel/runtime/process_probes.hpp"
#include "tests/support/fake_scheduler.hpp"

namespace agenthost {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucket, BurstThenRate) {
    const auto t0 = net::TokenBucket::Clock::now();
    net::TokenBucket b(2.0, 3.0, t0);
    EXPECT_TRUE(b.take(t0));
    EXPECT_TRUE(b.take(t0));
    EXPECT_TRUE(b.take(t0));
    EXPECT_FALSE(b.take(t0));          // burst spent
    EXPECT_FALSE(b.take(t0 + 400ms));  // 0.8 token
    EXPECT_TRUE(b.take(t0 + 500ms));   // 1 token
    EXPECT_FALSE(b.take(t0 + 500ms));
    EXPECT_TRUE(b.take(t0 + 10s));  // refills, capped at the burst
    EXPECT_TRUE(b.take(t0 + 10s));
    EXPECT_TRUE(b.take(t0 + 10s));
    EXPECT_FALSE(b.take(t0 + 10s));
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
    net::TokenBucket b(0, 1);
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(b.take());
    }
}

// Real time must pass for a stall; polled against a deadline, never a bare sleep.
bool wait_for_stall(const runtime::LoopMonitor& m) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!m.stalled()) {
        if (std::chrono::steady_clock::now() > end) {
            return false;
        }
        std::this_thread::yield();
    }
    return true;
}

sdk::CommandRecord command(const std::string& id, std::int64_t deadline = 0, int attempts = 1) {
    sdk::CommandRecord c;
    c.command_id = id;
    c.deadline_ms = deadline;
    c.attempts = attempts;
    return c;
}

std::vector<std::string> ids(const std::vector<sdk::CommandRecord>& v) {
    std::vector<std::string> out;
    for (const auto& c : v) {
        out.push_back(c.command_id);
    }
    return out;
}

TEST(InflightGate, HoldsBeyondTheCapInOrder) {
    runtime::MetricsRegistry metrics;
    auto& gauge = metrics.gauge("in_flight", "test");
    backend::InflightGate gate(2, &gauge);
    for (const char* id : {"a", "b", "c", "d"}) {
        EXPECT_EQ(gate.admit(command(id), 0), backend::InflightGate::Admit::queued);
    }
    EXPECT_EQ(ids(gate.take_ready(0)), (std::vector<std::string>{"a", "b"}));
    EXPECT_TRUE(gate.take_ready(0).empty());
    EXPECT_EQ(gate.in_flight(), 2u);
    EXPECT_EQ(gate.waiting(), 2u);
    EXPECT_EQ(gauge.value(), 2.0);
    // A redelivery of one already out is sent again and takes no new slot.
    EXPECT_EQ(gate.admit(command("a", 0, 2), 0), backend::InflightGate::Admit::resend);
    // A redelivery of a waiting one keeps its place.
    EXPECT_EQ(gate.admit(command("c", 0, 2), 0), backend::InflightGate::Admit::queued);
    EXPECT_EQ(gate.waiting(), 2u);
    gate.finish("a");
    auto next = gate.take_ready(0);
    ASSERT_EQ(ids(next), (std::vector<std::string>{"c"}));
    EXPECT_EQ(next[0].attempts, 2);
    EXPECT_EQ(gauge.value(), 2.0);
}

TEST(InflightGate, ExpiredSlotsAreFreed) {
    backend::InflightGate gate(1);
    gate.admit(command("a", 1000), 0);
    gate.admit(command("b", 0), 0);
    EXPECT_EQ(ids(gate.take_ready(500)), (std::vector<std::string>{"a"}));
    EXPECT_TRUE(gate.take_ready(900).empty());
    EXPECT_EQ(ids(gate.take_ready(1001)), (std::vector<std::string>{"b"}));  // a timed out
}

// What the session trusts instead of asking the queue whose command a result is for.
TEST(InflightGate, HoldsWhatWasDeliveredUntilItIsFinished) {
    backend::InflightGate gate(1);
    EXPECT_FALSE(gate.holds("a"));
    gate.admit(command("a"), 0);
    gate.admit(command("b"), 0);
    EXPECT_TRUE(gate.holds("a"));  // waiting
    gate.take_ready(0);
    EXPECT_TRUE(gate.holds("a"));  // out
    EXPECT_TRUE(gate.holds("b"));  // waiting behind the cap
    EXPECT_FALSE(gate.holds("c"));
    gate.finish("a");
    EXPECT_FALSE(gate.holds("a"));
    EXPECT_TRUE(gate.holds("b"));
}

TEST(InflightGate, DestroyingReleasesTheGauge) {
    runtime::MetricsRegistry metrics;
    auto& gauge = metrics.gauge("in_flight", "test");
    {
        backend::InflightGate gate(4, &gauge);
        gate.admit(command("a"), 0);
        gate.admit(command("b"), 0);
        gate.take_ready(0);
        EXPECT_EQ(gauge.value(), 2.0);
    }
    EXPECT_EQ(gauge.value(), 0.0);
}

// The heartbeat beats only when the loop runs its timer: with the fake scheduler
// frozen the monitor reports a stall; one turn of the "loop" clears it.
TEST(LoopMonitor, StallsWhenTheLoopDoesNotTurn) {
    testing::FakeClock clock;
    testing::FakeScheduler scheduler(clock);
    auto monitor = std::make_shared<runtime::LoopMonitor>(scheduler, 10ms, 50ms);
    monitor->start();
    EXPECT_EQ(scheduler.pending_timers(), 1u);
    EXPECT_TRUE(wait_for_stall(*monitor));
    scheduler.advance(10ms);  // the loop turns: the timer fires and re-arms
    EXPECT_FALSE(monitor->stalled());
    EXPECT_EQ(scheduler.pending_timers(), 1u);
    EXPECT_GE(monitor->max_lag_ms(), 0.0);
}

TEST(ProcessProbes, ResidentBytesIsPositive) {
    EXPECT_GT(runtime::resident_bytes(), 1024u * 1024u);
}

}  // namespace
}  // namespace agenthost
