#pragma once
// The kernel's health registry (sdk::HealthRegistry): named checks tagged with their
// owner, so the plugin loader can withdraw a plugin's checks when it stops it, and a
// draining flag that makes ready() false before anything else shuts down.

#include <atomic>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/health.hpp>

namespace agenthost::runtime {

class HealthTable final : public sdk::HealthRegistry {
public:
    void add_check(std::string name, bool affects_readiness, sdk::HealthCheck check) override;
    // A check that throws reports `fail` with output "check threw: ...".
    std::vector<std::pair<std::string, sdk::HealthReport>> evaluate() const override;
    bool ready() const override;

    void add_check_owned(std::string owner, std::string name, bool affects_readiness,
                         sdk::HealthCheck check);
    void remove_owner(std::string_view owner);
    void set_draining(bool draining) noexcept { draining_.store(draining); }
    bool draining() const noexcept { return draining_.load(); }

private:
    struct Entry {
        std::string owner;
        std::string name;
        bool affects_readiness;
        sdk::HealthCheck check;
    };
    static sdk::HealthReport run(const Entry& e);

    // Checks run under a shared lock so remove_owner() (before the owner is destroyed)
    // waits for any evaluation still inside one of its checks.
    mutable std::shared_mutex mu_;
    std::vector<Entry> entries_;
    std::atomic<bool> draining_{false};
};

}  // namespace agenthost::runtime
