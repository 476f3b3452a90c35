// AgentServer + WsClient over real mutual TLS on loopback (PROTOCOL.md §1, §3, §6).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "kernel/crypto/x509.hpp"
#include "kernel/net/agent_server.hpp"
#include "kernel/net/ws_client.hpp"
#include "kernel/runtime/runtime.hpp"
#include "tests/net/net_test_util.hpp"

namespace agenthost::net {
namespace {

using namespace std::chrono_literals;
using test::Pki;
using test::RawConn;
using test::wait_until;

struct Events {
    std::mutex mu;
    std::vector<std::string> messages;
    std::vector<bool> send_results;
    std::shared_ptr<Connection> conn;
    PeerInfo peer;
    std::atomic<bool> opened{false};
    std::atomic<int> close_code{-1};
    std::atomic<int> activity{0};

    std::size_t message_count() {
        std::lock_guard lock(mu);
        return messages.size();
    }
    std::shared_ptr<Connection> connection() {
        std::lock_guard lock(mu);
        return conn;
    }
};

class RecordingHandler final : public ConnectionHandler {
public:
    RecordingHandler(std::shared_ptr<Events> ev, bool echo, std::size_t burst = 0)
        : ev_(std::move(ev)), echo_(echo), burst_(burst) {}
    void on_open(std::shared_ptr<Connection> c) override {
        std::lock_guard lock(ev_->mu);
        ev_->conn = c;
        ev_->peer = c->peer();
        for (std::size_t i = 0; i < burst_; ++i) {
            ev_->send_results.push_back(c->send("m" + std::to_string(i)));
        }
        ev_->opened = true;
    }
    void on_message(std::string text) override {
        std::shared_ptr<Connection> c;
        {
            std::lock_guard lock(ev_->mu);
            ev_->messages.push_back(text);
            c = ev_->conn;
        }
        if (echo_) {
            c->send(std::move(text));
        }
    }
    void on_activity() override { ++ev_->activity; }
    void on_close(std::uint16_t code) override {
        {
            std::lock_guard lock(ev_->mu);
            ev_->conn.reset();
        }
        ev_->close_code = code;
    }

private:
    std::shared_ptr<Events> ev_;
    bool echo_;
    std::size_t burst_;
};

struct ConnectResult {
    std::shared_ptr<Events> events = std::make_shared<Events>();
    std::shared_ptr<std::atomic<bool>> failed = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<std::string> failure = std::make_shared<std::string>();
    std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
    std::string message() const {
        std::lock_guard lock(*mu);
        return *failure;
    }
    // Waits for either outcome.
    bool settle() {
        return wait_until([&] { return events->opened || *failed; });
    }
};

class AgentServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        runtime::RuntimeOptions o;
        o.loop_threads = 2;
        o.blocking_threads = 1;
        o.log_level = "warn";
        rt_ = std::make_unique<runtime::Runtime>(o);
        rt_->start_background();
    }

    void TearDown() override {
        if (server_) {
            std::atomic<bool> done{false};
            server_->drain([&] { done = true; }, 5s);
            EXPECT_TRUE(wait_until([&] { return done.load(); }));
            server_.reset();
        }
        rt_->stop();
    }

    void start_server(SessionLimits limits = {}, std::size_t max_connections = 100,
                      std::string binding = "cn", std::size_t burst = 0,
                      std::string address = "127.0.0.1") {
        const auto& pki = Pki::main();
        auto tls = TlsContext::make_server({pki.backend_crt(), pki.backend_key(), pki.ca(), "1.3"});
        ASSERT_TRUE(tls) << tls.status().message();
        server_ = std::make_unique<AgentServer>(
            *rt_, Endpoint{address, 0}, *tls, limits, binding,
            [this, burst](const PeerInfo&) {
                auto ev = std::make_shared<Events>();
                {
                    std::lock_guard lock(mu_);
                    server_events_.push_back(ev);
                }
                return std::make_unique<RecordingHandler>(ev, true, burst);
            },
            max_connections);
        server_->set_tls_refusal_hook([this](const TlsRefusal& r) {
            std::lock_guard lock(mu_);
            refusals_.push_back(r);
        });
        auto st = server_->start();
        ASSERT_TRUE(st) << st.message();
        ASSERT_NE(server_->port(), 0);
    }

