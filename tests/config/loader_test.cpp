// Unit tests of the kernel config loader (kernel/config/loader.hpp): role-dependent
// requirements, cross-field rules, plugin entries, relative paths, file errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>

#include "kernel/config/loader.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::config {
namespace {

using sdk::ConfigErrors;

std::string dump(const ConfigErrors& errors) {
    std::string out;
    for (const auto& e : errors) {
        out += e.path + ": " + e.message + "\n";
    }
    return out;
}

const sdk::ConfigError* find_error(const ConfigErrors& errors, const std::string& path) {
    for (const auto& e : errors) {
        if (e.path == path) {
            return &e;
        }
    }
    return nullptr;
}

const char* const token_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

class LoaderTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ah-loader-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        write("server.pem", "cert", 0644);
        write("ca.pem", "ca", 0644);
        write("server.key", "key", 0600);
        write("master.key", util::base64_encode(std::string(32, 'k')) + "\n", 0600);
        write("agent.key", util::base64_encode(std::string(32, 'a')) + "\n", 0600);
        std::filesystem::create_directory(dir_ + "/state");
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    void write(const std::string& name, const std::string& content, mode_t mode) {
        const std::string p = dir_ + "/" + name;
        std::ofstream(p) << content;
        ::chmod(p.c_str(), mode);
    }

    static std::string backend_yaml(const std::string& extra = "") {
        return "role: backend\n"
               "host_id: b1\n"
               "state_dir: state\n"
               "listen:\n"
               "  agents: {address: 127.0.0.1, port: 0}\n"
               "tls: {cert: server.pem, key: server.key, client_ca: ca.pem}\n"
               "keys:\n"
               "  - {kid: k1, file: master.key}\n"
               "operators:\n"
               "  - {name: alice, token_sha256: " +
               std::string(token_hash) + "}\n" + extra;
    }

    static std::string gateway_yaml(const std::string& extra = "") {
        return "role: gateway\n"
               "state_dir: state\n"
               "gateway:\n"
               "  agent_id: gw-01\n"
               "  url: wss://127.0.0.1:8444/agent/v1\n"
               "  ca: ca.pem\n"
               "  cert: server.pem\n"
               "  key: server.key\n"
               "  pins: [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]\n"
               "  kid: k1\n"
               "  key_file: agent.key\n" +
               extra;
    }

    sdk::Result<KernelConfig> load(const std::string& yaml) {
        errors_.clear();
        write("agenthost.yaml", yaml, 0644);
        return load_kernel_config(dir_ + "/agenthost.yaml", errors_);
    }

    std::string dir_;
    ConfigErrors errors_;
};

TEST_F(LoaderTest, ValidBackendConfig) {
    auto cfg =
        load(backend_yaml("plugins:\n  queue_memory: {config: {max_depth: 5}}\n"
                          "  audit_file:\n  health_http: {enabled: false}\n"));
    ASSERT_TRUE(cfg.ok()) << dump(errors_);
    EXPECT_EQ(cfg->role, "backend");
    EXPECT_EQ(cfg->host_id, "b1");
    EXPECT_EQ(cfg->state_dir, dir_ + "/state");
    EXPECT_EQ(cfg->config_dir, dir_);
    EXPECT_EQ(cfg->listen_agents.address, "127.0.0.1");
    EXPECT_EQ(cfg->listen_agents.port, 0);
    EXPECT_EQ(cfg->listen_admin.port, 8443);
    EXPECT_EQ(cfg->tls.key, dir_ + "/server.key");
    EXPECT_EQ(cfg->tls.min_version, "1.3");
    EXPECT_EQ(cfg->master_key_files.at("k1"), dir_ + "/master.key");
    ASSERT_EQ(cfg->operators.size(), 1u);
    EXPECT_EQ(cfg->operators[0].token_sha256, token_hash);
    EXPECT_EQ(cfg->protocol.replay_window_s, 60);
    EXPECT_EQ(cfg->protocol.max_frame_bytes, 1u << 20);
    ASSERT_EQ(cfg->plugins.size(), 3u);
    EXPECT_EQ(cfg->plugins[0].name, "queue_memory");
    EXPECT_TRUE(cfg->plugins[0].enabled);
    EXPECT_EQ(cfg->plugins[0].yaml_path, "plugins.queue_memory.config");
    EXPECT_EQ(cfg->plugins[0].config["max_depth"].as<int>(), 5);
    EXPECT_TRUE(cfg->plugins[1].config.IsMap());
    EXPECT_EQ(cfg->plugins[1].config.size(), 0u);
    EXPECT_FALSE(cfg->plugins[2].enabled);
}

