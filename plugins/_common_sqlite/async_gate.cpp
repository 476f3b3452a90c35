#include "plugins/_common_sqlite/async_gate.hpp"

#include <algorithm>
#include <iterator>
#include <vector>

namespace agenthost::sqlite {

namespace {
// The gates this thread is inside right now (normally none or one).
thread_local std::vector<const AsyncGate*> t_inside;
}  // namespace

bool AsyncGate::enter() {
    std::lock_guard lock(mu_);
    if (closed_) {
        return false;
    }
    ++inside_;
    t_inside.push_back(this);
    return true;
}

void AsyncGate::leave() {
    std::lock_guard lock(mu_);
    --inside_;
    if (auto it = std::find(t_inside.rbegin(), t_inside.rend(), this); it != t_inside.rend()) {
        t_inside.erase(std::next(it).base());
    }
    cv_.notify_all();
}

void AsyncGate::close() {
    std::unique_lock lock(mu_);
    closed_ = true;
    const auto own = static_cast<std::size_t>(std::count(t_inside.begin(), t_inside.end(), this));
    cv_.wait(lock, [&] { return inside_ <= own; });
}

bool AsyncGate::closed() const {
    std::lock_guard lock(mu_);
    return closed_;
}

}  // namespace agenthost::sqlite
