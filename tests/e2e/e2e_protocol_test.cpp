// The wire contract against a running backend, driven by a client written from
// PROTOCOL.md alone (tests/e2e/raw_client.cpp): interoperability first, then every
// rejection a misbehaving or hostile agent can provoke, each with its close code.

#include <gtest/gtest.h>

#include <csignal>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/raw_client.hpp"

namespace agenthost::e2e {
namespace {

constexpr std::size_t kMaxFrame = 8192;

class ProtocolE2E : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ws_ = new Workspace({"gw-01", "gw-02", "gw-03", "gw-04", "gw-05", "gw-06", "gw-07",
                             "gw-08", "gw-09"});
        BackendOptions o;
        o.max_frame_bytes = kMaxFrame;
        o.hello_timeout_s = 1;
        backend_ = new Backend(*ws_, o);
        backend_->start();
    }
    static void TearDownTestSuite() {
        backend_->stop_graceful();
        delete backend_;
        delete ws_;
    }

    std::unique_ptr<RawAgentClient> connect(const std::string& agent) {
        auto c = std::make_unique<RawAgentClient>(ws_->pki("ca.crt"),
                                                  ws_->pki("agents/" + agent + ".crt"),
                                                  ws_->pki("agents/" + agent + ".key"));
        c->connect(backend_->ports().agents);
        return c;
    }
    std::string key(const std::string& agent) {
        return derive_key(read_file(ws_->master_key()), agent);
    }
    std::string hello(const std::string& agent) {
        json::object body{{"agent_version", "raw-1.0"},
                          {"hostname", "raw"},
                          {"platform", "linux-x86_64"},
                          {"capabilities", json::array{"builtin.echo"}},
                          {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
        return sign_frame(key(agent), "k1", envelope("hello", agent, body));
    }
    // Connects and completes hello/welcome.
    std::unique_ptr<RawAgentClient> session(const std::string& agent) {
        auto c = connect(agent);
        c->send_text(hello(agent));
        auto f = c->read(10s);
        EXPECT_TRUE(f && !f->close_code) << "no welcome";
        if (f && !f->close_code) {
            auto p = frame_payload(f->text);
            EXPECT_EQ(json::value_to<std::string>(p.at("type")), "welcome");
        }
        return c;
    }
    std::string telemetry(const std::string& agent, const std::string& batch, std::int64_t ts) {
        json::array points;
        points.push_back(json::object{{"metric", "cpu.usage"}, {"ts", ts}, {"value", 0.5}});
        points.push_back(json::object{
            {"metric", "disk.free"}, {"ts", ts}, {"value", 42}, {"labels", {{"mount", "/"}}}});
        return sign_frame(key(agent), "k1",
                          envelope("telemetry", agent,
                                   json::object{{"batch_id", batch}, {"points", points}}));
    }

    static Workspace* ws_;
    static Backend* backend_;
};

Workspace* ProtocolE2E::ws_ = nullptr;
Backend* ProtocolE2E::backend_ = nullptr;

TEST_F(ProtocolE2E, HelloWelcomeAndIdempotentTelemetry) {
    auto c = connect("gw-01");
    c->send_text(hello("gw-01"));
    auto f = c->read(10s);
    ASSERT_TRUE(f && !f->close_code);
    auto w = frame_payload(f->text);
    EXPECT_EQ(json::value_to<std::string>(w.at("type")), "welcome");
    EXPECT_EQ(json::value_to<std::string>(w.at("agent")), "gw-01");
    auto& body = w.at("body").as_object();
    EXPECT_TRUE(body.contains("session_id"));
    EXPECT_GE(body.at("heartbeat_s").to_number<int>(), 1);

    c->send_text(telemetry("gw-01", "00000000-0000-4000-8000-000000000001", 1764201600000));
    f = c->read(10s);
    ASSERT_TRUE(f && !f->close_code);
    auto ack = frame_payload(f->text);
    ASSERT_EQ(json::value_to<std::string>(ack.at("type")), "telemetry_ack");
    EXPECT_EQ(ack.at("body").at("accepted").to_number<int>(), 2);
    EXPECT_EQ(ack.at("body").at("duplicates").to_number<int>(), 0);

    // The same points under a new batch id (a resend after reconnect): stored once.
    c->send_text(telemetry("gw-01", "00000000-0000-4000-8000-000000000002", 1764201600000));
    f = c->read(10s);
    ASSERT_TRUE(f && !f->close_code);
    ack = frame_payload(f->text);
    EXPECT_EQ(ack.at("body").at("accepted").to_number<int>(), 0);
    EXPECT_EQ(ack.at("body").at("duplicates").to_number<int>(), 2);
}

TEST_F(ProtocolE2E, ReplayedFrameCloses4410) {
    auto c = session("gw-02");
    std::string frame = telemetry("gw-02", "00000000-0000-4000-8000-000000000003", 1764201600000);
    c->send_text(frame);
    auto f = c->read(10s);
    ASSERT_TRUE(f && !f->close_code);
    c->send_text(frame);
    EXPECT_EQ(c->wait_close(10s), 4410);
    EXPECT_GE(count_audit(backend_->audit_log(), {{"target", "gw-02"}}), 1u);
}

TEST_F(ProtocolE2E, TamperedFrameCloses4401) {
    auto c = session("gw-03");
    std::string frame = telemetry("gw-03", "00000000-0000-4000-8000-000000000004", 1764201600000);
    auto dot = frame.find('.');
    frame[dot + 5] = frame[dot + 5] == 'A' ? 'B' : 'A';
    c->send_text(frame);
    EXPECT_EQ(c->wait_close(10s), 4401);
}

TEST_F(ProtocolE2E, FrameNamingAnotherAgentCloses4403) {
    auto c = session("gw-04");
    json::array points{json::object{{"metric", "m"}, {"ts", 1}, {"value", 1}}};
    std::string frame = sign_frame(
        key("gw-04"), "k1",
        envelope("telemetry", "gw-05",
                 json::object{{"batch_id", "00000000-0000-4000-8000-000000000005"},
                              {"points", points}}));
    c->send_text(frame);
    EXPECT_EQ(c->wait_close(10s), 4403);
}

TEST_F(ProtocolE2E, OversizeFrameCloses1009) {
    auto c = session("gw-06");
    c->send_text(std::string(kMaxFrame + 1, 'a'));
    EXPECT_EQ(c->wait_close(10s), 1009);
}

TEST_F(ProtocolE2E, NoHelloInTimeCloses4408) {
    auto c = connect("gw-07");
    EXPECT_EQ(c->wait_close(15s), 4408);
}

TEST_F(ProtocolE2E, BinaryMessageCloses1003) {
    auto c = session("gw-08");
    c->send_binary("\x01\x02\x03");
    EXPECT_EQ(c->wait_close(10s), 1003);
}

TEST_F(ProtocolE2E, UnknownTypeCloses4400) {
    auto c = session("gw-09");
    c->send_text(sign_frame(key("gw-09"), "k1", envelope("bogus", "gw-09", json::object{})));
    EXPECT_EQ(c->wait_close(10s), 4400);
}

TEST(ProtocolDrain, SigtermClosesAgentsWith1001AndExitsZero) {
    Workspace ws({"gw-01", "gw-02"});
    Backend backend(ws);
    backend.start();
    auto key = [&](const std::string& a) { return derive_key(read_file(ws.master_key()), a); };
    std::vector<std::unique_ptr<RawAgentClient>> clients;
    for (std::string agent : {"gw-01", "gw-02"}) {
        auto c = std::make_unique<RawAgentClient>(ws.pki("ca.crt"),
                                                  ws.pki("agents/" + agent + ".crt"),
                                                  ws.pki("agents/" + agent + ".key"));
        c->connect(backend.ports().agents);
        json::object body{{"agent_version", "raw"},         {"hostname", "h"},
                          {"platform", "linux"},            {"capabilities", json::array{}},
                          {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
        c->send_text(sign_frame(key(agent), "k1", envelope("hello", agent, body)));
        auto f = c->read(10s);
        ASSERT_TRUE(f && !f->close_code);
        clients.push_back(std::move(c));
    }
    backend.process().signal(SIGTERM);
    for (auto& c : clients) EXPECT_EQ(c->wait_close(20s), 1001);
    auto rc = backend.process().wait(30s);
    ASSERT_TRUE(rc.has_value());
    EXPECT_EQ(*rc, 0) << backend.process().log();
}

TEST(ProtocolTls, HandshakeWithoutClientCertificateFails) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    RawAgentClient c(ws.pki("ca.crt"), "", "");
    EXPECT_ANY_THROW(c.connect(backend.ports().agents));
    backend.stop_graceful();
    // The refusal is in the audit trail (docs/audit.md, tls.refused), once.
    EXPECT_EQ(count_audit(backend.audit_log(), {{"action", "tls.refused"},
                                                {"actor", "anonymous"},
                                                {"target", "127.0.0.1"},
                                                {"outcome", "denied"}}),
              1u);
    const std::string audit = read_file(backend.audit_log());
    const auto pos = audit.find("\"tls.refused\"");
    ASSERT_NE(pos, std::string::npos) << audit;
    const std::string line = audit.substr(pos, audit.find('\n', pos) - pos);
    EXPECT_NE(line.find("\"reason\":\"no_client_certificate\""), std::string::npos) << line;
}

}  // namespace
}  // namespace agenthost::e2e