TEST_F(LoaderTest, ValidGatewayConfig) {
    auto cfg = load(gateway_yaml("  reconnect: {initial_ms: 100}\n"));
    ASSERT_TRUE(cfg.ok()) << dump(errors_);
    EXPECT_EQ(cfg->gateway.agent_id, "gw-01");
    EXPECT_EQ(cfg->gateway.key_file, dir_ + "/agent.key");
    EXPECT_EQ(cfg->gateway.pins.size(), 1u);
    EXPECT_EQ(cfg->gateway.reconnect_initial_ms, 100);
    EXPECT_EQ(cfg->gateway.reconnect_max_ms, 30000);
    EXPECT_FALSE(cfg->host_id.empty());
}

TEST_F(LoaderTest, MissingFileAndParseErrorCarryLocation) {
    ConfigErrors errors;
    EXPECT_FALSE(load_kernel_config(dir_ + "/nope.yaml", errors).ok());
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].path, dir_ + "/nope.yaml");

    auto cfg = load("role: backend\nlisten: {agents: [1,\n");
    EXPECT_FALSE(cfg.ok());
    ASSERT_EQ(errors_.size(), 1u);
    EXPECT_NE(errors_[0].path.find("agenthost.yaml:"), std::string::npos) << errors_[0].path;
    EXPECT_NE(errors_[0].message.find("YAML parse error"), std::string::npos);
}

TEST_F(LoaderTest, BackendRequiresItsSections) {
    auto cfg = load("role: backend\nstate_dir: state\n");
    EXPECT_FALSE(cfg.ok());
    for (const char* p : {"listen", "tls", "keys", "operators"}) {
        EXPECT_NE(find_error(errors_, p), nullptr) << p << "\n" << dump(errors_);
    }
}

TEST_F(LoaderTest, GatewayRequiresItsSectionAndRefusesBackendOnes) {
    auto cfg = load("role: gateway\nstate_dir: state\ntls: {cert: x}\n");
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "gateway"), nullptr) << dump(errors_);
    ASSERT_NE(find_error(errors_, "tls"), nullptr) << dump(errors_);
    EXPECT_EQ(find_error(errors_, "tls")->message, "only valid with role backend");
    EXPECT_EQ(find_error(errors_, "tls.key"), nullptr) << "misplaced section not validated";

    cfg = load(backend_yaml("gateway: {agent_id: x}\n"));
    ASSERT_NE(find_error(errors_, "gateway"), nullptr) << dump(errors_);
    EXPECT_EQ(errors_.size(), 1u) << dump(errors_);
}

TEST_F(LoaderTest, InvalidRoleStillChecksTheRest) {
    auto cfg = load("role: frontend\nstate_dir: state\nprotocol: {max_skew_s: 0}\n");
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "role"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "protocol.max_skew_s"), nullptr) << dump(errors_);
}

