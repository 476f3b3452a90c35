#include "kernel/backend/renewal_ticker.hpp"

namespace agenthost::backend {

struct RenewalTicker::State {
    State(sdk::Scheduler& s, std::chrono::milliseconds p) : scheduler(s), period(p) {}
    sdk::Scheduler& scheduler;
    const std::chrono::milliseconds period;
    mutable std::mutex mu;
    std::vector<std::function<void()>> due;
    std::optional<sdk::TimerId> timer;  // armed while something is due
    bool stopped = false;
};

RenewalTicker::RenewalTicker(sdk::Scheduler& scheduler, std::chrono::milliseconds period)
    : state_(std::make_shared<State>(scheduler, period)) {}

RenewalTicker::~RenewalTicker() {
    stop();
}

bool RenewalTicker::add(std::function<void()> renew) {
    std::lock_guard lock(state_->mu);
    if (state_->stopped) {
        return false;
    }
    state_->due.push_back(std::move(renew));
    if (!state_->timer) {
        // The task holds the state weakly: a ticker destroyed first cancels the timer,
        // and a tick racing that cancel finds nothing to run.
        state_->timer = state_->scheduler.schedule(
            state_->period, [weak = std::weak_ptr<State>(state_)] {
                if (auto st = weak.lock()) {
                    tick(st);
                }
            });
    }
    return true;
}

void RenewalTicker::tick(const std::shared_ptr<State>& st) {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(st->mu);
        st->timer.reset();
        if (st->stopped) {
            return;
        }
        batch.swap(st->due);
    }
    for (auto& renew : batch) {
        renew();
    }
}

void RenewalTicker::stop() {
    std::vector<std::function<void()>> dropped;
    std::optional<sdk::TimerId> timer;
    {
        std::lock_guard lock(state_->mu);
        state_->stopped = true;
        dropped.swap(state_->due);
        timer.swap(state_->timer);
    }
    if (timer) {
        state_->scheduler.cancel(*timer);
    }
    // `dropped` (and the sessions its tasks hold) goes outside the lock.
}

std::size_t RenewalTicker::queued() const {
    std::lock_guard lock(state_->mu);
    return state_->due.size();
}

}  // namespace agenthost::backend
