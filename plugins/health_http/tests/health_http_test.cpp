// health_http through its factory with a fake context: the registered handlers are
// called like the kernel's health listener would, and their answers are parsed.

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "plugins/health_http/health_plugin.hpp"
#include "plugins/health_http/render.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::health_http {
namespace {

namespace json = sdk::json;
using sdk::HealthReport;
using sdk::HealthState;
using sdk::Listener;
using testing::FakeContext;
using testing::FakeContextOptions;

FakeContextOptions options() {
    FakeContextOptions o;
    o.plugin_name = "health_http";
    o.host_id = "host-7";
    return o;
}

sdk::HttpRequest get(std::string path) {
    sdk::HttpRequest r;
    r.method = "GET";
    r.target = path;
    r.path = std::move(path);
    return r;
}

json::object body_of(const sdk::HttpResponse& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << r.body;
    return v.is_object() ? v.get_object() : json::object{};
}

const std::string* header(const sdk::HttpResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) {
            return &v;
        }
    }
    return nullptr;
}

class HealthHttpTest : public ::testing::Test {
protected:
    void start(const json::object& config = {}) {
        auto made = create(ctx_, config);
        ASSERT_TRUE(made) << made.status().message();
        plugin_ = std::move(made).value();
        auto st = plugin_->start();
        ASSERT_TRUE(st) << st.message();
    }
    sdk::HttpResponse call(const std::string& path) {
        auto r = ctx_.routes_impl.call(Listener::health, get(path));
        EXPECT_TRUE(r.has_value()) << "no route for " << path;
        return r.value_or(sdk::HttpResponse{0});
    }
    void add(const std::string& name, bool readiness, const HealthReport& report) {
        ctx_.health_impl.add_check(name, readiness, [report] { return report; });
    }
    void TearDown() override {
        if (plugin_) {
            plugin_->stop();
        }
    }

    FakeContext ctx_{options()};
    std::unique_ptr<sdk::Plugin> plugin_;
};

TEST_F(HealthHttpTest, ReadyzPassesWhenEveryReadinessCheckPasses) {
    start();
    add("identity_sqlite:latency", true, {HealthState::pass, "datastore", 1.5, "ms", ""});
    add("queue:depth", false, {HealthState::fail, "component", 9000, "", "over limit"});
    auto r = call("/readyz");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(body_of(r), (json::object{{"status", "pass"}}));
    ASSERT_NE(header(r, "cache-control"), nullptr);
    EXPECT_EQ(*header(r, "cache-control"), "no-store");
}

TEST_F(HealthHttpTest, ReadyzFailsWithTheFailingChecks) {
    start();
    add("identity_sqlite:latency", true,
        {HealthState::fail, "datastore", {}, "ms", "disk I/O error"});
    add("replay:fill", true, {HealthState::pass, "component", 0.1, "ratio", ""});
    auto r = call("/readyz");
    EXPECT_EQ(r.status, 503);
    auto b = body_of(r);
    EXPECT_EQ(b.at("status"), "fail");
    const auto& checks = b.at("checks").as_object();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks.at("identity_sqlite:latency").at("output"), "disk I/O error");
}

TEST_F(HealthHttpTest, ReadyzDetailsCanBeWithheld) {
    json::object cfg;
    cfg["readyz_details"] = false;
    start(cfg);
    add("secret_component:x", true, {HealthState::fail, "", {}, "", "boom"});
    auto r = call("/readyz");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body.find("secret_component"), std::string::npos);
}

TEST_F(HealthHttpTest, HealthzIsHealthJson) {
    start();
    add("identity_sqlite:latency", true, {HealthState::pass, "datastore", 1.5, "ms", ""});
    add("tls:cert_days", false, {HealthState::warn, "system", 12, "days", "expires soon"});
    auto r = call("/healthz");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/health+json");
    auto b = body_of(r);
    EXPECT_EQ(b.at("status"), "warn");
    EXPECT_EQ(b.at("serviceId"), "host-7");
    EXPECT_TRUE(b.at("version").is_string());
    EXPECT_FALSE(b.at("version").as_string().empty());

    const auto& checks = b.at("checks").as_object();
    ASSERT_EQ(checks.size(), 2u);
    const auto& db = checks.at("identity_sqlite:latency").as_array();
    ASSERT_EQ(db.size(), 1u);
    const auto& entry = db[0].as_object();
    EXPECT_EQ(entry.at("status"), "pass");
    EXPECT_EQ(entry.at("componentType"), "datastore");
    EXPECT_EQ(entry.at("observedValue").as_double(), 1.5);
    EXPECT_EQ(entry.at("observedUnit"), "ms");
    EXPECT_EQ(entry.if_contains("output"), nullptr);  // omitted for pass
    // The fake clock starts at 2026-11-27T08:00:00.000Z.
    EXPECT_EQ(entry.at("time"), "2026-11-27T08:00:00.000Z");
    const auto& cert = checks.at("tls:cert_days").as_array()[0].as_object();
    EXPECT_EQ(cert.at("status"), "warn");
    EXPECT_EQ(cert.at("output"), "expires soon");
}

TEST_F(HealthHttpTest, HealthzFailsWith503WhenNotReady) {
    start();
    add("redis:latency", true, {HealthState::fail, "datastore", {}, "ms", "connection refused"});
    auto r = call("/healthz");
    EXPECT_EQ(r.status, 503);
    auto b = body_of(r);
    EXPECT_EQ(b.at("status"), "fail");
    EXPECT_EQ(b.at("checks").at("redis:latency").as_array()[0].at("status"), "fail");
}

TEST_F(HealthHttpTest, HealthzPassWithNoChecks) {
    start();
    auto r = call("/healthz");
    EXPECT_EQ(r.status, 200);
    auto b = body_of(r);
    EXPECT_EQ(b.at("status"), "pass");
    EXPECT_TRUE(b.at("checks").as_object().empty());
}

TEST_F(HealthHttpTest, MetricsRendersTheRegistry) {
    start();
    ctx_.metrics().counter("telemetry_points_total", "help", {{"outcome", "accepted"}}).inc(5);
    auto r = call("/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
    EXPECT_NE(r.body.find("telemetry_points_total{outcome=\"accepted\"} 5"), std::string::npos)
        << r.body;
}

TEST_F(HealthHttpTest, RoutesOnTheHealthListenerOnly) {
    start();
    EXPECT_NE(ctx_.services_impl.find_raw(sdk::capability::health), nullptr);
    EXPECT_EQ(ctx_.routes_impl.size(), 3u);
    EXPECT_FALSE(ctx_.routes_impl.call(Listener::admin, get("/healthz")).has_value());
    EXPECT_FALSE(ctx_.routes_impl.call(Listener::health, get("/livez")).has_value());
}

TEST_F(HealthHttpTest, MetricsCanBeTurnedOff) {
    json::object cfg;
    cfg["expose_metrics"] = false;
    start(cfg);
    EXPECT_EQ(ctx_.routes_impl.size(), 2u);
    EXPECT_FALSE(ctx_.routes_impl.call(Listener::health, get("/metrics")).has_value());
}

TEST_F(HealthHttpTest, AfterStopHandlersAnswer503) {
    start();
    plugin_->stop();
    EXPECT_EQ(call("/readyz").status, 503);
    EXPECT_EQ(call("/healthz").status, 503);
}

TEST(HealthRender, ReadyzWhileDrainingSaysSo) {
    auto r = render_readyz(false, {}, true);
    EXPECT_EQ(r.status, 503);
    EXPECT_NE(r.body.find("draining"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::health_http