TEST_F(LoaderTest, TokenInClearRefusedWithoutEcho) {
    auto yaml = backend_yaml();
    yaml.replace(yaml.find(token_hash), 64, "my-clear-bearer-token");
    auto cfg = load(yaml);
    EXPECT_FALSE(cfg.ok());
    ASSERT_EQ(errors_.size(), 1u) << dump(errors_);
    EXPECT_EQ(errors_[0].path, "operators[0].token_sha256");
    EXPECT_NE(errors_[0].message.find("in clear"), std::string::npos);
    EXPECT_EQ(errors_[0].message.find("my-clear"), std::string::npos);

    yaml = backend_yaml();
    std::string upper = token_hash;
    for (auto& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    yaml.replace(yaml.find(token_hash), 64, upper);
    EXPECT_FALSE(load(yaml).ok());
    EXPECT_NE(find_error(errors_, "operators[0].token_sha256"), nullptr) << dump(errors_);
}

TEST_F(LoaderTest, KeyFilesMustBePrivateAndLongEnough) {
    write("short.key", util::base64_encode(std::string(16, 's')) + "\n", 0600);
    write("open.key", util::base64_encode(std::string(32, 'o')) + "\n", 0644);
    auto yaml = backend_yaml();
    yaml.replace(yaml.find("  - {kid: k1, file: master.key}\n"), 32,
                 "  - {kid: k1, file: short.key}\n  - {kid: k2, file: open.key}\n"
                 "  - {kid: k2, file: master.key}\n");
    auto cfg = load(yaml);
    EXPECT_FALSE(cfg.ok());
    ASSERT_NE(find_error(errors_, "keys[0].file"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "keys[0].file")->message.find("16"), std::string::npos);
    ASSERT_NE(find_error(errors_, "keys[1].file"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "keys[1].file")->message.find("chmod 600"), std::string::npos);
    EXPECT_NE(find_error(errors_, "keys[2].kid"), nullptr) << dump(errors_);
    EXPECT_EQ(errors_.size(), 3u) << dump(errors_);
}

TEST_F(LoaderTest, ProtocolRelations) {
    auto cfg = load(backend_yaml(
        "protocol: {max_skew_s: 40, replay_window_s: 60, heartbeat_s: 30, idle_timeout_s: 20}\n"));
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "protocol.replay_window_s"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "protocol.idle_timeout_s"), nullptr) << dump(errors_);
    EXPECT_EQ(errors_.size(), 2u) << dump(errors_);
}

TEST_F(LoaderTest, PortsAndEnums) {
    auto yaml = backend_yaml("identity: {binding: dn}\n");
    yaml.replace(yaml.find("port: 0"), 7, "port: 70000");
    yaml.replace(yaml.find("client_ca: ca.pem}"), 18, "client_ca: ca.pem, min_version: \"1.1\"}");
    auto cfg = load(yaml);
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "listen.agents.port"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "tls.min_version"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "identity.binding"), nullptr) << dump(errors_);
    EXPECT_EQ(errors_.size(), 3u) << dump(errors_);
}

TEST_F(LoaderTest, GatewayFieldRules) {
    auto yaml = gateway_yaml("  reconnect: {initial_ms: 5000, max_ms: 1000}\n");
    yaml.replace(yaml.find("gw-01"), 5, "GW_01");
    yaml.replace(yaml.find("sha256/AAAA"), 11, "sha1/AAAAAA");
    auto cfg = load(yaml);
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "gateway.agent_id"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "gateway.pins[0]"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "gateway.reconnect.max_ms"), nullptr) << dump(errors_);
}

TEST_F(LoaderTest, PluginEntries) {
    auto cfg =
        load(backend_yaml("plugins:\n"
                          "  queue_memory: {enabled: yes, bogus: 1}\n"
                          "  Bad-Name: {}\n"
                          "  audit_file: {config: [1, 2]}\n"
                          "  identity_sqlite: {path: missing.so}\n"));
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "plugins.queue_memory.enabled"), nullptr) << dump(errors_);
    ASSERT_NE(find_error(errors_, "plugins.queue_memory.bogus"), nullptr) << dump(errors_);
    EXPECT_EQ(find_error(errors_, "plugins.queue_memory.bogus")->message,
              "unknown key 'bogus' (valid keys: config, enabled, path)");
    EXPECT_NE(find_error(errors_, "plugins.Bad-Name"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "plugins.audit_file.config"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "plugins.identity_sqlite.path"), nullptr) << dump(errors_);
    EXPECT_EQ(errors_.size(), 5u) << dump(errors_);
}

