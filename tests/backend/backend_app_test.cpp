// run_backend() refuses to start, before any port opens, with exit code 2 when the
// configuration cannot be used (key material, plugin sections). The full start,
// drain and exit 0 path is covered by the e2e suites against the real binary.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kernel/backend/backend_app.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::backend {
namespace {

namespace fs = std::filesystem;

class BackendAppTest : public ::testing::Test {
protected:
    BackendAppTest() {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp ? tmp : "/tmp") + "/ah-backend-app-XXXXXX";
        dir_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
        cfg_.role = "backend";
        cfg_.host_id = "test-host";
        cfg_.state_dir = dir_ + "/state";
        cfg_.loop_threads = 1;
        cfg_.blocking_threads = 1;
        cfg_.log_level = "off";
        cfg_.listen_agents = {"127.0.0.1", 0};
        cfg_.listen_admin = {"127.0.0.1", 0};
        cfg_.listen_health = {"127.0.0.1", 0};
    }
    ~BackendAppTest() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string write_key(const std::string& name, std::size_t bytes) {
        const std::string path = dir_ + "/" + name;
        std::ofstream(path) << util::base64_encode(std::string(bytes, '\x5a')) << "\n";
        fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
        return path;
    }

    std::string dir_;
    config::KernelConfig cfg_;
};

TEST_F(BackendAppTest, MissingKeyFileExits2) {
    ASSERT_FALSE(dir_.empty());
    cfg_.master_key_files = {{"k1", dir_ + "/absent.key"}};
    EXPECT_EQ(run_backend(cfg_), 2);
    EXPECT_FALSE(fs::exists(cfg_.state_dir + "/ports.json"));
}

TEST_F(BackendAppTest, ShortKeyExits2) {
    cfg_.master_key_files = {{"k1", write_key("short.key", 16)}};
    EXPECT_EQ(run_backend(cfg_), 2);
}

TEST_F(BackendAppTest, UnloadablePluginExits2BeforeListening) {
    cfg_.master_key_files = {{"k1", write_key("k1.key", 32)}};
    config::PluginEntry p;
    p.name = "no_such_plugin";
    p.yaml_path = "plugins.no_such_plugin.config";
    cfg_.plugin_paths = {dir_};
    cfg_.plugins.push_back(p);
    EXPECT_EQ(run_backend(cfg_), 2);
    EXPECT_FALSE(fs::exists(cfg_.state_dir + "/ports.json"));
}

}  // namespace
}  // namespace agenthost::backend
