// Kahn's algorithm over requires → provides edges, smallest input index first.
#include "kernel/plugin/start_order.hpp"

#include <algorithm>
#include <set>

namespace agenthost::plugin {

OrderResult dependency_order(const std::vector<OrderNode>& nodes) {
    const std::size_t n = nodes.size();
    std::vector<std::set<std::size_t>> after(n);  // i → plugins that must start after i
    std::vector<std::size_t> indegree(n, 0);
    for (std::size_t consumer = 0; consumer < n; ++consumer) {
        for (const auto& cap : nodes[consumer].requires_capabilities) {
            for (std::size_t provider = 0; provider < n; ++provider) {
                if (provider == consumer) {
                    continue;
                }
                const auto& p = nodes[provider].provides;
                if (std::find(p.begin(), p.end(), cap) != p.end() &&
                    after[provider].insert(consumer).second) {
                    ++indegree[consumer];
                }
            }
        }
    }
    OrderResult result;
    std::set<std::size_t> ready;
    for (std::size_t i = 0; i < n; ++i) {
        if (indegree[i] == 0) {
            ready.insert(i);
        }
    }
    while (!ready.empty()) {
        std::size_t i = *ready.begin();
        ready.erase(ready.begin());
        result.order.push_back(i);
        for (std::size_t j : after[i]) {
            if (--indegree[j] == 0) {
                ready.insert(j);
            }
        }
    }
    if (result.order.size() != n) {
        for (std::size_t i = 0; i < n; ++i) {
            if (indegree[i] != 0) {
                result.cycle.push_back(nodes[i].name);
            }
        }
        result.order.clear();
    }
    return result;
}

}  // namespace agenthost::plugin
