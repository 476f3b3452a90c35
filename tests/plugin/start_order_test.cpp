// dependency_order(): providers first, configuration order on ties, cycles reported.
#include <gtest/gtest.h>

#include "kernel/plugin/start_order.hpp"

namespace agenthost::plugin {
namespace {

std::vector<std::string> names(const std::vector<OrderNode>& nodes, const OrderResult& r) {
    std::vector<std::string> out;
    for (auto i : r.order) {
        out.push_back(nodes[i].name);
    }
    return out;
}

TEST(StartOrder, ProvidersComeBeforeConsumers) {
    std::vector<OrderNode> nodes = {
        {"api", {"http_routes"}, {"queue", "identity"}},
        {"queue_memory", {"queue"}, {"audit"}},
        {"identity_sqlite", {"identity"}, {}},
        {"audit_file", {"audit"}, {}},
    };
    auto r = dependency_order(nodes);
    ASSERT_TRUE(r.cycle.empty());
    EXPECT_EQ(names(nodes, r),
              (std::vector<std::string>{"identity_sqlite", "audit_file", "queue_memory", "api"}));
}

TEST(StartOrder, IndependentPluginsKeepConfigOrder) {
    std::vector<OrderNode> nodes = {{"c", {}, {}}, {"a", {}, {}}, {"b", {}, {}}};
    auto r = dependency_order(nodes);
    EXPECT_EQ(names(nodes, r), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(StartOrder, AllProvidersOfANonExclusiveCapabilityComeFirst) {
    std::vector<OrderNode> nodes = {
        {"executor", {}, {"command_handler"}},
        {"exec_builtin", {"command_handler"}, {}},
        {"exec_allowlist", {"command_handler"}, {}},
    };
    auto r = dependency_order(nodes);
    EXPECT_EQ(names(nodes, r),
              (std::vector<std::string>{"exec_builtin", "exec_allowlist", "executor"}));
}

TEST(StartOrder, CycleIsReportedWithItsMembers) {
    std::vector<OrderNode> nodes = {
        {"free", {"z"}, {}},
        {"a", {"x"}, {"y"}},
        {"b", {"y"}, {"x"}},
    };
    auto r = dependency_order(nodes);
    EXPECT_TRUE(r.order.empty());
    EXPECT_EQ(r.cycle, (std::vector<std::string>{"a", "b"}));
}

TEST(StartOrder, SelfProvidedRequirementIsNotACycle) {
    std::vector<OrderNode> nodes = {{"a", {"x"}, {"x"}}};
    auto r = dependency_order(nodes);
    EXPECT_TRUE(r.cycle.empty());
    EXPECT_EQ(r.order.size(), 1u);
}

}  // namespace
}  // namespace agenthost::plugin
