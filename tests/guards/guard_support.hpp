#pragma once
// Shared by the guard and health tests: plain-HTTP GETs of the health listener (curl),
// Prometheus text lookups, and the raw agent client's frames (tests/e2e/raw_client).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/raw_client.hpp"

namespace agenthost::guards_test {

using namespace agenthost::e2e;  // NOLINT(google-build-using-namespace): test helpers

struct HttpAnswer {
    int status = 0;  // 0: no answer (connection refused, timeout)
    std::string content_type;
    std::string body;
};
HttpAnswer http_get(std::uint16_t port, const std::string& path);

// The value of one series in Prometheus text, e.g.
// `agenthost_connections_rejected_total{reason="max_connections"}`; nullopt if absent.
std::optional<double> metric(const std::string& text, const std::string& series);
// Scrapes /metrics on `port` and looks `series` up; nullopt if absent or no answer.
std::optional<double> scrape(std::uint16_t port, const std::string& series);
// Polls until `series` on `port` reaches at least `at_least` (or `timeout` passes).
bool wait_metric(std::uint16_t port, const std::string& series, double at_least,
                 std::chrono::milliseconds timeout = 10s);

// Directory of the test plugins (flaky_dependency).
std::string test_plugin_dir();

// A raw agent (PROTOCOL.md client) for `agent` of workspace `ws`.
class Agent {
public:
    Agent(Workspace& ws, std::string agent);
    // TCP + TLS + upgrade; false when refused (the backend closed before the 101).
    bool connect(std::uint16_t port);
    // connect() + hello; true once the welcome arrived.
    bool open(std::uint16_t port);
    RawAgentClient& raw() { return *client_; }
    std::string hello() const;
    std::string telemetry(const std::string& batch_id) const;
    std::string result(const std::string& command_id) const;

private:
    Workspace& ws_;
    std::string agent_;
    std::string key_;
    std::unique_ptr<RawAgentClient> client_;
};

std::string uuid(int n);  // a fixed, valid UUID v4 string per n

}  // namespace agenthost::guards_test
