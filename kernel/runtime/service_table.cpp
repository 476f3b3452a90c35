// Service registry: owner-tagged capability providers.
#include "kernel/runtime/service_table.hpp"

#include <agenthost/plugin.hpp>

namespace agenthost::runtime {

sdk::Status ServiceTable::provide_raw(std::string_view capability, void* service) {
    return provide_owned("", capability, service);
}

sdk::Status ServiceTable::provide_owned(std::string owner, std::string_view capability,
                                        void* service) {
    if (capability.empty() || service == nullptr) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "provide: capability name and service must be non-empty");
    }
    std::lock_guard lock(mu_);
    for (const auto& e : entries_) {
        if (e.capability != capability) {
            continue;
        }
        if (e.service == service) {
            return sdk::Status::success();  // idempotent re-registration
        }
        if (sdk::is_exclusive_capability(capability)) {
            std::string by = e.owner.empty() ? "the kernel" : "plugin '" + e.owner + "'";
            return sdk::error(sdk::Errc::conflict, "capability '" + std::string(capability) +
                                                       "' is already provided by " + by);
        }
    }
    entries_.push_back({std::move(owner), std::string(capability), service});
    return sdk::Status::success();
}

void* ServiceTable::find_raw(std::string_view capability) const {
    std::lock_guard lock(mu_);
    for (const auto& e : entries_) {
        if (e.capability == capability) {
            return e.service;
        }
    }
    return nullptr;
}

std::vector<void*> ServiceTable::find_all_raw(std::string_view capability) const {
    std::lock_guard lock(mu_);
    std::vector<void*> out;
    for (const auto& e : entries_) {
        if (e.capability == capability) {
            out.push_back(e.service);
        }
    }
    return out;
}

std::vector<std::string> ServiceTable::provided_by(std::string_view owner) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : entries_) {
        if (e.owner == owner) {
            out.push_back(e.capability);
        }
    }
    return out;
}

void ServiceTable::set_withdraw_hook(std::function<void(std::string_view)> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
}

void ServiceTable::withdraw_owner(std::string_view owner) {
    // Erase first, then tell the hooks: once a hook returns, nobody can find the
    // provider any more and the hook has released any pointer it cached.
    std::vector<std::string> withdrawn;
    std::function<void(std::string_view)> hook;
    {
        std::lock_guard lock(mu_);
        for (const auto& e : entries_) {
            if (e.owner == owner) {
                withdrawn.push_back(e.capability);
            }
        }
        std::erase_if(entries_, [&](const Entry& e) { return e.owner == owner; });
        hook = hook_;
    }
    if (hook) {
        for (const auto& cap : withdrawn) {
            hook(cap);
        }
    }
}

}  // namespace agenthost::runtime
