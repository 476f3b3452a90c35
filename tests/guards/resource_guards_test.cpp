// One test per resource guard (docs/guards.md) against a real backend: the limit
// holds, and the refusal is counted in /metrics. Limits are shrunk per test through
// the `limits:` section; everything else is the harness's default backend.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "tests/guards/guard_support.hpp"

namespace agenthost::guards_test {
namespace {

std::unique_ptr<Backend> start_backend(Workspace& ws, const std::string& limits_yaml,
                                       BackendOptions o = {}) {
    o.extra_yaml = "limits: " + limits_yaml + "\n";
    auto b = std::make_unique<Backend>(ws, o);
    b->start();
    return b;
}

// Plain TCP connect + close, no TLS: what a reconnect storm looks like to accept().
bool tcp_poke(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

std::string enqueue(const Backend& b, const std::string& agent, const std::string& args_json) {
    std::string resp;
    const int code = b.api("POST", "/api/v1/agents/" + agent + "/commands",
                           R"({"name":"builtin.echo","args":)" + args_json + "}", &resp);
    EXPECT_EQ(code, 202) << resp;
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    if (ec || !v.is_object() || !v.as_object().contains("command_id")) {
        return {};
    }
    return json::value_to<std::string>(v.at("command_id"));
}

TEST(ResourceGuards, ConnectionNPlusOneIsRefused) {
    Workspace ws({"gw-01", "gw-02", "gw-03"});
    auto b = start_backend(ws, "{ max_connections: 2 }");
    const auto port = b->ports().agents;
    Agent a1(ws, "gw-01");
    Agent a2(ws, "gw-02");
    ASSERT_TRUE(a1.open(port));
    ASSERT_TRUE(a2.open(port));
    Agent a3(ws, "gw-03");
    EXPECT_FALSE(a3.connect(port)) << "connection 3 of max 2 was admitted";
    const std::string refused = R"(agenthost_connections_rejected_total{reason="max_connections"})";
    EXPECT_TRUE(wait_metric(b->ports().health, refused, 1));
    EXPECT_EQ(scrape(b->ports().health, R"(agenthost_limit{limit="max_connections"})"), 2.0);
    // The cap is on live connections: one leaving admits the next.
    a1.raw().send_text(std::string(70000, 'x'));  // not a frame: the backend closes it
    a1.raw().wait_close(10s);
    EXPECT_TRUE(wait_until([&] { return a3.open(port); }, 10s, 200ms));
}

TEST(ResourceGuards, PerAddressCapRefusesTheSecondFromOneAddress) {
    Workspace ws({"gw-01", "gw-02"});
    auto b = start_backend(ws, "{ max_connections_per_ip: 1 }");
    Agent a1(ws, "gw-01");
    ASSERT_TRUE(a1.open(b->ports().agents));
    Agent a2(ws, "gw-02");
    EXPECT_FALSE(a2.connect(b->ports().agents));
    EXPECT_TRUE(
        wait_metric(b->ports().health,
                    R"(agenthost_connections_rejected_total{reason="max_connections_per_ip"})", 1));
}

TEST(ResourceGuards, HandshakeRateLimitRefusesAStormBeforeTls) {
    Workspace ws({"gw-01"});
    auto b = start_backend(ws, "{ handshake_rate: 1, handshake_burst: 2 }");
    const std::string series = R"(agenthost_connections_rejected_total{reason="handshake_rate"})";
    for (int i = 0; i < 20; ++i) {
        tcp_poke(b->ports().agents);
    }
    // 20 connections in well under a second against 2 tokens + 1/s: most are refused,
    // and refused ones never reached TLS (no handshake result is counted for them).
    EXPECT_TRUE(wait_metric(b->ports().health, series, 10));
    auto tls_failed =
        scrape(b->ports().health, R"(agenthost_handshakes_total{result="tls_failed"})");
    EXPECT_LE(tls_failed.value_or(0), 10.0);
}

TEST(ResourceGuards, MessageRateAboveLimitCloses4429) {
    Workspace ws({"gw-01"});
    auto b = start_backend(ws, "{ message_rate: 5, message_burst: 5 }");
    Agent a(ws, "gw-01");
    ASSERT_TRUE(a.open(b->ports().agents));
    for (int i = 0; i < 30; ++i) {
        a.raw().send_text(a.telemetry(uuid(i + 1)));
    }
    EXPECT_EQ(a.raw().wait_close(15s), 4429);
    EXPECT_TRUE(wait_metric(b->ports().health,
                            R"(agenthost_guard_rejections_total{reason="message_rate"})", 1));
    EXPECT_TRUE(wait_metric(b->ports().health, R"(agenthost_closes_total{code="4429"})", 1));
}

TEST(ResourceGuards, OversizeMessageCloses1009) {
    Workspace ws({"gw-01"});
    BackendOptions o;
    o.max_frame_bytes = 8192;
    auto b = start_backend(ws, "{ }", o);
    Agent a(ws, "gw-01");
    ASSERT_TRUE(a.open(b->ports().agents));
    a.raw().send_text(std::string(8193, 'a'));
    EXPECT_EQ(a.raw().wait_close(10s), 1009);
    EXPECT_TRUE(wait_metric(b->ports().health,
                            R"(agenthost_guard_rejections_total{reason="message_too_big"})", 1));
    EXPECT_EQ(scrape(b->ports().health, R"(agenthost_limit{limit="max_frame_bytes"})"), 8192.0);
}

TEST(ResourceGuards, HelloAndIdleTimeoutsDropSilentPeers) {
    Workspace ws({"gw-01", "gw-02"});
    BackendOptions o;
    o.hello_timeout_s = 1;
    o.heartbeat_s = 1;  // the harness sets idle_timeout_s = 3 x heartbeat_s
    auto b = start_backend(ws, "{ }", o);
    Agent silent(ws, "gw-01");
    ASSERT_TRUE(silent.connect(b->ports().agents));
    EXPECT_EQ(silent.raw().wait_close(15s), 4408);
    EXPECT_TRUE(wait_metric(b->ports().health, R"(agenthost_closes_total{code="4408"})", 1));

    // After the welcome the peer goes quiet (no reads, so not even pongs): dropped.
    Agent idle(ws, "gw-02");
    ASSERT_TRUE(idle.open(b->ports().agents));
    EXPECT_TRUE(wait_until([&] { return b->agent_state("gw-02") == "offline"; }, 20s, 200ms));
    EXPECT_TRUE(wait_metric(b->ports().health, R"(agenthost_closes_total{code="1006"})", 1));
}

TEST(ResourceGuards, InFlightCapHoldsCommandsUntilResults) {
    Workspace ws({"gw-01"});
    auto b = start_backend(ws, "{ max_in_flight: 2 }");
    Agent a(ws, "gw-01");
    ASSERT_TRUE(a.open(b->ports().agents));
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(enqueue(*b, "gw-01", R"({"text":"c)" + std::to_string(i) + R"("})"));
    }
    std::vector<std::string> got;
    while (got.size() < 2) {
        auto f = a.raw().read(10s);
        ASSERT_TRUE(f && !f->close_code);
        auto p = frame_payload(f->text);
        if (json::value_to<std::string>(p.at("type")) == "command") {
            got.push_back(json::value_to<std::string>(p.at("body").at("command_id")));
        }
    }
    EXPECT_EQ(got, (std::vector<std::string>{ids[0], ids[1]}));
    EXPECT_TRUE(wait_metric(b->ports().health, "agenthost_commands_deferred_total", 3));
    EXPECT_EQ(scrape(b->ports().health, "agenthost_commands_in_flight"), 2.0);
    auto dispatched = [&] { return count_audit(b->audit_log(), {{"action", "command.dispatch"}}); };
    EXPECT_TRUE(wait_until([&] { return dispatched() == 2u; }, 5s));

    // One result frees one slot: exactly the next command in order goes out.
    a.raw().send_text(a.result(ids[0]));
    std::string next;
    while (next.empty()) {
        auto f = a.raw().read(10s);
        ASSERT_TRUE(f && !f->close_code);
        auto p = frame_payload(f->text);
        if (json::value_to<std::string>(p.at("type")) == "command") {
            next = json::value_to<std::string>(p.at("body").at("command_id"));
        }
    }
    EXPECT_EQ(next, ids[2]);
    EXPECT_TRUE(wait_until([&] { return dispatched() == 3u; }, 5s));  // audit is asynchronous
    EXPECT_EQ(dispatched(), 3u);
}

TEST(ResourceGuards, SlowReaderIsDroppedWithBoundedQueue) {
    Workspace ws({"gw-01"});
    constexpr double kQueueBytes = 262144;
    auto b = start_backend(ws,
                           "{ write_queue: 4, write_queue_bytes: 262144, write_stall_s: 1, "
                           "max_in_flight: 1000 }");
    const auto health = b->ports().health;
    Agent a(ws, "gw-01");
    ASSERT_TRUE(a.open(b->ports().agents));
    // The agent stops reading; the backend pushes ~24 MB of commands, far more than
    // the socket buffers and the 256 KiB write queue hold.
    const std::string big = R"({"text":")" + std::string(600000, 'x') + R"("})";
    double peak = 0;
    for (int i = 0; i < 40 && b->agent_state("gw-01") == "online"; ++i) {
        enqueue(*b, "gw-01", big);
        peak = std::max(peak, scrape(health, "agenthost_write_queue_bytes").value_or(0));
    }
    EXPECT_TRUE(
        wait_metric(health, R"(agenthost_guard_rejections_total{reason="slow_reader"})", 1, 30s));
    EXPECT_TRUE(wait_until([&] { return b->agent_state("gw-01") == "offline"; }, 20s, 200ms));
    // The queue never held more than its cap plus one message, and is released.
    EXPECT_LE(peak, kQueueBytes + 900000);
    EXPECT_TRUE(wait_until([&] { return scrape(health, "agenthost_write_queue_bytes") == 0.0; },
                           10s, 200ms));
}

TEST(ResourceGuards, MemoryWatermarkRefusesNewSessionsWith1013) {
    Workspace ws({"gw-01"});
    auto b = start_backend(ws, "{ memory_watermark_mb: 1 }");  // any process is above 1 MiB
    Agent a(ws, "gw-01");
    ASSERT_TRUE(a.connect(b->ports().agents));
    EXPECT_EQ(a.raw().wait_close(10s), 1013);
    EXPECT_TRUE(wait_metric(b->ports().health,
                            R"(agenthost_connections_rejected_total{reason="memory_watermark"})",
                            1));
    EXPECT_EQ(b->agent_state("gw-01"), "");  // never registered: no hello was processed
}

}  // namespace
}  // namespace agenthost::guards_test
