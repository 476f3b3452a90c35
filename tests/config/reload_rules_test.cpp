// Unit tests of restart_required_changes() (kernel/config/reload_rules.hpp): which
// settings a SIGHUP may apply and which are refused with a named reason.
#include <gtest/gtest.h>

#include <string>

#include "kernel/config/reload_rules.hpp"

namespace agenthost::config {
namespace {

KernelConfig backend() {
    KernelConfig c;
    c.role = "backend";
    c.host_id = "b1";
    c.state_dir = "/var/lib/agenthost";
    c.tls = {"/pki/backend.crt", "/pki/backend.key", "/pki/ca.crt", "1.3", "", ""};
    c.master_key_files = {{"k1", "/keys/k1"}};
    c.operators = {{"alice", std::string(64, 'a')}};
    PluginEntry p;
    p.name = "queue_memory";
    p.config = YAML::Load("{ max_depth: 10 }");
    c.plugins.push_back(p);
    return c;
}

KernelConfig gateway() {
    KernelConfig c;
    c.role = "gateway";
    c.host_id = "gw";
    c.gateway.agent_id = "gw-01";
    c.gateway.url = "wss://127.0.0.1:8444/agent/v1";
    c.gateway.pins = {"sha256/old"};
    c.gateway.key_file = "/keys/gw.key";
    return c;
}

bool mentions(const std::vector<std::string>& changes, const std::string& what) {
    for (const auto& c : changes) {
        if (c.rfind(what + ":", 0) == 0 && c.find("requires a restart") != std::string::npos) {
            return true;
        }
    }
    return false;
}

TEST(ReloadRules, IdenticalConfigsNeedNoRestart) {
    EXPECT_TRUE(restart_required_changes(backend(), backend()).empty());
    EXPECT_TRUE(restart_required_changes(gateway(), gateway()).empty());
}

TEST(ReloadRules, BackendLiveSettingsAreAccepted) {
    auto next = backend();
    next.tls.cert = "/pki/backend-next.crt";
    next.tls.key = "/pki/backend-next.key";
    next.master_key_files["k2"] = "/keys/k2";
    next.operators.push_back({"bob", std::string(64, 'b')});
    next.protocol.max_frame_bytes = 4096;
    next.limits.max_connections = 3;
    next.limits.write_queue = 8;
    EXPECT_TRUE(restart_required_changes(backend(), next).empty());
}

TEST(ReloadRules, BackendListenersAndPluginsNeedRestart) {
    auto next = backend();
    next.listen_agents.port = 9444;
    next.listen_health.address = "0.0.0.0";
    next.identity_binding = "uri_san";
    next.loop_threads = 4;
    const auto changes = restart_required_changes(backend(), next);
    EXPECT_TRUE(mentions(changes, "listen.agents"));
    EXPECT_TRUE(mentions(changes, "listen.health"));
    EXPECT_TRUE(mentions(changes, "identity.binding"));
    EXPECT_TRUE(mentions(changes, "threads.loop"));
    EXPECT_FALSE(mentions(changes, "listen.admin"));
    EXPECT_EQ(changes.size(), 4u);
}

TEST(ReloadRules, PluginSetAndSectionsNeedRestart) {
    auto changed = backend();
    changed.plugins[0].config = YAML::Load("{ max_depth: 11 }");
    EXPECT_TRUE(
        mentions(restart_required_changes(backend(), changed), "plugins.queue_memory.config"));

    auto same_text = backend();
    same_text.plugins[0].config = YAML::Load("{max_depth: 10}");
    EXPECT_TRUE(restart_required_changes(backend(), same_text).empty());

    auto added = backend();
    PluginEntry extra;
    extra.name = "replay_memory";
    added.plugins.push_back(extra);
    EXPECT_TRUE(
        mentions(restart_required_changes(backend(), added), "plugins.replay_memory (added)"));
    EXPECT_TRUE(
        mentions(restart_required_changes(added, backend()), "plugins.replay_memory (removed)"));

    auto disabled = backend();
    disabled.plugins[0].enabled = false;
    EXPECT_TRUE(
        mentions(restart_required_changes(backend(), disabled), "plugins.queue_memory.enabled"));
}

TEST(ReloadRules, RoleChangeIsTheOnlyMessage) {
    const auto changes = restart_required_changes(backend(), gateway());
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0], "role: 'backend' -> 'gateway' (requires a restart)");
}

TEST(ReloadRules, GatewayPinsAndCertificatesAreLive) {
    auto next = gateway();
    next.gateway.pins = {"sha256/old", "sha256/new"};
    next.gateway.ca = "/pki/ca2.crt";
    next.gateway.cert = "/pki/gw-next.crt";
    EXPECT_TRUE(restart_required_changes(gateway(), next).empty());
}

TEST(ReloadRules, GatewayIdentityAndProtocolNeedRestart) {
    auto next = gateway();
    next.gateway.url = "wss://10.0.0.1:8444/agent/v1";
    next.gateway.key_file = "/keys/other.key";
    next.protocol.heartbeat_s = 5;
    next.limits.write_queue = 1;
    const auto changes = restart_required_changes(gateway(), next);
    EXPECT_TRUE(mentions(changes, "gateway.url"));
    EXPECT_TRUE(mentions(changes, "gateway.key_file"));
    EXPECT_TRUE(mentions(changes, "protocol.heartbeat_s"));
    EXPECT_TRUE(mentions(changes, "limits.write_queue"));
    EXPECT_EQ(changes.size(), 4u);
}

}  // namespace
}  // namespace agenthost::config
