// The SDK works out of tree: install the SDK component of this build into a temporary
// prefix, build sdk/examples/hello_plugin against it with the same compiler, and load
// the result with the real loader (ABI tag, descriptor, schema, start, route).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "kernel/plugin/loader.hpp"
#include "kernel/runtime/runtime.hpp"

namespace {
namespace fs = std::filesystem;
using namespace agenthost;

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
}

std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return out + "'";
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class SdkExample : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ah-sdk-example-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        tmp_ = tmpl;
    }
    void TearDown() override { fs::remove_all(tmp_); }

    // Runs a shell command with its output in a log; prints the log on failure.
    bool run(const std::string& what, const std::string& cmd) {
        fs::path log = fs::path(tmp_) / (what + ".log");
        int rc = std::system((cmd + " > " + quoted(log.string()) + " 2>&1").c_str());
        if (rc != 0) {
            ADD_FAILURE() << what << " failed (" << rc << "): " << cmd << "\n" << slurp(log);
            return false;
        }
        return true;
    }

    std::string tmp_;
};

TEST_F(SdkExample, BuildsOutOfTreeAgainstTheInstalledSdkAndLoads) {
    const std::string cmake = env("AGENTHOST_CMAKE").empty() ? "cmake" : env("AGENTHOST_CMAKE");
    const std::string build_dir = env("AGENTHOST_BINARY_DIR");
    const std::string source_dir = env("AGENTHOST_SOURCE_DIR");
    ASSERT_FALSE(build_dir.empty());
    ASSERT_FALSE(source_dir.empty());
    const std::string prefix = tmp_ + "/prefix";
    const std::string example_build = tmp_ + "/hello-build";

    ASSERT_TRUE(run("install", quoted(cmake) + " --install " + quoted(build_dir) +
                                   " --component sdk --prefix " + quoted(prefix)));
    ASSERT_TRUE(fs::exists(prefix + "/include/agenthost/sdk_hash.hpp"));

    std::string configure = quoted(cmake) + " -S " +
                            quoted(source_dir + "/sdk/examples/hello_plugin") + " -B " +
                            quoted(example_build) + " -DCMAKE_BUILD_TYPE=RelWithDebInfo" +
                            " -DCMAKE_PREFIX_PATH=" + quoted(prefix);
    if (!env("AGENTHOST_GENERATOR").empty()) {
        configure += " -G " + quoted(env("AGENTHOST_GENERATOR"));
    }
    if (!env("AGENTHOST_MAKE_PROGRAM").empty()) {
        configure += " -DCMAKE_MAKE_PROGRAM=" + quoted(env("AGENTHOST_MAKE_PROGRAM"));
    }
    if (!env("AGENTHOST_CXX").empty()) {
        configure += " -DCMAKE_CXX_COMPILER=" + quoted(env("AGENTHOST_CXX"));
    }
    ASSERT_TRUE(run("configure", configure));
    ASSERT_TRUE(run("build", quoted(cmake) + " --build " + quoted(example_build)));
    const std::string library = example_build + "/agenthost_hello.so";
    ASSERT_TRUE(fs::exists(library));

    runtime::RuntimeOptions options;
    options.loop_threads = 1;
    options.blocking_threads = 1;
    options.log_level = "warn";
    runtime::Runtime rt(options);
    rt.start_background();

    config::KernelConfig config;
    config.role = "backend";
    config.state_dir = tmp_ + "/state";
    config::PluginEntry entry;
    entry.name = "hello";
    entry.path = library;
    entry.config = YAML::Load("{greeting: hi there}");
    entry.yaml_path = "plugins.hello.config";
    config.plugins.push_back(entry);

    plugin::PluginLoader loader(rt, config);
    sdk::ConfigErrors errors;
    auto prepared = loader.prepare(errors);
    ASSERT_TRUE(prepared.ok()) << prepared.message();
    auto started = loader.start();
    ASSERT_TRUE(started.ok()) << started.message();
    auto info = loader.describe();
    ASSERT_EQ(info.size(), 1u);
    EXPECT_EQ(info[0].version, "1.0.0");
    EXPECT_EQ(info[0].provides, std::vector<std::string>{"http_routes"});

    auto route = rt.routes().match(sdk::Listener::health, "GET", "/hello");
    ASSERT_TRUE(route);
    sdk::HttpRequest req;
    req.method = "GET";
    req.path = req.target = "/hello";
    sdk::HttpResponse got;
    route->handler(req, [&](sdk::HttpResponse r) { got = std::move(r); });
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(got.body, "{\"message\":\"hi there\"}");
    EXPECT_NE(rt.metrics().render_prometheus().find("hello_requests_total 1\n"), std::string::npos);

    loader.stop_all();
    EXPECT_FALSE(rt.routes().match(sdk::Listener::health, "GET", "/hello"));
    rt.stop();
}

}  // namespace
