// deploy/nginx/nginx.conf with the real Debian nginx on loopback in front of a real
// backend: the agent's TLS passes through untouched (101 upgrade, mTLS identity and
// the gateway's SPKI pin all checked end to end), a client without a certificate is
// refused, and the operator API and health are routed as API.md documents.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/e2e/harness.hpp"
#include "tests/e2e/raw_client.hpp"
#include "tests/support/nginx.hpp"

namespace agenthost::e2e {
namespace {

class NginxPassthrough : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ws_ = new Workspace({"gw-01", "gw-02", "gw-03", "gw-04"});
        backend_ = new Backend(*ws_, BackendOptions{.name = "backend-1"});
        backend_->start();
        auto at = [](std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); };
        // A backend that is down comes first in every group: nginx must skip it.
        const std::string dead = at(free_port());
        testsvc::NginxOptions o;
        o.agent_servers = {dead, at(backend_->ports().agents)};
        o.api_servers = {dead, at(backend_->ports().admin)};
        o.health_servers = {dead, at(backend_->ports().health)};
        nginx_ = new testsvc::Nginx(o);
        nginx_->start();
    }
    static void TearDownTestSuite() {
        delete nginx_;
        backend_->stop_graceful();
        delete backend_;
        delete ws_;
    }

    static std::string key(const std::string& agent) {
        return derive_key(read_file(ws_->master_key()), agent);
    }
    static std::string hello(const std::string& agent) {
        json::object body{{"agent_version", "raw-1.0"},
                          {"hostname", "raw"},
                          {"platform", "linux-x86_64"},
                          {"capabilities", json::array{"builtin.echo"}},
                          {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
        return sign_frame(key(agent), "k1", envelope("hello", agent, body));
    }
    static std::string curl(const std::string& args, std::string* body = nullptr) {
        std::string out;
        std::string file = ws_->dir() + "/curl.out";
        run("curl -sS -o " + file + " -w '%{http_code}' " + args, &out);
        if (body != nullptr) {
            *body = read_file(file);
        }
        return out;
    }

    static Workspace* ws_;
    static Backend* backend_;
    static testsvc::Nginx* nginx_;
};

Workspace* NginxPassthrough::ws_ = nullptr;
Backend* NginxPassthrough::backend_ = nullptr;
testsvc::Nginx* NginxPassthrough::nginx_ = nullptr;

TEST_F(NginxPassthrough, UpgradeAndMutualTlsReachTheBackend) {
    {
        RawAgentClient c(ws_->pki("ca.crt"), ws_->pki("agents/gw-01.crt"),
                         ws_->pki("agents/gw-01.key"));
        // connect() completes TLS (the backend's certificate, verified against the CA)
        // and the WebSocket upgrade; it throws unless the answer is 101.
        ASSERT_NO_THROW(c.connect(nginx_->agent_port())) << nginx_->error_log();
        c.send_text(hello("gw-01"));
        auto f = c.read(10s);
        ASSERT_TRUE(f && !f->close_code) << "no welcome through nginx";
        auto w = frame_payload(f->text);
        EXPECT_EQ(json::value_to<std::string>(w.at("type")), "welcome");
        // The backend took the identity from the client certificate nginx passed through.
        EXPECT_EQ(json::value_to<std::string>(w.at("agent")), "gw-01");
        EXPECT_EQ(backend_->agent_state("gw-01"), "online");
    }
    // nginx saw TLS it could not read (preread only), not plaintext HTTP; the stream
    // log line is written when the connection ends.
    EXPECT_TRUE(wait_until(
        [] { return nginx_->stream_access_log().find("tls=TLSv1.") != std::string::npos; }, 10s))
        << nginx_->stream_access_log();
}

TEST_F(NginxPassthrough, GatewayPinIsVerifiedEndToEnd) {
    // A real gateway pinning the backend's key registers through nginx...
    GatewayOptions good{.agent = "gw-02"};
    good.port = nginx_->agent_port();
    Gateway gw(*ws_, *backend_, good);
    gw.start();
    EXPECT_TRUE(wait_until([] { return backend_->agent_state("gw-02") == "online"; }, 30s))
        << gw.process().log();

    // ...and one pinning another key refuses the very same backend behind nginx: the
    // certificate it checks is the backend's own, so the pin is checked end to end.
    std::string wrong_pin;
    ASSERT_EQ(run(env_or("AGENTHOST_BIN", "agenthost") + " pin " + ws_->pki("agents/gw-04.crt"),
                  &wrong_pin),
              0);
    while (!wrong_pin.empty() && wrong_pin.back() == '\n') {
        wrong_pin.pop_back();
    }
    GatewayOptions bad{.agent = "gw-03", .pins = {wrong_pin}};
    bad.port = nginx_->agent_port();
    Gateway pinned_elsewhere(*ws_, *backend_, bad);
    pinned_elsewhere.start();
    EXPECT_TRUE(wait_until(
        [&] { return pinned_elsewhere.process().log().find("pin mismatch") != std::string::npos; },
        30s))
        << pinned_elsewhere.process().log();
    // The key the gateway saw through nginx is the backend's own (no TLS termination).
    EXPECT_NE(pinned_elsewhere.process().log().find("presented " + ws_->backend_pin()),
              std::string::npos)
        << pinned_elsewhere.process().log();
    EXPECT_NE(backend_->agent_state("gw-03"), "online");
    gw.stop_graceful();
    pinned_elsewhere.stop_graceful();
}

TEST_F(NginxPassthrough, ClientWithoutCertificateIsRefused) {
    RawAgentClient c(ws_->pki("ca.crt"), "", "");
    EXPECT_ANY_THROW(c.connect(nginx_->agent_port()));
    // The agent port still serves certified clients afterwards.
    RawAgentClient ok(ws_->pki("ca.crt"), ws_->pki("agents/gw-04.crt"),
                      ws_->pki("agents/gw-04.key"));
    EXPECT_NO_THROW(ok.connect(nginx_->agent_port()));
}

TEST_F(NginxPassthrough, PlaintextIsClosedWithoutReachingABackend) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(nginx_->agent_port());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{15, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = "GET /agent/v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    EXPECT_EQ(n, 0) << "expected an immediate close, got " << n << " bytes";
}

TEST_F(NginxPassthrough, OperatorApiAndHealthAreRouted) {
    const std::string api = "https://127.0.0.1:" + std::to_string(nginx_->api_port());
    std::string body;
    // TLS to the backend itself (its certificate verifies against the agenthost CA).
    EXPECT_EQ(curl("--cacert " + ws_->pki("ca.crt") + " -H 'Authorization: Bearer " + ws_->token() +
                       "' " + api + "/api/v1/agents",
                   &body),
              "200")
        << body;
    EXPECT_EQ(body.front(), '[');
    // The bearer token is checked by the backend, behind nginx.
    EXPECT_EQ(curl("--cacert " + ws_->pki("ca.crt") + " " + api + "/api/v1/agents"), "401");

    const std::string health = "http://127.0.0.1:" + std::to_string(nginx_->health_port());
    EXPECT_EQ(curl(health + "/readyz"), "200");
    EXPECT_EQ(curl(health + "/livez"), "200");
    EXPECT_EQ(curl(health + "/healthz", &body), "200");
    EXPECT_NE(body.find("\"status\""), std::string::npos) << body;
    // Metrics are per host: not exposed through the load balancer.
    EXPECT_EQ(curl(health + "/metrics"), "404");
}

}  // namespace
}  // namespace agenthost::e2e
