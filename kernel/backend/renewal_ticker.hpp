#pragma once
// Lease renewals of every session, handed to the identity store together once per
// tick instead of one by one as each session's activity makes them due. At 10,000
// agents renewals arrive a millisecond apart: one by one, each wakes the store's
// writer for a one-row transaction and wakes the session's loop with its answer; per
// tick they reach the store as one burst, which its group commit writes in a few
// transactions (plugins/_common_sqlite BatchQueue, identity_postgres' batched UPDATE).
// A renewal waits at most one period more; the lease leaves far more slack than that
// (backend::renew_interval).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <agenthost/scheduler.hpp>

namespace agenthost::backend {

class RenewalTicker {
public:
    RenewalTicker(sdk::Scheduler& scheduler, std::chrono::milliseconds period);
    ~RenewalTicker();
    RenewalTicker(const RenewalTicker&) = delete;
    RenewalTicker& operator=(const RenewalTicker&) = delete;

    // Runs `renew` on the next tick, on a loop thread. The first renewal queued after
    // an idle spell arms the tick; no timer runs while nothing is due. After stop()
    // it runs nothing more and returns false.
    bool add(std::function<void()> renew);
    // Drops what is queued and cancels the tick (shutdown).
    void stop();
    std::size_t queued() const;

private:
    struct State;
    static void tick(const std::shared_ptr<State>& st);
    std::shared_ptr<State> state_;
};

}  // namespace agenthost::backend