    std::shared_ptr<TlsContext> client_tls(const std::string& cert, const std::string& key,
                                           std::vector<std::string> pins = {},
                                           const Pki* trust = nullptr) {
        const auto& pki = trust ? *trust : Pki::main();
        auto tls = TlsContext::make_client({pki.ca(), cert, key, std::move(pins), "1.3"});
        EXPECT_TRUE(tls) << tls.status().message();
        return tls ? *tls : nullptr;
    }

    ConnectResult connect(std::shared_ptr<TlsContext> tls, SessionLimits limits = {},
                          std::string host = "127.0.0.1", std::string path = "/agent/v1") {
        ConnectResult r;
        std::string url = "wss://" + host + ":" + std::to_string(server_->port()) + path;
        WsClient::connect(*rt_, url, std::move(tls), limits,
                          std::make_unique<RecordingHandler>(r.events, false), [r](sdk::Status st) {
                              {
                                  std::lock_guard lock(*r.mu);
                                  *r.failure = st.message();
                              }
                              *r.failed = true;
                          });
        return r;
    }

    ConnectResult connect_agent(const std::string& id, SessionLimits limits = {}) {
        const auto& pki = Pki::main();
        return connect(client_tls(pki.agent_crt(id), pki.agent_key(id)), limits);
    }

    std::shared_ptr<Events> server_events(std::size_t i) {
        std::lock_guard lock(mu_);
        return i < server_events_.size() ? server_events_[i] : nullptr;
    }
    std::size_t server_session_handlers() {
        std::lock_guard lock(mu_);
        return server_events_.size();
    }
    std::vector<TlsRefusal> refusals() {
        std::lock_guard lock(mu_);
        return refusals_;
    }
    std::size_t refusal_count() {
        std::lock_guard lock(mu_);
        return refusals_.size();
    }
    std::uint64_t handshakes(const char* result) {
        return rt_->metrics()
            .counter("agenthost_handshakes_total", "", {{"result", result}})
            .value();
    }

    std::unique_ptr<runtime::Runtime> rt_;
    std::unique_ptr<AgentServer> server_;
    std::mutex mu_;
    std::vector<std::shared_ptr<Events>> server_events_;
    std::vector<TlsRefusal> refusals_;  // what the TLS refusal hook reported
};

TEST_F(AgentServerTest, ValidAgentUpgradesAndExchangesText) {
    start_server();
    auto c = connect_agent("gw-01");
    ASSERT_TRUE(c.settle());
    ASSERT_TRUE(c.events->opened) << c.message();
    ASSERT_TRUE(wait_until([&] { return server_events(0) && server_events(0)->opened; }));
    auto srv = server_events(0);
    EXPECT_EQ(srv->peer.identity, "gw-01");
    EXPECT_EQ(srv->peer.cert_fingerprint.size(), 64u);
    EXPECT_NE(srv->peer.remote_address.find("127.0.0.1:"), std::string::npos);
    EXPECT_EQ(c.events->peer.identity, "localhost");
    EXPECT_EQ(server_->session_count(), 1u);

    ASSERT_TRUE(c.events->connection()->send("hello"));
    ASSERT_TRUE(wait_until([&] { return c.events->message_count() == 1; }));
    EXPECT_EQ(c.events->messages[0], "hello");
    EXPECT_GE(handshakes("ok"), 1u);

    c.events->connection()->close(close_code::normal, "bye");
    ASSERT_TRUE(wait_until([&] { return srv->close_code == 1000; }));
    EXPECT_EQ(c.events->close_code, 1000);
    ASSERT_TRUE(wait_until([&] { return server_->session_count() == 0; }));
}