TEST_F(LoaderTest, PluginPathsExpandedAndChecked) {
    std::filesystem::create_directory(dir_ + "/plugins");
    write("lib.so", "", 0644);
    auto cfg =
        load(backend_yaml("plugin_paths: [plugins, \"${exe_dir}\"]\n"
                          "plugins:\n  x: {path: lib.so}\n"));
    ASSERT_TRUE(cfg.ok()) << dump(errors_);
    // Kept as written: the plugin loader expands ${exe_dir} and relative paths itself.
    EXPECT_EQ(cfg->plugin_paths.at(0), "plugins");
    EXPECT_EQ(cfg->plugins.at(0).path, "lib.so");

    cfg =
        load(backend_yaml("plugin_paths: [plugins, nowhere, \"${exe_dir}/nowhere\"]\n"
                          "plugins:\n  x: {path: missing.so}\n"));
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "plugin_paths[1]"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "plugin_paths[2]"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "plugins.x.path"), nullptr) << dump(errors_);
    EXPECT_EQ(errors_.size(), 3u) << dump(errors_);
}

TEST_F(LoaderTest, PartialConfigKeepsPluginEntriesDespiteErrors) {
    write("agenthost.yaml", "role: backend\nplugins:\n  queue_memory: {config: {a: 1}}\n", 0644);
    ConfigErrors errors;
    KernelConfig partial;
    auto cfg = load_kernel_config(dir_ + "/agenthost.yaml", errors, &partial);
    EXPECT_FALSE(cfg.ok());
    EXPECT_FALSE(errors.empty());
    ASSERT_EQ(partial.plugins.size(), 1u);
    EXPECT_EQ(partial.plugins[0].name, "queue_memory");
    EXPECT_EQ(partial.source_path, dir_ + "/agenthost.yaml");
}

TEST_F(LoaderTest, UnknownTopLevelKeyListsSections) {
    auto cfg = load(backend_yaml("lsiten: {}\n"));
    EXPECT_FALSE(cfg.ok());
    ASSERT_NE(find_error(errors_, "lsiten"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "lsiten")->message.find("listen"), std::string::npos);
    EXPECT_NE(find_error(errors_, "lsiten")->message.find("plugins"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::config

namespace agenthost::config {
namespace {

// audit.fail_closed promises nothing happens unaudited: it needs a keyed audit plugin.
TEST_F(LoaderTest, FailClosedAuditRequiresAKeyedAuditPlugin) {
    auto cfg = load(backend_yaml());
    ASSERT_TRUE(cfg.ok()) << dump(errors_);
    EXPECT_FALSE(cfg->audit.fail_closed) << "default: fail-open (production configs set true)";

    cfg = load(backend_yaml("audit: {fail_closed: true}\n"
                            "plugins:\n  audit_file: {config: {path: state/audit.log}}\n"));
    EXPECT_FALSE(cfg.ok());
    ASSERT_NE(find_error(errors_, "plugins.audit_file.config.key_file"), nullptr) << dump(errors_);
    EXPECT_NE(find_error(errors_, "plugins.audit_file.config.key_file")
                  ->message.find("audit.fail_closed"),
              std::string::npos);
    EXPECT_EQ(errors_.size(), 1u) << dump(errors_);

    cfg = load(backend_yaml("audit: {fail_closed: true}\n"));
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "audit.fail_closed"), nullptr) << dump(errors_);

    cfg = load(backend_yaml("audit: {fail_closed: true}\n"
                            "plugins:\n  audit_file: {config: {key_file: master.key}}\n"));
    ASSERT_TRUE(cfg.ok()) << dump(errors_);
    EXPECT_TRUE(cfg->audit.fail_closed);

    // The gateway role has the same rule.
    cfg = load(gateway_yaml("audit: {fail_closed: true}\n"
                            "plugins:\n  audit_file: {enabled: true, config: {}}\n"));
    EXPECT_FALSE(cfg.ok());
    EXPECT_NE(find_error(errors_, "plugins.audit_file.config.key_file"), nullptr) << dump(errors_);
}

}  // namespace
}  // namespace agenthost::config
