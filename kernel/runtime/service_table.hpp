#pragma once
// The kernel's service registry (sdk::ServiceRegistry): capability → providers, each
// tagged with the plugin that provided it. Exclusive capabilities
// (sdk::is_exclusive_capability) take one provider; a second gets Errc::conflict.

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/services.hpp>

namespace agenthost::runtime {

class ServiceTable final : public sdk::ServiceRegistry {
public:
    sdk::Status provide_raw(std::string_view capability, void* service) override;
    void* find_raw(std::string_view capability) const override;
    std::vector<void*> find_all_raw(std::string_view capability) const override;

    sdk::Status provide_owned(std::string owner, std::string_view capability, void* service);
    // Withdraws everything `owner` provided (after the plugin stopped, before it is
    // destroyed), then runs the withdraw hook, outside the lock, for each capability.
    void withdraw_owner(std::string_view owner);
    // Capabilities provided by `owner`, in registration order.
    std::vector<std::string> provided_by(std::string_view owner) const;
    // Called with the capability name after a provider of it was withdrawn.
    void set_withdraw_hook(std::function<void(std::string_view capability)> hook);

private:
    struct Entry {
        std::string owner;
        std::string capability;
        void* service;
    };
    mutable std::mutex mu_;
    std::vector<Entry> entries_;
    std::function<void(std::string_view)> hook_;
};

}  // namespace agenthost::runtime
