// The backend's health surface (API.md "Health", docs/guards.md) against a real
// process: /livez is the loop heartbeat only, /readyz follows a dependency that goes
// away and comes back (a test plugin, flaky_dependency) and the SIGTERM drain,
// /healthz is application/health+json, /metrics is Prometheus text.

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/guards/guard_support.hpp"

namespace agenthost::guards_test {
namespace {

class HealthSurface : public ::testing::Test {
protected:
    void SetUp() override {
        ws_ = std::make_unique<Workspace>(std::vector<std::string>{"gw-01"});
        down_file_ = ws_->dir() + "/dependency.down";
        BackendOptions o;
        o.extra_yaml = "  flaky_dependency: { enabled: true, path: " + test_plugin_dir() +
                       "/agenthost_flaky_dependency.so, config: { down_file: " + down_file_ +
                       " } }\n";
        backend_ = std::make_unique<Backend>(*ws_, o);
        backend_->start();
        port_ = backend_->ports().health;
    }
    void take_dependency_down() { std::ofstream(down_file_) << "down\n"; }
    void bring_dependency_back() { std::remove(down_file_.c_str()); }

    std::unique_ptr<Workspace> ws_;
    std::unique_ptr<Backend> backend_;
    std::string down_file_;
    std::uint16_t port_ = 0;
};

TEST_F(HealthSurface, LivezStaysUpWhileReadyzFollowsTheDependency) {
    EXPECT_EQ(http_get(port_, "/livez").status, 200);
    EXPECT_EQ(http_get(port_, "/readyz").status, 200);

    take_dependency_down();
    const auto down_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 503; }, 5s, 100ms))
        << "/readyz still 200 five seconds after the dependency went away";
    EXPECT_LT(std::chrono::steady_clock::now() - down_at, 5s);
    auto ready = http_get(port_, "/readyz");
    EXPECT_NE(ready.body.find("dependency:reachable"), std::string::npos) << ready.body;
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(http_get(port_, "/livez").status, 200) << "liveness followed a dependency";
    }
    auto healthz = http_get(port_, "/healthz");
    EXPECT_EQ(healthz.status, 503);
    auto doc = json::parse(healthz.body).as_object();
    EXPECT_EQ(doc.at("status").as_string(), "fail");
    EXPECT_EQ(doc.at("checks").at("dependency:reachable").at(0).at("status").as_string(), "fail");
    EXPECT_EQ(scrape(port_, R"(agenthost_health_check_status{check="dependency:reachable"})"), 2.0);
    EXPECT_EQ(scrape(port_, "agenthost_ready"), 0.0);

    bring_dependency_back();
    EXPECT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 200; }, 5s, 100ms));
    EXPECT_EQ(scrape(port_, "agenthost_ready"), 1.0);
}

