// PluginContextImpl: identity, state_dir creation, and owner-tagged registrations.
#include <filesystem>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "kernel/plugin/plugin_context.hpp"
#include "kernel/runtime/health_table.hpp"

namespace agenthost::plugin {
namespace {
namespace fs = std::filesystem;

class ContextTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ah-ctx-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
        runtime::RuntimeOptions o;
        o.loop_threads = 1;
        o.blocking_threads = 1;
        o.log_level = "error";
        o.host_id = "host-7";
        o.role = "gateway";
        rt_ = std::make_unique<runtime::Runtime>(o);
    }
    void TearDown() override {
        rt_.reset();
        fs::remove_all(tmp_);
    }
    std::string tmp_;
    std::unique_ptr<runtime::Runtime> rt_;
};

mode_t mode_of(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
}

TEST_F(ContextTest, StateDirIsCreatedPrivateAndTightened) {
    auto dir = make_state_dir(tmp_ + "/state", "queue_memory");
    ASSERT_TRUE(dir.ok()) << dir.status().message();
    EXPECT_EQ(dir.value(), tmp_ + "/state/queue_memory");
    EXPECT_EQ(mode_of(dir.value()), 0700u);

    ASSERT_EQ(::chmod(dir.value().c_str(), 0755), 0);
    ASSERT_TRUE(make_state_dir(tmp_ + "/state", "queue_memory").ok());
    EXPECT_EQ(mode_of(dir.value()), 0700u) << "an existing directory is tightened";

    EXPECT_FALSE(make_state_dir("", "x").ok());
    fs::create_directories(tmp_ + "/state");
    std::FILE* f = std::fopen((tmp_ + "/state/file_not_dir").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
    EXPECT_FALSE(make_state_dir(tmp_ + "/state", "file_not_dir").ok());
}

TEST_F(ContextTest, IdentityComesFromTheRuntime) {
    PluginContextImpl ctx(*rt_, "collect_sys", tmp_);
    EXPECT_EQ(ctx.plugin_name(), "collect_sys");
    EXPECT_EQ(ctx.role(), "gateway");
    EXPECT_EQ(ctx.host_id(), "host-7");
    EXPECT_EQ(ctx.state_dir(), tmp_);
    EXPECT_EQ(&ctx.audit(), &rt_->audit());
    EXPECT_EQ(&ctx.scheduler(), &rt_->scheduler());
    EXPECT_EQ(ctx.blocking().threads(), 1u);
}

TEST_F(ContextTest, RegistrationsAreTaggedAndWithdrawn) {
    PluginContextImpl a(*rt_, "a", tmp_);
    PluginContextImpl b(*rt_, "b", tmp_);
    int service = 0;
    ASSERT_TRUE(a.services().provide_raw("queue", &service).ok());
    EXPECT_EQ(b.services().provide_raw("queue", &b).code(), sdk::Errc::conflict);
    ASSERT_TRUE(a.routes()
                    .add(sdk::Listener::health, "GET", "/a",
                         [](const sdk::HttpRequest&, sdk::HttpResponder) {})
                    .ok());
    a.health().add_check("a:ok", true, [] { return sdk::HealthReport{}; });
    b.health().add_check("b:ok", true, [] { return sdk::HealthReport{}; });
    a.metrics().callback_gauge("a_gauge", "from a", {}, [] { return 1.0; });

    EXPECT_TRUE(a.provided("queue"));
    EXPECT_TRUE(a.provided("http_routes"));
    EXPECT_FALSE(b.provided("queue"));
    EXPECT_FALSE(b.provided("http_routes"));

    a.drop_callbacks();
    EXPECT_EQ(rt_->metrics().render_prometheus().find("a_gauge"), std::string::npos);
    a.withdraw_all();
    EXPECT_EQ(rt_->services().find_raw("queue"), nullptr);
    EXPECT_FALSE(rt_->routes().match(sdk::Listener::health, "GET", "/a"));
    auto checks = rt_->health().evaluate();
    ASSERT_EQ(checks.size(), 1u);
    EXPECT_EQ(checks[0].first, "b:ok");
}

}  // namespace
}  // namespace agenthost::plugin
