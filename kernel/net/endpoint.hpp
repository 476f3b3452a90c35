#pragma once
// A listen address (kernel_config's Endpoint without pulling yaml-cpp into net/).

#include <cstdint>
#include <string>

namespace agenthost::net {

struct Endpoint {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;  // 0: the OS picks one; ask the listener for port()
};

}  // namespace agenthost::net