// Required members and types of the IETF draft "Health Check Response Format for HTTP
// APIs" (application/health+json), and the observed values API.md promises.
TEST_F(HealthSurface, HealthzIsHealthJsonWithObservedValues) {
    auto a = http_get(port_, "/healthz");
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.content_type, "application/health+json");
    auto doc = json::parse(a.body).as_object();
    const std::set<std::string> states{"pass", "warn", "fail"};
    ASSERT_TRUE(doc.at("status").is_string());
    EXPECT_TRUE(states.count(std::string(doc.at("status").as_string())));
    EXPECT_TRUE(doc.at("version").is_string());
    EXPECT_TRUE(doc.at("serviceId").is_string());
    ASSERT_TRUE(doc.at("checks").is_object());
    for (const auto& [name, entries] : doc.at("checks").as_object()) {
        ASSERT_TRUE(entries.is_array()) << name;
        ASSERT_FALSE(entries.as_array().empty()) << name;
        for (const auto& e : entries.as_array()) {
            const auto& c = e.as_object();
            ASSERT_TRUE(c.at("status").is_string()) << name;
            EXPECT_TRUE(states.count(std::string(c.at("status").as_string()))) << name;
            if (c.contains("observedValue")) {
                EXPECT_TRUE(c.at("observedValue").is_number()) << name;
            }
            if (c.contains("observedUnit")) {
                EXPECT_TRUE(c.at("observedUnit").is_string()) << name;
            }
            if (c.contains("componentType")) {
                EXPECT_TRUE(c.at("componentType").is_string()) << name;
            }
            EXPECT_TRUE(c.at("time").is_string()) << name;
        }
    }
    const auto& checks = doc.at("checks").as_object();
    for (const char* name :
         {"loop:lag", "connections:count", "certificates:agent_listener", "memory:rss",
          "replay:fill", "queue:depth", "audit:writable", "dependency:reachable",
          "identity_sqlite:latency", "telemetry_sqlite:latency"}) {
        EXPECT_TRUE(checks.contains(name)) << "missing check " << name << " in " << a.body;
    }
    auto days = checks.at("certificates:agent_listener").at(0).as_object();
    EXPECT_EQ(days.at("observedUnit").as_string(), "days");
    EXPECT_GT(days.at("observedValue").to_number<double>(), 0.0);
    EXPECT_TRUE(checks.at("loop:lag").at(0).as_object().contains("observedValue"));
}

TEST_F(HealthSurface, MetricsIsPrometheusTextWithTheGuardsAndBuildInfo) {
    Agent a(*ws_, "gw-01");
    ASSERT_TRUE(a.open(backend_->ports().agents));
    auto m = http_get(port_, "/metrics");
    ASSERT_EQ(m.status, 200);
    EXPECT_EQ(m.content_type, "text/plain; version=0.0.4");
    const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*)"
                            R"((\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?)"
                            R"( [-+0-9.eEaINnf]+$)");
    std::istringstream in(m.body);
    std::string line;
    std::set<std::string> typed;
    while (std::getline(in, line)) {
        if (line.rfind("# TYPE ", 0) == 0) {
            typed.insert(line.substr(7, line.find(' ', 7) - 7));
            continue;
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        EXPECT_TRUE(std::regex_match(line, sample)) << line;
    }
    for (const char* family :
         {"agenthost_build_info", "agenthost_loop_lag_ms", "agenthost_connections",
          "agenthost_connections_active", "agenthost_handshakes_total", "agenthost_frames_in_total",
          "agenthost_limit", "agenthost_health_check_status", "agenthost_ready",
          "agenthost_process_resident_bytes", "queue_depth"}) {
        EXPECT_TRUE(typed.count(family)) << "no # TYPE for " << family;
    }
    EXPECT_EQ(metric(m.body, R"(agenthost_handshakes_total{result="ok"})"), 1.0);
    for (const char* limit : {"max_connections", "max_connections_per_ip", "handshake_rate",
                              "write_queue", "write_queue_bytes", "message_rate", "max_in_flight",
                              "memory_watermark_bytes", "max_frame_bytes"}) {
        EXPECT_TRUE(metric(m.body, std::string(R"(agenthost_limit{limit=")") + limit + "\"}"))
            << limit;
    }
}

TEST_F(HealthSurface, ReadyzTurns503WhenSigtermArrives) {
    // An agent that never answers the close keeps the drain going for a while, so the
    // draining window is observable.
    Agent a(*ws_, "gw-01");
    ASSERT_TRUE(a.open(backend_->ports().agents));
    ASSERT_EQ(http_get(port_, "/readyz").status, 200);
    backend_->process().signal(SIGTERM);
    EXPECT_TRUE(wait_until([&] { return http_get(port_, "/readyz").status == 503; }, 5s, 20ms));
    EXPECT_EQ(http_get(port_, "/livez").status, 200);  // draining is not dead
    auto rc = backend_->process().wait(40s);
    ASSERT_TRUE(rc.has_value());
    EXPECT_EQ(*rc, 0) << backend_->process().log();
}

}  // namespace
}  // namespace agenthost::guards_test
