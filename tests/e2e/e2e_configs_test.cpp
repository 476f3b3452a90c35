// The shipped configs are valid: rendered the way `make demo` renders them (real PKI,
// real pin and token hash), `agenthost check-config` accepts every one of them, and a
// single wrong value makes it exit 2 naming the YAML path.

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

std::string render(Workspace& ws, const std::string& src) {
    std::string root = env_or("AGENTHOST_SOURCE_DIR", ".");
    std::string plugins = env_or("AGENTHOST_PLUGIN_DIR", "build/plugins");
    // The dev configs point at ../.dev/...; map that folder onto the workspace.
    std::string dev = ws.dir() + "/dev";
    run("mkdir -p " + dev + "/keys " + dev + "/state/backend " + dev + "/state/gateway && ln -sfn " +
        ws.dir() + "/pki " + dev + "/pki && cp " + ws.master_key() + " " + dev +
        "/keys/k1.key && cp " + ws.agent_key("gw-dev-01") + " " + dev +
        "/keys/gw-dev-01.k1.key && chmod 700 " + dev + "/state " + dev + "/state/*");
    std::string out = ws.dir() + "/" + std::filesystem::path(src).filename().string();
    std::string cmd = "sed -e 's#\\.\\./\\.dev#" + dev + "#g' -e 's#\\.\\./build/plugins#" +
                      plugins + "#g' -e 's#token_sha256: [0-9a-f]*#token_sha256: " +
                      ws.token_sha256() + "#' -e 's#sha256/A*=#" + ws.backend_pin() + "#' " +
                      root + "/" + src + " > " + out;
    EXPECT_EQ(run(cmd), 0);
    return out;
}

std::string bin() { return env_or("AGENTHOST_BIN", "build/bin/agenthost"); }

TEST(ShippedConfigs, DevConfigsPassCheckConfig) {
    Workspace ws({"gw-dev-01"});
    for (std::string src : {"configs/dev.yaml", "configs/gateway-dev.yaml"}) {
        std::string cfg = render(ws, src);
        std::string out;
        int rc = run(bin() + " check-config -c " + cfg + " 2>&1", &out);
        EXPECT_EQ(rc, 0) << src << ":\n" << out;
    }
}

TEST(ShippedConfigs, OneBadValueFailsNamingItsPath) {
    Workspace ws({"gw-dev-01"});
    std::string cfg = render(ws, "configs/dev.yaml");
    run("sed -i 's#max_skew_s: 30#max_skew_s: thirty#' " + cfg);
    std::string out;
    int rc = run(bin() + " check-config -c " + cfg + " 2>&1", &out);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("protocol.max_skew_s"), std::string::npos) << out;
}

}  // namespace
}  // namespace agenthost::e2e
