// The gateway's health listener (gateway.health): /livez, /readyz and /metrics with
// the link state, reconnects, spool depth and executed commands by outcome, moving as
// the backend comes and goes.

#include <gtest/gtest.h>

#include "tests/guards/guard_support.hpp"

namespace agenthost::guards_test {
namespace {

TEST(GatewayHealth, MetricsFollowTheLinkTheSpoolAndCommands) {
    Workspace ws({"gw-01"});
    BackendOptions bo;
    bo.fixed_ports = true;  // the restarted backend listens where the gateway dials
    Backend backend(ws, bo);
    backend.start();
    Gateway gw(ws, backend);
    gw.start();
    const std::uint16_t port = gw.health_port();
    ASSERT_NE(port, 0) << gw.process().log();

    EXPECT_EQ(http_get(port, "/livez").status, 200);
    EXPECT_TRUE(wait_until([&] { return http_get(port, "/readyz").status == 200; }, 10s, 100ms));
    ASSERT_TRUE(wait_metric(port, "agenthost_gateway_connected", 1, 20s)) << gw.process().log();
    auto info = http_get(port, "/metrics");
    EXPECT_EQ(info.content_type, "text/plain; version=0.0.4");
    EXPECT_NE(info.body.find("agenthost_build_info{"), std::string::npos);
    EXPECT_NE(info.body.find("role=\"gateway\""), std::string::npos);

    // A command runs: executed-by-outcome moves.
    std::string resp;
    ASSERT_EQ(backend.api("POST", "/api/v1/agents/gw-01/commands",
                          R"({"name":"builtin.echo","args":{"text":"hi"}})", &resp),
              202)
        << resp;
    EXPECT_TRUE(
        wait_metric(port, R"(agenthost_gateway_commands_total{outcome="succeeded"})", 1, 20s));

    // The backend goes away: the link drops, telemetry spools, the gateway stays live
    // (and ready: the link is not the gateway's own health).
    const double reconnects = scrape(port, "agenthost_gateway_reconnects_total").value_or(0);
    // Gracefully: a killed backend would leave the agent's session lease to expire
    // (PROTOCOL.md §3), and the restarted one would answer 4409 until then.
    backend.stop_graceful();
    EXPECT_TRUE(
        wait_until([&] { return scrape(port, "agenthost_gateway_connected") == 0.0; }, 20s, 100ms));
    EXPECT_TRUE(wait_metric(port, "agenthost_gateway_reconnects_total", reconnects + 1, 20s));
    EXPECT_TRUE(wait_metric(port, R"(agenthost_gateway_spool_items{kind="telemetry"})", 1, 20s));
    EXPECT_EQ(http_get(port, "/livez").status, 200);
    EXPECT_EQ(http_get(port, "/readyz").status, 200);
    auto healthz = http_get(port, "/metrics");
    EXPECT_EQ(metric(healthz.body, R"(agenthost_health_check_status{check="uplink:connected"})"),
              1.0);  // warn

    // It comes back: the link returns and the spool drains.
    backend.start();
    EXPECT_TRUE(wait_metric(port, "agenthost_gateway_connected", 1, 30s));
    EXPECT_TRUE(wait_until(
        [&] { return scrape(port, R"(agenthost_gateway_spool_items{kind="telemetry"})") == 0.0; },
        30s, 200ms));
    gw.stop_graceful();
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::guards_test
