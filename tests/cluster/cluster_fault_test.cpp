// kill -9 of one backend of three in the middle of a command run (real processes,
// real nginx, PostgreSQL and Redis): every command still reaches exactly one terminal
// state, none is executed twice, and the dead host's agents reconnect elsewhere.

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "tests/cluster/cluster.hpp"
#include "tests/cluster/fake_fleet.hpp"

namespace agenthost::e2e {
namespace {

constexpr std::size_t kAgents = 50;
constexpr std::size_t kRealGateways = 3;
constexpr std::size_t kBefore = 300;  // enqueued through all three hosts
constexpr std::size_t kAfter = 300;   // enqueued through the survivors
constexpr std::size_t kVictim = 1;    // host-2

TEST(ClusterFault, KillNineOneBackendMidRun) {
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
    auto all_online = [&] {
        for (std::size_t i = 0; i < kRealGateways; ++i) {
            if (cluster.agent_host(agents[i]).empty()) {
                return false;
            }
        }
        return fleet.connected() == fakes.size();
    };
    ASSERT_TRUE(wait_until(all_online, 90s)) << "connected fakes: " << fleet.connected();
    const std::string victim = cluster.host_id(kVictim);
    std::vector<std::string> on_victim;
    for (const auto& a : fakes) {
        if (fleet.host_of(a) == victim) {
            on_victim.push_back(a);
        }
    }
    ASSERT_FALSE(on_victim.empty()) << "least_conn left " << victim << " without agents";

    auto before = enqueue_round_robin(cluster, agents, kBefore, {0, 1, 2});
    // Mid-run: as soon as the first results are in, while others are in flight.
    std::vector<std::string> first_ids;
    for (const auto& e : before) {
        ASSERT_EQ(e.status, 202);
        first_ids.push_back(e.id);
    }
    ASSERT_TRUE(wait_until(
        [&] {
            auto ex = fleet.executions();
            return ex.size() >= 20;
        },
        60s));
    cluster.backend(kVictim).kill9();
    const std::size_t executed_at_kill = fleet.executions().size();

    auto after = enqueue_round_robin(cluster, agents, kAfter, {0, 2}, kBefore);
    std::vector<Enqueued> all = before;
    for (const auto& e : after) {
        // A survivor may briefly answer 503 while it notices; everything it accepted
        // (202) must complete.
        EXPECT_EQ(e.status, 202) << e.agent;
        if (e.status == 202) {
            all.push_back(e);
        }
    }

    // The dead host's agents reconnect elsewhere (nginx skips the dead upstream; the
    // leases expire after 3 x heartbeat).
    EXPECT_TRUE(wait_until(
        [&] {
            if (fleet.connected() != fakes.size()) {
                return false;
            }
            return std::none_of(on_victim.begin(), on_victim.end(),
                                [&](const std::string& a) { return fleet.host_of(a) == victim; });
        },
        90s))
        << "connected " << fleet.connected();
    EXPECT_GE(fleet.closes()[1006], static_cast<int>(on_victim.size()));

    std::vector<std::string> ids;
    for (const auto& e : all) {
        ids.push_back(e.id);
    }
    auto states = wait_terminal(cluster, ids, 150s);
    std::map<std::string, int> by_state;
    for (auto& [id, s] : states) {
        ++by_state[s];
        EXPECT_TRUE(is_terminal(s)) << id << " still " << s;
    }
    // No agent is lost, so every command should have completed.
    EXPECT_EQ(by_state["succeeded"], static_cast<int>(all.size()))
        << "states: " << ::testing::PrintToString(by_state)
        << " executed before the kill: " << executed_at_kill;

    // None executed twice; every succeeded fake command executed exactly once.
    auto executions = fleet.executions();
    auto deliveries = fleet.deliveries();
    int redelivered = 0;
    for (const auto& e : all) {
        const auto idx = std::find(agents.begin(), agents.end(), e.agent) - agents.begin();
        if (static_cast<std::size_t>(idx) < kRealGateways) {
            EXPECT_LE(count_lines(gateways[idx]->process().log(), "executing command", e.id), 1u)
                << e.id;
            continue;
        }
        EXPECT_LE(executions[e.id], 1) << e.id;
        if (states[e.id] == "succeeded") {
            EXPECT_EQ(executions[e.id], 1) << e.id;
        }
        redelivered += deliveries[e.id] > 1 ? 1 : 0;
    }
    // One terminal state each: a second look, later and through another host, agrees.
    auto again = wait_terminal(cluster, ids, 30s);
    EXPECT_EQ(again, states);
    std::cout << "[ cluster ] killed " << victim << " after " << executed_at_kill << " executions; "
              << on_victim.size() << " agents moved; " << redelivered
              << " commands redelivered; states " << ::testing::PrintToString(by_state) << "\n";

    fleet.stop();
    for (auto& g : gateways) {
        g->stop_graceful();
    }
}

}  // namespace
}  // namespace agenthost::e2e
