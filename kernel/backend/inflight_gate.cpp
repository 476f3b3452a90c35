#include "kernel/backend/inflight_gate.hpp"

#include <algorithm>
#include <iterator>

namespace agenthost::backend {

InflightGate::InflightGate(std::size_t cap, sdk::Gauge* in_flight_gauge)
    : cap_(std::max<std::size_t>(cap, 1)), gauge_(in_flight_gauge) {}

InflightGate::~InflightGate() {
    // The session is gone: its commands are no longer out on this host.
    if (gauge_ != nullptr) {
        gauge_->add(-static_cast<double>(out_.size()));
    }
}

InflightGate::Admit InflightGate::admit(const sdk::CommandRecord& command, std::int64_t now_ms) {
    std::lock_guard lock(mu_);
    purge_locked(now_ms);
    if (out_.count(command.command_id) != 0) {
        return Admit::resend;
    }
    for (auto& w : waiting_) {
        if (w.command_id == command.command_id) {
            w = command;  // a redelivery while waiting: keep its place, newest attempt
            return Admit::queued;
        }
    }
    waiting_.push_back(command);
    return Admit::queued;
}

std::vector<sdk::CommandRecord> InflightGate::take_ready(std::int64_t now_ms) {
    std::vector<sdk::CommandRecord> ready;
    std::lock_guard lock(mu_);
    purge_locked(now_ms);
    while (out_.size() < cap_ && !waiting_.empty()) {
        sdk::CommandRecord c = std::move(waiting_.front());
        waiting_.pop_front();
        out_.emplace(c.command_id, c.deadline_ms);
        if (gauge_ != nullptr) {
            gauge_->add(1);
        }
        ready.push_back(std::move(c));
    }
    return ready;
}

void InflightGate::finish(const std::string& command_id) {
    std::lock_guard lock(mu_);
    if (auto it = out_.find(command_id); it != out_.end()) {
        erase_locked(it);
        return;
    }
    waiting_.erase(
        std::remove_if(waiting_.begin(), waiting_.end(),
                       [&](const sdk::CommandRecord& c) { return c.command_id == command_id; }),
        waiting_.end());
}

bool InflightGate::holds(const std::string& command_id) const {
    std::lock_guard lock(mu_);
    if (out_.count(command_id) != 0) {
        return true;
    }
    return std::any_of(waiting_.begin(), waiting_.end(),
                       [&](const sdk::CommandRecord& c) { return c.command_id == command_id; });
}

std::size_t InflightGate::in_flight() const {
    std::lock_guard lock(mu_);
    return out_.size();
}

std::size_t InflightGate::waiting() const {
    std::lock_guard lock(mu_);
    return waiting_.size();
}

void InflightGate::purge_locked(std::int64_t now_ms) {
    for (auto it = out_.begin(); it != out_.end();) {
        auto next = std::next(it);
        if (it->second > 0 && it->second < now_ms) {
            erase_locked(it);
        }
        it = next;
    }
}

void InflightGate::erase_locked(std::unordered_map<std::string, std::int64_t>::iterator it) {
    out_.erase(it);
    if (gauge_ != nullptr) {
        gauge_->add(-1);
    }
}

}  // namespace agenthost::backend
