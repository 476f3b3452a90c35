#include "plugins/_common_sqlite/async_gate.hpp"

namespace agenthost::sqlite {

namespace {
// How many gates this thread is inside right now (normally 0 or 1).
thread_local std::size_t t_inside = 0;
}  // namespace

bool AsyncGate::enter() {
    std::lock_guard lock(mu_);
    if (closed_) {
        return false;
    }
    ++inside_;
    ++t_inside;
    return true;
}

void AsyncGate::leave() {
    std::lock_guard lock(mu_);
    --inside_;
    --t_inside;
    cv_.notify_all();
}

void AsyncGate::close() {
    std::unique_lock lock(mu_);
    closed_ = true;
    const std::size_t own = t_inside > 0 ? 1 : 0;
    cv_.wait(lock, [&] { return inside_ <= own; });
}

bool AsyncGate::closed() const {
    std::lock_guard lock(mu_);
    return closed_;
}

}  // namespace agenthost::sqlite