TEST_F(AgentServerTest, RawUpgradeSelectsSubprotocolAndDeclinesDeflate) {
    start_server();
    const auto& pki = Pki::main();
    RawConn::Tls tls{pki.ca(), pki.agent_crt("gw-02"), pki.agent_key("gw-02")};
    RawConn raw(server_->port(), &tls);
    ASSERT_TRUE(raw.ok()) << raw.error();
    ASSERT_TRUE(raw.write(test::upgrade_request(
        "/agent/v1?ignored=1", "chat, agenthost.v1",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")));
    auto res = raw.read_until("\r\n\r\n");
    EXPECT_EQ(test::status_of(res), 101) << res;
    EXPECT_NE(res.find("Sec-WebSocket-Protocol: agenthost.v1"), std::string::npos) << res;
    EXPECT_EQ(res.find("permessage-deflate"), std::string::npos) << res;
}

// Each refused handshake fails on the client, is counted, and reaches the refusal hook
// once, classified (docs/audit.md, tls.refused): what the peer did decides the reason,
// OpenSSL's verify error the detail.
TEST_F(AgentServerTest, TlsHandshakeFailsWithoutValidClientCertificate) {
    start_server();
    const auto& pki = Pki::main();
    const auto& other = Pki::other();
    struct Case {
        const char* name;
        std::shared_ptr<TlsContext> tls;
        std::string reason;
        std::string detail;
    };
    std::vector<Case> cases{
        {"no client certificate", client_tls("", ""), "no_client_certificate", ""},
        {"certificate from another CA",
         client_tls(other.agent_crt("gw-01"), other.agent_key("gw-01")), "certificate_rejected",
         "unable to get local issuer certificate"},
        {"expired certificate",
         client_tls(pki.agent_crt("gw-01-expired"), pki.agent_key("gw-01-expired")),
         "certificate_rejected", "certificate has expired"},
    };
    auto before = handshakes("tls_failed");
    std::size_t expected = 0;
    for (auto& tc : cases) {
        auto c = connect(tc.tls);
        ASSERT_TRUE(c.settle()) << tc.name;
        EXPECT_TRUE(*c.failed) << tc.name;
        EXPECT_FALSE(c.events->opened) << tc.name;
        ++expected;
        ASSERT_TRUE(wait_until([&] { return refusal_count() >= expected; })) << tc.name;
        auto r = refusals().back();
        EXPECT_EQ(r.remote_ip, "127.0.0.1") << tc.name;
        EXPECT_EQ(std::string(r.reason), tc.reason) << tc.name;
        EXPECT_EQ(r.detail, tc.detail) << tc.name;
    }
    EXPECT_TRUE(wait_until([&] { return handshakes("tls_failed") == before + cases.size(); }))
        << handshakes("tls_failed") - before;
    EXPECT_EQ(server_session_handlers(), 0u);
    EXPECT_EQ(refusal_count(), expected) << "a refusal was reported twice";
}

TEST_F(AgentServerTest, NotTlsAtAllIsReportedAsAProtocolError) {
    start_server();
    RawConn plain(server_->port(), nullptr);
    ASSERT_TRUE(plain.ok()) << plain.error();
    ASSERT_TRUE(plain.write(std::string("\x01\x02 this is not a ClientHello\r\n\r\n")));
    EXPECT_TRUE(plain.wait_closed());
    ASSERT_TRUE(wait_until([&] { return refusal_count() >= 1; }));
    auto r = refusals().back();
    EXPECT_EQ(r.remote_ip, "127.0.0.1");
    EXPECT_EQ(std::string(r.reason), "protocol_error");
    EXPECT_FALSE(r.detail.empty());
    EXPECT_EQ(refusal_count(), 1u) << "a refusal was reported twice";
}

// A handshake the server itself aborts (drain) is not the peer's refusal.
TEST_F(AgentServerTest, HandshakeAbortedByDrainIsNotReported) {
    start_server();
    RawConn silent(server_->port(), nullptr);  // TCP only, never a ClientHello
    ASSERT_TRUE(silent.ok()) << silent.error();
    ASSERT_TRUE(wait_until([&] { return server_->active_count() == 1; }));
    std::atomic<bool> done{false};
    server_->drain([&] { done = true; }, 5s);
    ASSERT_TRUE(wait_until([&] { return done.load(); }));
    EXPECT_TRUE(silent.wait_closed());
    EXPECT_EQ(handshakes("tls_failed") + handshakes("timeout"), 1u);
    EXPECT_EQ(refusal_count(), 0u);
}

TEST_F(AgentServerTest, UpgradeChecksInOrder) {
    start_server();
    const auto& pki = Pki::main();
    RawConn::Tls good{pki.ca(), pki.agent_crt("gw-01"), pki.agent_key("gw-01")};
    RawConn::Tls bad_id{pki.ca(), pki.agent_crt("Bad_Agent"), pki.agent_key("Bad_Agent")};
    struct Case {
        const RawConn::Tls* tls;
        std::string target;
        std::string protocols;
        int status;
    };
    std::vector<Case> cases{
        {&good, "/agent/v1/", "agenthost.v1", 404},
        {&good, "/other", "agenthost.v1", 404},
        {&bad_id, "/nope", "", 404},  // path first
        {&good, "/agent/v1", "", 400},
        {&good, "/agent/v1", "agenthost.v2, chat", 400},
        {&bad_id, "/agent/v1", "", 400},  // subprotocol before identity
        {&bad_id, "/agent/v1", "agenthost.v1", 403},
    };
    for (const auto& tc : cases) {
        RawConn raw(server_->port(), tc.tls);
        ASSERT_TRUE(raw.ok()) << raw.error();
        ASSERT_TRUE(raw.write(test::upgrade_request(tc.target, tc.protocols)));
        auto res = raw.read_until("\r\n\r\n");
        EXPECT_EQ(test::status_of(res), tc.status) << tc.target << " [" << tc.protocols << "]";
        EXPECT_TRUE(raw.wait_closed()) << tc.target;
    }
    EXPECT_EQ(server_session_handlers(), 0u);

    auto c = connect_agent("Bad_Agent");
    ASSERT_TRUE(c.settle());
    EXPECT_EQ(c.message(), "upgrade refused: HTTP 403");
}

TEST_F(AgentServerTest, UriSanBinding) {
    start_server({}, 100, "uri_san");
    auto c = connect_agent("gw-02");
    ASSERT_TRUE(c.settle());
    ASSERT_TRUE(c.events->opened) << c.message();
    ASSERT_TRUE(wait_until([&] { return server_events(0) && server_events(0)->opened; }));
    EXPECT_EQ(server_events(0)->peer.identity, "gw-02");
}

TEST_F(AgentServerTest, MessageSizeLimitExactlyMaxPassesOneMoreCloses1009) {
    SessionLimits limits;
    limits.max_message_bytes = 1024;
    start_server(limits);
    auto c = connect_agent("gw-01");
    ASSERT_TRUE(c.settle());
    ASSERT_TRUE(c.events->opened) << c.message();
    ASSERT_TRUE(c.events->connection()->send(std::string(1024, 'a')));
    ASSERT_TRUE(wait_until([&] { return c.events->message_count() == 1; }));
    EXPECT_EQ(c.events->messages[0].size(), 1024u);

    ASSERT_TRUE(c.events->connection()->send(std::string(1025, 'b')));
    ASSERT_TRUE(wait_until([&] { return c.events->close_code != -1; }));
    EXPECT_EQ(c.events->close_code, 1009);
    ASSERT_TRUE(wait_until([&] { return server_events(0)->close_code != -1; }));
    EXPECT_EQ(server_events(0)->close_code, 1009);
    EXPECT_EQ(server_events(0)->message_count(), 1u);
}

TEST_F(AgentServerTest, BinaryMessageCloses1003) {
    start_server();
    const auto& pki = Pki::main();
    RawConn::Tls tls{pki.ca(), pki.agent_crt("gw-01"), pki.agent_key("gw-01")};
    RawConn raw(server_->port(), &tls);
    ASSERT_TRUE(raw.ok()) << raw.error();
    ASSERT_TRUE(raw.write(test::upgrade_request("/agent/v1", "agenthost.v1")));
    ASSERT_EQ(test::status_of(raw.read_until("\r\n\r\n")), 101);
    ASSERT_TRUE(raw.write(test::client_frame(0x2, "\x01\x02\x03")));
    auto head = raw.read_n(4);
    ASSERT_EQ(head.size(), 4u);
    EXPECT_EQ(static_cast<unsigned char>(head[0]), 0x88);  // FIN + close
    unsigned code =
        (static_cast<unsigned char>(head[2]) << 8) | static_cast<unsigned char>(head[3]);
    EXPECT_EQ(code, 1003u);
    ASSERT_TRUE(raw.write(test::client_frame(0x8, std::string("\x03\xeb", 2))));
    raw.tls_shutdown();
    ASSERT_TRUE(
        wait_until([&] { return server_events(0) && server_events(0)->close_code != -1; }, 5s));
    EXPECT_EQ(server_events(0)->close_code, 1003);
    EXPECT_EQ(server_events(0)->message_count(), 0u);
}

TEST_F(AgentServerTest, DrainClosesEverySessionWith1001) {
    start_server();
    auto a = connect_agent("gw-01");
    auto b = connect_agent("gw-02");
    ASSERT_TRUE(a.settle() && b.settle());
    ASSERT_TRUE(a.events->opened && b.events->opened);
    ASSERT_TRUE(wait_until([&] { return server_->session_count() == 2; }));
    std::atomic<bool> done{false};
    server_->drain([&] { done = true; });
    ASSERT_TRUE(wait_until([&] { return done.load(); }));
    EXPECT_EQ(server_->session_count(), 0u);
    ASSERT_TRUE(
        wait_until([&] { return a.events->close_code != -1 && b.events->close_code != -1; }));
    EXPECT_EQ(a.events->close_code, 1001);
    EXPECT_EQ(b.events->close_code, 1001);
    auto late = connect_agent("gw-01");
    ASSERT_TRUE(late.settle());
    EXPECT_TRUE(*late.failed);
}

TEST_F(AgentServerTest, SendReturnsFalseAtTheWriteQueueCap) {
    SessionLimits limits;
    limits.max_write_queue = 4;
    start_server(limits, 100, "cn", /*burst=*/5);
    auto c = connect_agent("gw-01");
    ASSERT_TRUE(c.settle());
    ASSERT_TRUE(wait_until([&] { return server_events(0) && server_events(0)->opened; }));
    auto srv = server_events(0);
    {
        std::lock_guard lock(srv->mu);
        ASSERT_EQ(srv->send_results.size(), 5u);
        EXPECT_EQ(srv->send_results, (std::vector<bool>{true, true, true, true, false}));
    }
    ASSERT_TRUE(wait_until([&] { return c.events->message_count() == 4; }));
    EXPECT_EQ(c.events->messages[0], "m0");
    EXPECT_EQ(c.events->messages[3], "m3");
}

TEST_F(AgentServerTest, SlowReaderIsClosed1008) {
    SessionLimits limits;
    limits.max_write_queue = 4;
    limits.write_stall_timeout = 1s;
    start_server(limits);
    const auto& pki = Pki::main();
    RawConn::Tls tls{pki.ca(), pki.agent_crt("gw-01"), pki.agent_key("gw-01")};
    RawConn raw(server_->port(), &tls);  // upgrades, then never reads again
    ASSERT_TRUE(raw.ok()) << raw.error();
    ASSERT_TRUE(raw.write(test::upgrade_request("/agent/v1", "agenthost.v1")));
    ASSERT_EQ(test::status_of(raw.read_until("\r\n\r\n")), 101);
    ASSERT_TRUE(wait_until([&] { return server_events(0) && server_events(0)->opened; }));
    auto srv = server_events(0);
    auto conn = srv->connection();
    const std::string big(512 * 1024, 'x');
    bool saw_full = false;
    // Keep the queue topped up until the stall policy fires (polling, bounded).
    ASSERT_TRUE(wait_until(
        [&] {
            if (srv->close_code != -1) {
                return true;
            }
            saw_full = !conn->send(big) || saw_full;
            return false;
        },
        20s));
    EXPECT_TRUE(saw_full);
    EXPECT_EQ(srv->close_code, 1008);
    EXPECT_FALSE(conn->send("late"));
}

TEST_F(AgentServerTest, PinSetDecidesTheBackend) {
    start_server();
    const auto& pki = Pki::main();
    auto backend_pin = crypto::spki_pin_from_file(pki.backend_crt());
    auto other_pin = crypto::spki_pin_from_file(Pki::other().backend_crt());
    ASSERT_TRUE(backend_pin && other_pin);

    auto bad = connect(client_tls(pki.agent_crt("gw-01"), pki.agent_key("gw-01"), {*other_pin}));
    ASSERT_TRUE(bad.settle());
    ASSERT_TRUE(*bad.failed);
    EXPECT_EQ(bad.message(),
              "backend key pin mismatch: presented " + *backend_pin + " not in pin set");

    // Rotation: the set holds current + next; either key in the chain is accepted.
    auto good = connect(
        client_tls(pki.agent_crt("gw-01"), pki.agent_key("gw-01"), {*other_pin, *backend_pin}));
    ASSERT_TRUE(good.settle());
    EXPECT_TRUE(good.events->opened) << good.message();
}

TEST_F(AgentServerTest, HostnameIsVerified) {
    start_server({}, 100, "cn", 0, "0.0.0.0");
    const auto& pki = Pki::main();
    auto ok = connect(client_tls(pki.agent_crt("gw-01"), pki.agent_key("gw-01")), {}, "localhost");
    ASSERT_TRUE(ok.settle());
    EXPECT_TRUE(ok.events->opened) << ok.message();
    // 127.0.0.2 is loopback too but not in the certificate's SANs.
    auto wrong =
        connect(client_tls(pki.agent_crt("gw-01"), pki.agent_key("gw-01")), {}, "127.0.0.2");
    ASSERT_TRUE(wrong.settle());
    EXPECT_TRUE(*wrong.failed);
    EXPECT_NE(wrong.message().find("TLS handshake failed"), std::string::npos) << wrong.message();
}

TEST_F(AgentServerTest, ConnectionCapRefusesExtraConnections) {
    start_server({}, 1);
    auto a = connect_agent("gw-01");
    ASSERT_TRUE(a.settle());
    ASSERT_TRUE(a.events->opened) << a.message();
    auto b = connect_agent("gw-02");
    ASSERT_TRUE(b.settle());
    EXPECT_TRUE(*b.failed);
    EXPECT_EQ(server_->refused_count(), 1u);
}

TEST_F(AgentServerTest, HeartbeatPingsAndIdleDrop) {
    SessionLimits limits;
    limits.heartbeat = 1s;
    limits.idle_timeout = 3s;
    start_server(limits);
    // A real client answers pings: the server sees pongs as activity and keeps it.
    auto c = connect_agent("gw-01");
    ASSERT_TRUE(c.settle());
    ASSERT_TRUE(c.events->opened) << c.message();
    ASSERT_TRUE(wait_until([&] { return server_events(0) && server_events(0)->activity >= 2; }));
    EXPECT_EQ(server_events(0)->close_code, -1);

    // A peer that never answers is dropped after idle_timeout.
    const auto& pki = Pki::main();
    RawConn::Tls tls{pki.ca(), pki.agent_crt("gw-02"), pki.agent_key("gw-02")};
    RawConn raw(server_->port(), &tls);
    ASSERT_TRUE(raw.ok()) << raw.error();
    ASSERT_TRUE(raw.write(test::upgrade_request("/agent/v1", "agenthost.v1")));
    ASSERT_EQ(test::status_of(raw.read_until("\r\n\r\n")), 101);
    ASSERT_TRUE(wait_until([&] { return server_events(1) && server_events(1)->close_code != -1; }));
    EXPECT_EQ(server_events(1)->close_code, 1006);
    EXPECT_EQ(server_events(0)->close_code, -1);
}

// The handshake deadline (its own timer since the TLS stream sits on the socket): a
// peer that stalls before TLS, or after TLS but before its upgrade request, is counted
// as a timeout and disconnected; the slot it held is released.
TEST_F(AgentServerTest, StalledHandshakesTimeOut) {
    SessionLimits limits;
    limits.handshake_timeout = 1s;
    start_server(limits);
    const auto before = handshakes("timeout");

    RawConn silent(server_->port(), nullptr);  // TCP only, never a ClientHello
    ASSERT_TRUE(silent.ok()) << silent.error();
    const auto& pki = Pki::main();
    RawConn::Tls tls{pki.ca(), pki.agent_crt("gw-01"), pki.agent_key("gw-01")};
    RawConn no_request(server_->port(), &tls);  // TLS done, no HTTP request
    ASSERT_TRUE(no_request.ok()) << no_request.error();

    EXPECT_TRUE(silent.wait_closed());
    EXPECT_TRUE(no_request.wait_closed());
    EXPECT_TRUE(wait_until([&] { return handshakes("timeout") == before + 2; }))
        << handshakes("timeout") - before;
    EXPECT_TRUE(wait_until([&] { return server_->active_count() == 0; }));
    EXPECT_EQ(server_session_handlers(), 0u);
    // Only the TLS stall is a refused TLS handshake; the other one passed TLS.
    auto refused = refusals();
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(std::string(refused[0].reason), "handshake_timeout");
    EXPECT_EQ(refused[0].remote_ip, "127.0.0.1");
}

// Messages around and far above one TLS record (16 KiB) cross intact both ways: the
// client's masked frames and the server's header + payload writes are gathered into
// records, larger ones split over several, and reads reassemble them.
TEST_F(AgentServerTest, MessagesAcrossRecordBoundariesEchoIntact) {
    start_server();
    auto c = connect_agent("gw-01");
    ASSERT_TRUE(c.settle());
    ASSERT_TRUE(c.events->opened) << c.message();
    const std::vector<std::size_t> sizes{1, 125, 126, 16 * 1024 - 4, 16 * 1024, 16 * 1024 + 1,
                                         65536, 300000};
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        std::string text(sizes[i], 'a');
        for (std::size_t j = 0; j < text.size(); ++j) {
            text[j] = static_cast<char>('a' + (j * 7 + i) % 26);
        }
        sent.push_back(text);
        ASSERT_TRUE(c.events->connection()->send(std::move(text)));
    }
    ASSERT_TRUE(wait_until([&] { return c.events->message_count() == sizes.size(); }))
        << c.events->message_count();
    std::lock_guard lock(c.events->mu);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_EQ(c.events->messages[i].size(), sizes[i]);
        EXPECT_TRUE(c.events->messages[i] == sent[i]) << "message " << i;
    }
}

TEST(WsClientUrl, Parses) {
    auto u = WsClient::parse_url("wss://backend.example:8444/agent/v1");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->host, "backend.example");
    EXPECT_EQ(u->port, "8444");
    EXPECT_EQ(u->target, "/agent/v1");
    auto v6 = WsClient::parse_url("wss://[::1]:9/agent/v1");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_FALSE(WsClient::parse_url("ws://x:1/agent/v1"));
    EXPECT_FALSE(WsClient::parse_url("wss://x:port/agent/v1"));
}

}  // namespace
}  // namespace agenthost::net
