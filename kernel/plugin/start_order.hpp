#pragma once
// Dependency order of plugins: a provider of a capability starts before every plugin
// that requires it. Ties keep the input (configuration) order, so start-up is
// deterministic. Pure function, tested on its own.

#include <string>
#include <vector>

namespace agenthost::plugin {

struct OrderNode {
    std::string name;
    std::vector<std::string> provides;
    std::vector<std::string> requires_capabilities;
};

struct OrderResult {
    std::vector<std::size_t> order;  // indices into the input, providers first
    std::vector<std::string> cycle;  // names of plugins on or behind a cycle (order empty)
};

OrderResult dependency_order(const std::vector<OrderNode>& nodes);

}  // namespace agenthost::plugin
