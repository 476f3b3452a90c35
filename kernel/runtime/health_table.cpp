// Health registry: owner-tagged checks and the readiness verdict.
#include "kernel/runtime/health_table.hpp"

#include <exception>
#include <mutex>

namespace agenthost::runtime {

void HealthTable::add_check(std::string name, bool affects_readiness, sdk::HealthCheck check) {
    add_check_owned("", std::move(name), affects_readiness, std::move(check));
}

void HealthTable::add_check_owned(std::string owner, std::string name, bool affects_readiness,
                                  sdk::HealthCheck check) {
    std::unique_lock lock(mu_);
    // Re-registering a name replaces the previous check (a plugin restarted in place).
    std::erase_if(entries_, [&](const Entry& e) { return e.name == name; });
    entries_.push_back({std::move(owner), std::move(name), affects_readiness, std::move(check)});
}

void HealthTable::remove_owner(std::string_view owner) {
    std::unique_lock lock(mu_);
    std::erase_if(entries_, [&](const Entry& e) { return e.owner == owner; });
}

sdk::HealthReport HealthTable::run(const Entry& e) {
    if (!e.check) {
        return {sdk::HealthState::fail, "component", std::nullopt, "", "no check function"};
    }
    try {
        return e.check();
    } catch (const std::exception& ex) {
        return {sdk::HealthState::fail, "component", std::nullopt, "",
                std::string("check threw: ") + ex.what()};
    } catch (...) {
        return {sdk::HealthState::fail, "component", std::nullopt, "", "check threw"};
    }
}

std::vector<std::pair<std::string, sdk::HealthReport>> HealthTable::evaluate() const {
    std::shared_lock lock(mu_);
    std::vector<std::pair<std::string, sdk::HealthReport>> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
        out.emplace_back(e.name, run(e));
    }
    return out;
}

bool HealthTable::ready() const {
    if (draining()) {
        return false;
    }
    std::shared_lock lock(mu_);
    for (const auto& e : entries_) {
        if (e.affects_readiness && run(e).state == sdk::HealthState::fail) {
            return false;
        }
    }
    return true;
}

}  // namespace agenthost::runtime
