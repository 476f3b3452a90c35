// HttpServer over real sockets: plain health listener and HTTPS admin listener.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "kernel/net/http_server.hpp"
#include "kernel/runtime/runtime.hpp"
#include "tests/net/net_test_util.hpp"

namespace agenthost::net {
namespace {

using namespace std::chrono_literals;
using test::Pki;
using test::RawConn;
using test::wait_until;

std::string get(const std::string& path, const std::string& headers = "") {
    return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + headers + "Connection: close\r\n\r\n";
}

std::string body_of(const std::string& res) {
    auto p = res.find("\r\n\r\n");
    return p == std::string::npos ? "" : res.substr(p + 4);
}

class HttpServerTest : public ::testing::Test {
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
        health_.reset();
        admin_.reset();
        rt_->stop();
    }

    void start_health() {
        ASSERT_TRUE(register_livez(*rt_));
        health_ = std::make_unique<HttpServer>(*rt_, Endpoint{"127.0.0.1", 0},
                                               sdk::Listener::health, nullptr);
        ASSERT_TRUE(health_->start());
    }

    void start_admin() {
        const auto& pki = Pki::main();
        auto tls = TlsContext::make_server({pki.backend_crt(), pki.backend_key(), "", "1.3"});
        ASSERT_TRUE(tls) << tls.status().message();
        admin_ = std::make_unique<HttpServer>(
            *rt_, Endpoint{"127.0.0.1", 0}, sdk::Listener::admin, *tls,
            [](const sdk::HttpRequest& req) -> std::optional<std::string> {
                auto* h = req.header("authorization");
                if (h && *h == "Bearer good-token") {
                    return std::string("alice");
                }
                return std::nullopt;
            },
            [this](const sdk::HttpRequest& req) {
                std::lock_guard lock(mu_);
                unauthorized_.push_back(req.path);
            });
        ASSERT_TRUE(admin_->start());
    }

    std::string admin_call(const std::string& request) {
        const auto& pki = Pki::main();
        RawConn::Tls tls{pki.ca(), "", ""};
        RawConn raw(admin_->port(), &tls);
        EXPECT_TRUE(raw.ok()) << raw.error();
        EXPECT_TRUE(raw.write(request));
        return raw.read_until("\x01never");  // until the server closes
    }

    std::unique_ptr<runtime::Runtime> rt_;
    std::unique_ptr<HttpServer> health_;
    std::unique_ptr<HttpServer> admin_;
    std::mutex mu_;
    std::vector<std::string> unauthorized_;
};

TEST_F(HttpServerTest, LivezAnswers200AndUnknownPathsAreJson404) {
    start_health();
    {
        RawConn raw(health_->port(), nullptr);
        ASSERT_TRUE(raw.ok());
        ASSERT_TRUE(raw.write(get("/livez")));
        auto res = raw.read_until("\x01never");
        EXPECT_EQ(test::status_of(res), 200) << res;
        EXPECT_EQ(body_of(res), R"({"status":"pass"})");
        EXPECT_NE(res.find("Content-Type: application/json"), std::string::npos);
    }
    {
        RawConn raw(health_->port(), nullptr);
        ASSERT_TRUE(raw.write(get("/nope")));
        auto res = raw.read_until("\x01never");
        EXPECT_EQ(test::status_of(res), 404);
        EXPECT_EQ(body_of(res), R"({"error":{"code":"not_found","message":"no such path"}})");
    }
    {
        RawConn raw(health_->port(), nullptr);
        ASSERT_TRUE(
            raw.write("POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n"));
        EXPECT_EQ(test::status_of(raw.read_until("\x01never")), 405);
    }
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    start_health();
    RawConn raw(health_->port(), nullptr);
    ASSERT_TRUE(raw.ok());
    const std::string req = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(raw.write(req));
    auto first = raw.read_until(R"("pass"})");
    EXPECT_EQ(test::status_of(first), 200);
    ASSERT_TRUE(raw.write(req));
    auto second = raw.read_until(R"("pass"})");
    EXPECT_EQ(test::status_of(second), 200) << second;
}

TEST_F(HttpServerTest, AdminAuthenticatesBeforeRouting) {
    start_admin();
    auto res = admin_call(get("/definitely/not/a/route"));
    EXPECT_EQ(test::status_of(res), 401) << res;
    EXPECT_NE(body_of(res).find(R"("code":"unauthorized")"), std::string::npos);
    res = admin_call(get("/definitely/not/a/route", "Authorization: Bearer wrong\r\n"));
    EXPECT_EQ(test::status_of(res), 401);
    {
        std::lock_guard lock(mu_);
        EXPECT_EQ(unauthorized_.size(), 2u);
    }
    res = admin_call(get("/definitely/not/a/route", "Authorization: Bearer good-token\r\n"));
    EXPECT_EQ(test::status_of(res), 404);
}

TEST_F(HttpServerTest, RoutesDispatchWithDecodedQueryAndAnswerFromAnyThread) {
    ASSERT_TRUE(rt_->routes().add(sdk::Listener::admin, "GET", "/api/v1/things/*",
                                  [](const sdk::HttpRequest& req, sdk::HttpResponder respond) {
                                      std::string body = req.path + "|" + req.actor + "|";
                                      if (auto* q = req.query_param("q")) {
                                          body += *q;
                                      }
                                      body += "|";
                                      if (auto* h = req.header("x-custom")) {
                                          body += *h;
                                      }
                                      // Answer from a foreign thread: the server hops back to the
                                      // connection.
                                      std::thread([respond = std::move(respond), body] {
                                          sdk::HttpResponse res;
                                          res.status = 202;
                                          res.body = body;
                                          res.headers.emplace_back("Retry-After", "3");
                                          respond(res);
                                          respond(res);  // a second call is ignored
                                      }).detach();
                                  }));
    start_admin();
    auto res = admin_call(get("/api/v1/things/abc?q=a%20b+c%2F&x",
                              "Authorization: Bearer good-token\r\nX-Custom: Yes\r\n"));
    EXPECT_EQ(test::status_of(res), 202) << res;
    EXPECT_EQ(body_of(res), "/api/v1/things/abc|alice|a b c/|Yes");
    EXPECT_NE(res.find("Retry-After: 3"), std::string::npos);
}

TEST_F(HttpServerTest, OversizeBodyIs413) {
    ASSERT_TRUE(rt_->routes().add(
        sdk::Listener::admin, "POST", "/api/v1/big",
        [](const sdk::HttpRequest&, sdk::HttpResponder respond) { respond(sdk::HttpResponse{}); }));
    start_admin();
    std::string body((1 << 20) + 1, 'x');
    auto res = admin_call(
        "POST /api/v1/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        "good-token\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_EQ(test::status_of(res), 413) << res.substr(0, 200);
    std::string ok_body(1 << 20, 'x');
    res = admin_call(
        "POST /api/v1/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        "good-token\r\nConnection: close\r\nContent-Length: " +
        std::to_string(ok_body.size()) + "\r\n\r\n" + ok_body);
    EXPECT_EQ(test::status_of(res), 200) << res.substr(0, 200);
}

}  // namespace
}  // namespace agenthost::net
