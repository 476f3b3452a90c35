// The embedded backend storage set as the kernel runs it: identity_sqlite,
// telemetry_sqlite and health_http loaded from their real .so files by the real
// PluginLoader on a real Runtime (threads, blocking pool, route table), then used
// through the service registry and the health listener's routes.

#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>
#include <boost/json/parse.hpp>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/telemetry.hpp>

#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/runtime.hpp"

namespace agenthost {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class LoadedPluginsTest : public ::testing::Test {
protected:
    void SetUp() override {
        const char* dir = std::getenv("AGENTHOST_PLUGIN_DIR");
        ASSERT_NE(dir, nullptr) << "AGENTHOST_PLUGIN_DIR is not set (run through ctest)";
        char tmpl[] = "/tmp/ah-f-loaded-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
        runtime::RuntimeOptions o;
        o.loop_threads = 1;
        o.blocking_threads = 2;
        o.log_level = "warn";
        o.host_id = "host-f";
        rt_ = std::make_unique<runtime::Runtime>(o);
        rt_->start_background();
        config_.role = "backend";
        config_.host_id = "host-f";
        config_.state_dir = tmp_ + "/state";
        config_.source_path = tmp_ + "/agenthost.yaml";
        config_.config_dir = tmp_;
        config_.plugin_paths = {dir};
        for (const char* name : {"identity_sqlite", "telemetry_sqlite", "health_http"}) {
            config::PluginEntry e;
            e.name = name;
            e.enabled = true;
            e.config = YAML::Load("{}");
            e.yaml_path = std::string("plugins.") + name + ".config";
            config_.plugins.push_back(e);
        }
    }
    void TearDown() override {
        rt_->stop();
        rt_.reset();
        fs::remove_all(tmp_);
    }

    sdk::HttpResponse get(const std::string& path) {
        auto match = rt_->routes().match(sdk::Listener::health, "GET", path);
        EXPECT_TRUE(match.has_value()) << path;
        if (!match) {
            return sdk::HttpResponse{0};
        }
        sdk::HttpRequest req;
        req.method = "GET";
        req.path = path;
        req.target = path;
        std::promise<sdk::HttpResponse> p;
        auto f = p.get_future();
        match->handler(req, [&p](sdk::HttpResponse r) { p.set_value(std::move(r)); });
        EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
        return f.get();
    }

    std::string tmp_;
    std::unique_ptr<runtime::Runtime> rt_;
    config::KernelConfig config_;
};

TEST_F(LoadedPluginsTest, StartServeAndStop) {
    plugin::PluginLoader loader(*rt_, config_);
    sdk::ConfigErrors errors;
    auto st = loader.prepare(errors);
    ASSERT_TRUE(st.ok()) << st.message();
    st = loader.start();
    ASSERT_TRUE(st.ok()) << st.message();

    auto* identity = rt_->services().find<sdk::IdentityStore>();
    auto* telemetry = rt_->services().find<sdk::TelemetryStore>();
    ASSERT_NE(identity, nullptr);
    ASSERT_NE(telemetry, nullptr);

    // Completions arrive on pool threads; wait on them with a deadline.
    sdk::AgentHello hello;
    hello.agent_id = "gw-01";
    hello.session_id = "s-1";
    hello.host_id = "host-f";
    hello.cert_fingerprint = "ab";
    std::promise<sdk::Result<sdk::OpenSessionResult>> opened;
    identity->open_session(hello, 30s, [&](auto r) { opened.set_value(std::move(r)); });
    auto of = opened.get_future();
    ASSERT_EQ(of.wait_for(10s), std::future_status::ready);
    auto open = of.get();
    ASSERT_TRUE(open.ok()) << open.status().message();
    EXPECT_EQ(open->outcome, sdk::OpenOutcome::opened);

    std::promise<sdk::Result<sdk::IngestOutcome>> stored;
    telemetry->store_batch({"gw-01", "b1", {{"cpu", 1, 0.5, {}}, {"cpu", 1, 0.5, {}}}},
                           [&](auto r) { stored.set_value(std::move(r)); });
    auto sf = stored.get_future();
    ASSERT_EQ(sf.wait_for(10s), std::future_status::ready);
    auto ingest = sf.get();
    ASSERT_TRUE(ingest.ok()) << ingest.status().message();
    EXPECT_EQ(ingest->accepted, 1u);
    EXPECT_EQ(ingest->duplicates, 1u);

    // Files in the per-plugin state dirs, private.
    for (const char* name : {"identity_sqlite", "telemetry_sqlite"}) {
        const std::string path = config_.state_dir + "/" + name + "/" + name + ".db";
        struct stat s {};
        ASSERT_EQ(::stat(path.c_str(), &s), 0) << path;
        EXPECT_EQ(s.st_mode & 0777, 0600u) << path;
    }

    auto ready = get("/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    auto health = get("/healthz");
    EXPECT_EQ(health.content_type, "application/health+json");
    auto body = boost::json::parse(health.body).as_object();
    EXPECT_EQ(body.at("serviceId"), "host-f");
    const auto& checks = body.at("checks").as_object();
    EXPECT_TRUE(checks.contains("identity_sqlite:latency")) << health.body;
    EXPECT_TRUE(checks.contains("telemetry_sqlite:latency")) << health.body;
    auto metrics = get("/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("telemetry_points_total"), std::string::npos) << metrics.body;
    EXPECT_NE(metrics.body.find("identity_sessions_total"), std::string::npos);

    loader.stop_all();
    EXPECT_EQ(rt_->services().find<sdk::IdentityStore>(), nullptr);
}

}  // namespace
}  // namespace agenthost
