#pragma once
// Service registry: how plugins find each other's capabilities without globals.
// A provider registers its capability interface in Plugin::start(); consumers look
// it up in their own start() (the loader starts providers first). Pointers stay
// valid until the provider is stopped, which happens after every consumer stopped.

#include <string_view>
#include <vector>

#include <agenthost/status.hpp>

namespace agenthost::sdk {

class ServiceRegistry {
public:
    virtual ~ServiceRegistry() = default;
    // Registers `service` under `capability`. Exclusive capabilities accept one
    // provider (Errc::conflict otherwise).
    virtual Status provide_raw(std::string_view capability, void* service) = 0;
    virtual void* find_raw(std::string_view capability) const = 0;
    virtual std::vector<void*> find_all_raw(std::string_view capability) const = 0;

    // Typed access: T declares `static constexpr std::string_view capability`.
    // The void* round trip is exact because both casts use the same T*.
    template <typename T>
    Status provide(T* service) {
        return provide_raw(T::capability, static_cast<void*>(service));
    }
    template <typename T>
    T* find() const {
        return static_cast<T*>(find_raw(T::capability));
    }
    template <typename T>
    std::vector<T*> find_all() const {
        std::vector<T*> out;
        for (void* p : find_all_raw(T::capability)) out.push_back(static_cast<T*>(p));
        return out;
    }
};

}  // namespace agenthost::sdk
