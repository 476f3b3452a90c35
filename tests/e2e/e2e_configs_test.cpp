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

// The production layout (/etc/agenthost, /var/lib/agenthost, plugins next to the
// binary) mapped onto the workspace, with the secret files production.yaml names.
std::string render_production(Workspace& ws, const std::string& src) {
    std::string out = render(ws, src);
    std::string plugins = env_or("AGENTHOST_PLUGIN_DIR", "build/plugins");
    std::string dev = ws.dir() + "/dev";
    run("mkdir -p " + dev + "/secrets && chmod 700 " + dev + "/secrets");
    write_file(dev + "/secrets/postgres.url",
               "postgresql://agenthost:pw@127.0.0.1:5432/agenthost\n");
    write_file(dev + "/secrets/redis.url", "redis://127.0.0.1:6379/0\n");
    // production.yaml runs the audit chain fail-closed with a key.
    EXPECT_EQ(run("openssl rand -base64 32 > " + dev + "/keys/audit.key && chmod 600 " + dev +
                  "/keys/audit.key"),
              0);
    // pki, keys and secrets under /etc/agenthost map onto the dev folder (dev/pki links
    // to the workspace PKI), state onto its backend state directory.
    std::string cmd = "sed -i -e 's#\\${exe_dir}/\\.\\./lib/agenthost/plugins#" + plugins +
                      "#g' -e 's#/etc/agenthost#" + dev + "#g' -e 's#/var/lib/agenthost#" + dev +
                      "/state/backend#g' " + out;
    EXPECT_EQ(run(cmd), 0);
    return out;
}

TEST(ShippedConfigs, StagingAndProductionPassCheckConfig) {
    Workspace ws({"gw-dev-01"});
    std::string out;
    std::string staging = render(ws, "configs/staging.yaml");
    EXPECT_EQ(run(bin() + " check-config -c " + staging + " 2>&1", &out), 0) << out;
    std::string production = render_production(ws, "configs/production.yaml");
    EXPECT_EQ(run(bin() + " check-config -c " + production + " 2>&1", &out), 0) << out;
    EXPECT_EQ(out.find("pw@"), std::string::npos) << out;
    // The storage slots are the production plugins, not the embedded ones.
    std::string text = read_file(production);
    for (const char* p : {"identity_postgres:", "telemetry_postgres:", "queue_redis:",
                          "replay_redis:"}) {
        EXPECT_NE(text.find(p), std::string::npos) << p;
    }
    EXPECT_EQ(text.find("_sqlite:"), std::string::npos);
}

// The production gateway profile and the docker-compose configs (container paths
// under /etc/agenthost/secrets) pass check-config once mapped onto a real PKI.
TEST(ShippedConfigs, GatewayProductionAndComposeConfigsPassCheckConfig) {
    Workspace ws({"gw-dev-01", "gateway1"});
    std::string out;
    std::string gw = render_production(ws, "configs/gateway-production.yaml");
    EXPECT_EQ(run(bin() + " check-config -c " + gw + " 2>&1", &out), 0) << out;

    std::string dev = ws.dir() + "/dev";
    write_file(dev + "/postgres.url", "postgresql://agenthost:pw@127.0.0.1:5432/agenthost\n");
    run("cp " + ws.agent_key("gateway1") + " " + dev + "/keys/gateway1.k1.key");
    std::string root = env_or("AGENTHOST_SOURCE_DIR", ".");
    std::string plugins = env_or("AGENTHOST_PLUGIN_DIR", "build/plugins");
    for (std::string src : {"backend.yaml", "gateway.yaml"}) {
        std::string cfg = ws.dir() + "/compose-" + src;
        std::string cmd = "sed -e 's#/etc/agenthost/secrets#" + dev +
                          "#g' -e 's#\\${exe_dir}/\\.\\./lib/agenthost/plugins#" + plugins +
                          "#g' -e 's#/var/lib/agenthost#" + dev +
                          "/state/backend#g' -e 's#token_sha256: [0-9a-f]*#token_sha256: " +
                          ws.token_sha256() + "#' -e 's#sha256/A*=#" + ws.backend_pin() + "#' " +
                          root + "/deploy/compose/" + src + " > " + cfg;
        ASSERT_EQ(run(cmd), 0);
        EXPECT_EQ(run(bin() + " check-config -c " + cfg + " 2>&1", &out), 0)
            << src << ":\n" << out;
        EXPECT_EQ(out.find("pw@"), std::string::npos) << out;
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
