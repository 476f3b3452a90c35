#pragma once
// FakeFleet: many agents answering like a gateway, written from PROTOCOL.md alone
// (the signing helpers of tests/e2e/raw_client), all on one asynchronous Asio thread so
// that 50 agents cost the test one thread instead of 50 processes on a 2-core box.
//
// Each agent: TLS with its own certificate → upgrade → hello → on every `command`: ack,
// then a `succeeded` result. Like a real gateway it keeps a record of the command ids
// it executed (for the whole run, across reconnects), so a redelivery is answered
// with the stored result and never executed again — and every delivery and execution
// is counted, which is what the cluster tests assert on. A closed session reconnects
// with exponential backoff and full jitter (PROTOCOL.md §3.4).
// Asio/Beast stay in fake_fleet.cpp.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace agenthost::e2e {

class Workspace;

struct FakeFleetOptions {
    std::uint16_t port = 0;  // where agents dial (nginx)
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{1000};
};

class FakeFleet {
public:
    FakeFleet(Workspace& ws, std::vector<std::string> agents, FakeFleetOptions opts);
    ~FakeFleet();  // stops
    FakeFleet(const FakeFleet&) = delete;
    FakeFleet& operator=(const FakeFleet&) = delete;

    void start();
    void stop();

    // Agents whose session is open (welcome received and not closed since).
    std::size_t connected() const;
    bool is_connected(const std::string& agent) const;
    // host_id of the welcome of the agent's current (or last) session.
    std::string host_of(const std::string& agent) const;
    // Per command id: how many times it was delivered / executed (across reconnects).
    std::map<std::string, int> deliveries() const;
    std::map<std::string, int> executions() const;
    // Close codes seen by all agents (1006 for a transport failure), and sessions opened.
    std::map<int, int> closes() const;
    std::size_t sessions_opened() const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace agenthost::e2e
