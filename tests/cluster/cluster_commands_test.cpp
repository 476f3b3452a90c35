// Three real backends behind the real nginx sharing PostgreSQL and Redis, 50 agents
// (3 real `agenthost` gateways, 47 protocol-level fakes on one thread): 1,000 commands
// enqueued round-robin through the three operator APIs all succeed, each executed
// exactly once, and every host answers for every command.

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/cluster/cluster.hpp"
#include "tests/cluster/fake_fleet.hpp"

namespace agenthost::e2e {
namespace {

constexpr std::size_t kAgents = 50;
constexpr std::size_t kRealGateways = 3;
constexpr std::size_t kCommands = 1000;

TEST(ClusterCommands, ThousandCommandsThroughThreeApisExecuteExactlyOnce) {
    const std::string missing = missing_cluster_plugins();
    ASSERT_TRUE(missing.empty()) << "cluster plugins not built: " << missing;
    const auto agents = agent_ids(kAgents);
    Cluster cluster({.backends = 3, .agents = agents});
    cluster.start();

    std::vector<std::unique_ptr<Gateway>> gateways;
    for (std::size_t i = 0; i < kRealGateways; ++i) {
        gateways.push_back(cluster.gateway(agents[i]));
    }
    const std::vector<std::string> fakes(agents.begin() + kRealGateways, agents.end());
    FakeFleet fleet(cluster.ws(), fakes, {.port = cluster.nginx().agent_port()});
    fleet.start();

    ASSERT_TRUE(wait_until(
        [&] {
            for (std::size_t i = 0; i < kRealGateways; ++i) {
                if (cluster.agent_host(agents[i]).empty()) {
                    return false;
                }
            }
            return fleet.connected() == fakes.size();
        },
        90s))
        << "connected fakes: " << fleet.connected() << "\n"
        << cluster.nginx().error_log();

    // least_conn spreads the sessions over the three hosts.
    std::map<std::string, int> per_host;
    for (const auto& a : fakes) {
        ++per_host[fleet.host_of(a)];
    }
    for (std::size_t i = 0; i < kRealGateways; ++i) {
        ++per_host[cluster.agent_host(agents[i])];
    }
    for (std::size_t h = 0; h < cluster.size(); ++h) {
        EXPECT_GE(per_host[cluster.host_id(h)], 5) << cluster.host_id(h);
    }

    auto enqueued = enqueue_round_robin(cluster, agents, kCommands, {0, 1, 2});
    std::vector<std::string> ids;
    for (const auto& e : enqueued) {
        ASSERT_EQ(e.status, 202) << "enqueue for " << e.agent << " via host " << e.via;
        ASSERT_FALSE(e.id.empty());
        ids.push_back(e.id);
    }

    auto states = wait_terminal(cluster, ids, 120s);
    std::map<std::string, int> by_state;
    for (auto& [id, s] : states) {
        ++by_state[s];
    }
    EXPECT_EQ(by_state["succeeded"], static_cast<int>(kCommands))
        << "states: " << ::testing::PrintToString(by_state);

    // Exactly once: every fake command delivered and executed once (no redelivery
    // without a fault), every real gateway command run once by its executor.
    auto deliveries = fleet.deliveries();
    auto executions = fleet.executions();
    std::size_t fake_commands = 0;
    for (const auto& e : enqueued) {
        const bool real = std::find(agents.begin(), agents.begin() + kRealGateways, e.agent) !=
                          agents.begin() + kRealGateways;
        if (real) {
            continue;
        }
        ++fake_commands;
        EXPECT_EQ(deliveries[e.id], 1) << e.id;
        EXPECT_EQ(executions[e.id], 1) << e.id;
    }
    EXPECT_EQ(fake_commands, kCommands - kCommands * kRealGateways / kAgents);
    for (std::size_t i = 0; i < kRealGateways; ++i) {
        const std::string log = gateways[i]->process().log();
        for (const auto& e : enqueued) {
            if (e.agent == agents[i]) {
                EXPECT_EQ(count_lines(log, "executing command", e.id), 1u) << e.id;
            }
        }
    }

    fleet.stop();
    for (auto& g : gateways) {
        g->stop_graceful();
    }
}

}  // namespace
}  // namespace agenthost::e2e
