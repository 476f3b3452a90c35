// Integration tests of the CLI: the real binary ($AGENTHOST_BIN), real files, real
// certificates made with the openssl command line in a temporary directory.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <agenthost/abi.hpp>

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct Outcome {
    int code = -1;
    std::string out;
    std::string err;
};

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : fallback;
}

class CliTest : public ::testing::Test {
protected:
    void SetUp() override {
        bin_ = env_or("AGENTHOST_BIN", "");
        ASSERT_FALSE(bin_.empty()) << "AGENTHOST_BIN is not set";
        ASSERT_TRUE(fs::exists(bin_)) << bin_;
        char tmpl[] = "/tmp/ah-cli-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        fs::create_directory(dir_ + "/state");
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Runs the binary with `args`; stdout and stderr are captured through files.
    Outcome agenthost(const std::vector<std::string>& args) {
        std::vector<std::string> argv_s{bin_};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        const std::string out = dir_ + "/.stdout";
        const std::string err = dir_ + "/.stderr";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid = -1;
        Outcome o;
        if (posix_spawn(&pid, bin_.c_str(), &fa, nullptr, argv.data(), environ) == 0) {
            int status = 0;
            ::waitpid(pid, &status, 0);
            o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        posix_spawn_file_actions_destroy(&fa);
        o.out = read_file(out);
        o.err = read_file(err);
        return o;
    }

    // Runs a shell command in the temp dir; returns its stdout, fails the test on error.
    std::string sh(const std::string& cmd) {
        const std::string out = dir_ + "/.sh_out";
        const std::string full = "cd '" + dir_ + "' && ( " + cmd + " ) > '" + out + "' 2>/dev/null";
        int rc = std::system(full.c_str());
        EXPECT_EQ(rc, 0) << cmd;
        return read_file(out);
    }

    void write(const std::string& name, const std::string& content, mode_t mode = 0644) {
        const std::string p = dir_ + "/" + name;
        std::ofstream(p) << content;
        ::chmod(p.c_str(), mode);
    }

    // ECDSA P-256 CA, server certificate signed by it, a master key (mode 0600).
    void make_pki() {
        sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout ca.key -out ca.pem -subj /CN=test-ca -days 2");
        sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout server.key -out server.csr -subj /CN=backend");
        sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-out server.pem -days 2");
        sh("openssl rand -base64 32 > master.key && chmod 600 master.key server.key ca.key");
    }

    static std::string valid_backend() {
        return "role: backend\n"
               "host_id: test-backend\n"
               "state_dir: state\n"
               "listen:\n"
               "  agents: {address: 127.0.0.1, port: 0}\n"
               "  admin: {address: 127.0.0.1, port: 0}\n"
               "  health: {address: 127.0.0.1, port: 0}\n"
               "tls: {cert: server.pem, key: server.key, client_ca: ca.pem}\n"
               "keys:\n"
               "  - {kid: k1, file: master.key}\n"
               "operators:\n"
               "  - name: alice\n"
               "    token_sha256: "
               "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n";
    }

    std::string bin_;
    std::string dir_;
};

TEST_F(CliTest, CheckConfigAcceptsAValidGeneratedConfig) {
    make_pki();
    write("ok.yaml", valid_backend());
    auto r = agenthost({"check-config", "-c", dir_ + "/ok.yaml"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("config OK"), std::string::npos) << r.out;
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(CliTest, CheckConfigReportsEveryErrorWithItsPath) {
    make_pki();
    sh("cp master.key open.key && chmod 644 open.key");
    std::string yaml = valid_backend();
    yaml.replace(yaml.find("  agents: {address: 127.0.0.1, port: 0}"), 39,
                 "  agents: {address: 127.0.0.1, port: 0, bogus_key: 1}");
    yaml.replace(yaml.find("  admin: {address: 127.0.0.1, port: 0}"), 38,
                 "  admin: {address: 127.0.0.1, port: 70000}");
    yaml.replace(yaml.find("cert: server.pem"), 16, "cert: missing.pem");
    yaml.replace(yaml.find("file: master.key"), 16, "file: open.key");
    yaml += "protocol:\n  heartbeat_s: often\n";
    write("bad.yaml", yaml);

    auto r = agenthost({"check-config", "-c", dir_ + "/bad.yaml"});
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    for (const char* path :
         {"listen.agents.bogus_key: unknown key 'bogus_key' (valid keys: "
          "address, port)",
          "listen.admin.port: ", "tls.cert: ", "keys[0].file: ", "protocol.heartbeat_s: "}) {
        EXPECT_NE(r.err.find(path), std::string::npos) << path << "\n" << r.err;
    }
    EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("missing.pem"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("config OK"), std::string::npos);

    // `run` refuses the same file before starting anything.
    auto run = agenthost({"run", "-c", dir_ + "/bad.yaml"});
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("listen.admin.port"), std::string::npos) << run.err;
}

// Issue 6 acceptance: start-up refuses a malformed pin, a weak HMAC key (< 32 bytes), an
// operator token stored in clear and an audit key missing while fail_closed is on, each
// with an error naming the YAML path, from check-config and from run alike.
TEST_F(CliTest, StartupRefusesWeakSecretsNamingTheYamlPath) {
    make_pki();
    sh("openssl rand -base64 16 > short.key && chmod 600 short.key");
    sh("openssl rand -base64 32 > agent.key && chmod 600 agent.key");
    sh("openssl rand -base64 32 > audit.key && chmod 600 audit.key");
    const std::string plugins = "plugin_paths: [" + env_or("AGENTHOST_PLUGIN_DIR", ".") + "]\n";
    const std::string gateway =
        "role: gateway\nstate_dir: state\ngateway:\n  agent_id: gw-01\n"
        "  url: wss://127.0.0.1:8444/agent/v1\n  ca: ca.pem\n  cert: server.pem\n"
        "  key: server.key\n  pins: [\"sha256/not-a-pin\"]\n  kid: k1\n  key_file: agent.key\n";
    std::string weak = valid_backend();
    weak.replace(weak.find("file: master.key"), 16, "file: short.key");
    std::string clear = valid_backend();
    clear.replace(clear.find("9f86d081"), 64,
                  "plain-operator-token-stored-in-clear-0123456789abcdef0123456789ab");
    const std::string no_audit_key = valid_backend() + plugins +
                                     "audit: {fail_closed: true}\n"
                                     "plugins:\n  audit_file: {config: {path: state/a.log}}\n";
    const std::string weak_audit_key =
        valid_backend() + plugins +
        "plugins:\n  audit_file: {config: {path: state/a.log, key_file: short.key}}\n";
    const struct {
        const char* name;
        std::string yaml;
        const char* path;
        const char* says;
    } cases[] = {
        {"pin.yaml", gateway, "gateway.pins[0]: ", "does not match"},
        {"weak.yaml", weak, "keys[0].file: ", "at least 32"},
        {"clear.yaml", clear, "operators[0].token_sha256: ", "in clear"},
        {"audit.yaml", no_audit_key, "plugins.audit_file.config.key_file: ", "fail_closed"},
        {"audit-weak.yaml", weak_audit_key, "plugins.audit_file.config.key_file: ", "at least 32"},
    };
    for (const auto& c : cases) {
        write(c.name, c.yaml);
        for (const char* cmd : {"check-config", "run"}) {
            auto r = agenthost({cmd, "-c", dir_ + "/" + c.name});
            EXPECT_EQ(r.code, 2) << cmd << " " << c.name << "\n" << r.err;
            const std::string what = std::string(cmd) + " " + c.name + "\n" + r.err;
            EXPECT_NE(r.err.find(c.path), std::string::npos) << what;
            EXPECT_NE(r.err.find(c.says), std::string::npos) << what;
            EXPECT_EQ(r.err.find("plain-operator-token"), std::string::npos) << "never echoed";
        }
    }
    // The same fail-closed config with a key passes.
    write("audit-ok.yaml", valid_backend() + plugins +
                               "audit: {fail_closed: true}\nplugins:\n  audit_file: {config: "
                               "{path: state/a.log, key_file: audit.key}}\n");
    auto ok = agenthost({"check-config", "-c", dir_ + "/audit-ok.yaml"});
    EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST_F(CliTest, CheckConfigMissingFileAndParseError) {
    auto r = agenthost({"check-config", "-c", dir_ + "/none.yaml"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("none.yaml"), std::string::npos) << r.err;
    write("broken.yaml", "role: backend\nlisten:\n  agents: {port: [\n");
    r = agenthost({"check-config", "-c", dir_ + "/broken.yaml"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("broken.yaml:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("YAML parse error"), std::string::npos) << r.err;
}

// Plugin sections go through the plugin's own schema: an unknown key deep in a real
// plugin's config is reported with its full path. Every plugin of the build is tried
// (each must refuse the section); at least one must load and name the exact key.
TEST_F(CliTest, CheckConfigValidatesPluginSections) {
    const std::string plugin_dir = env_or("AGENTHOST_PLUGIN_DIR", "");
    std::vector<std::string> names;
    if (!plugin_dir.empty() && fs::is_directory(plugin_dir)) {
        for (const auto& e : fs::directory_iterator(plugin_dir)) {
            const std::string f = e.path().filename().string();
            if (f.rfind("agenthost_", 0) == 0 && e.path().extension() == ".so") {
                names.push_back(f.substr(10, f.size() - 13));
            }
        }
    }
    if (names.empty()) {
        GTEST_SKIP() << "no plugin built in " << plugin_dir;
    }
    make_pki();
    int reported = 0;
    for (const auto& name : names) {
        write("p.yaml", valid_backend() + "plugin_paths: [" + plugin_dir + "]\nplugins:\n  " +
                            name + ":\n    config:\n      no_such_key_xyz: 1\n");
        auto r = agenthost({"check-config", "-c", dir_ + "/p.yaml"});
        EXPECT_EQ(r.code, 2) << name << "\n" << r.out << r.err;
        if (r.err.find("plugins." + name + ".config.no_such_key_xyz: unknown key") !=
            std::string::npos) {
            ++reported;
            auto list = agenthost({"plugins", "-c", dir_ + "/p.yaml"});
            EXPECT_EQ(list.code, 2) << list.err;
            EXPECT_NE(list.out.find("\n" + name + " "), std::string::npos) << list.out;
            EXPECT_NE(list.out.find("provides:"), std::string::npos) << list.out;
            EXPECT_NE(list.out.find("config (plugins." + name + ".config)"), std::string::npos)
                << list.out;
        } else {
            EXPECT_NE(r.err.find("plugin '" + name + "'"), std::string::npos) << r.err;
        }
    }
    EXPECT_GT(reported, 0) << "no plugin of the build could be loaded";
}

TEST_F(CliTest, PluginsListsNothingForAConfigWithoutPlugins) {
    make_pki();
    write("ok.yaml", valid_backend());
    auto r = agenthost({"plugins", "-c", dir_ + "/ok.yaml"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("plugin search path"), std::string::npos) << r.out;
}

TEST_F(CliTest, PinMatchesOpenssl) {
    make_pki();
    const std::string expected =
        "sha256/" + sh("openssl x509 -pubkey -noout -in server.pem | openssl pkey -pubin "
                       "-outform der | openssl dgst -sha256 -binary | base64");
    auto r = agenthost({"pin", dir_ + "/server.pem"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, expected);
    EXPECT_EQ(r.out.size(), 7u + 44u + 1u);

    // The private key gives the same pin as its certificate.
    auto k = agenthost({"pin", dir_ + "/server.key"});
    EXPECT_EQ(k.code, 0) << k.err;
    EXPECT_EQ(k.out, expected);

    auto missing = agenthost({"pin", dir_ + "/nope.pem"});
    EXPECT_NE(missing.code, 0);
    EXPECT_FALSE(missing.err.empty());
}

TEST_F(CliTest, KeysDeriveMatchesProtocolVector) {
    // PROTOCOL.md §7: master = bytes 0x00..0x1f, kid k1, agent gw-01.
    write("master.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600);
    auto r = agenthost(
        {"keys", "derive", "--kid", "k1", "--agent", "gw-01", "--master", dir_ + "/master.key"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "YJeMIgGNOiUUyI6EhC70y7ZvX8batLpWrsDDHWPAYRs=\n");

    ::chmod((dir_ + "/master.key").c_str(), 0644);
    r = agenthost(
        {"keys", "derive", "--kid", "k1", "--agent", "gw-01", "--master", dir_ + "/master.key"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("chmod 600"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());

    r = agenthost({"keys", "derive", "--kid", "k1", "--agent", "GW 01", "--master", "x"});
    EXPECT_EQ(r.code, 2);
    r = agenthost({"keys", "derive", "--kid", "k1"});
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("usage:"), std::string::npos);
}

TEST_F(CliTest, VersionShowsAbiTagAndDependencies) {
    auto r = agenthost({"version"});
    EXPECT_EQ(r.code, 0);
    EXPECT_NE(r.out.find(agenthost::sdk::abi_tag), std::string::npos) << r.out;
    for (const char* dep :
         {"agenthost ", "Boost ", "OpenSSL ", "yaml-cpp ", "spdlog ", "SQLite "}) {
        EXPECT_NE(r.out.find(dep), std::string::npos) << dep << "\n" << r.out;
    }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{},
                                               {"frobnicate"},
                                               {"check-config"},
                                               {"check-config", "-c"},
                                               {"check-config", "--bogus", "x"},
                                               {"run"},
                                               {"pin"},
                                               {"keys"},
                                               {"audit"},
                                               {"audit", "verify"},
                                               {"version", "extra"}}) {
        auto r = agenthost(args);
        std::string joined;
        for (const auto& a : args) {
            joined += a + " ";
        }
        EXPECT_EQ(r.code, 2) << joined;
        EXPECT_NE(r.err.find("usage: agenthost"), std::string::npos) << joined << r.err;
    }
}

TEST_F(CliTest, UnimplementedCommandsSayWhy) {
    make_pki();
    write("ok.yaml", valid_backend());
    auto m = agenthost({"migrate", "-c", dir_ + "/ok.yaml"});
    EXPECT_EQ(m.code, 1);
    EXPECT_NE(m.err.find("not supported"), std::string::npos) << m.err;
    // audit verify is implemented (tests/cli/audit_verify_test.cpp); a missing file is a
    // runtime failure that names the file.
    auto a = agenthost({"audit", "verify", dir_ + "/audit.log"});
    EXPECT_EQ(a.code, 1);
    EXPECT_NE(a.out.find("cannot read"), std::string::npos) << a.out << a.err;
}

// Every config shipped in configs/ must pass check-config with this build's plugins.
// As `make demo` does (scripts/demo.sh), the files are rendered first: ../.dev points at
// a dev PKI and keys made here, ../build/plugins at this build's plugin directory.
TEST_F(CliTest, ShippedConfigsPassCheckConfig) {
    const fs::path configs = fs::path(env_or("AGENTHOST_SOURCE_DIR", ".")) / "configs";
    const std::string plugin_dir = env_or("AGENTHOST_PLUGIN_DIR", "");
    const std::string agent = "gw-dev-01";
    sh("mkdir -p .dev/pki/agents .dev/keys .dev/state/backend .dev/state/gateway rendered");
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
       "-keyout .dev/pki/ca.key -out .dev/pki/ca.crt -subj /CN=dev-ca -days 2");
    for (const std::string& leaf : {std::string("backend"), "agents/" + agent}) {
        const std::string base = ".dev/pki/" + leaf;
        sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
           base + ".key -out " + base + ".csr -subj /CN=" + leaf.substr(leaf.rfind('/') + 1));
        sh("openssl x509 -req -in " + base +
           ".csr -CA .dev/pki/ca.crt -CAkey .dev/pki/ca.key "
           "-CAcreateserial -out " +
           base + ".crt -days 2");
    }
    sh("openssl rand -base64 32 > .dev/keys/audit.key && chmod 600 .dev/keys/audit.key");
    sh("openssl rand -base64 32 > .dev/keys/k1.key && chmod 600 .dev/keys/k1.key "
       ".dev/pki/*.key .dev/pki/agents/*.key");
    auto derived = agenthost({"keys", "derive", "--kid", "k1", "--agent", agent, "--master",
                              dir_ + "/.dev/keys/k1.key"});
    ASSERT_EQ(derived.code, 0) << derived.err;
    write(".dev/keys/" + agent + ".k1.key", derived.out, 0600);
    // The secret files configs/production.yaml names (url_file keys).
    sh("mkdir -p .dev/secrets");
    write(".dev/secrets/postgres.url", "postgresql://agenthost:pw@127.0.0.1:5432/agenthost\n",
          0600);
    write(".dev/secrets/redis.url", "redis://127.0.0.1:6379/0\n", 0600);

    int checked = 0;
    if (fs::is_directory(configs)) {
        for (const auto& e : fs::directory_iterator(configs)) {
            if (e.path().extension() != ".yaml") {
                continue;
            }
            std::string text = read_file(e.path().string());
            // production.yaml's installed layout maps onto the same .dev set.
            for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
                     {"../.dev", dir_ + "/.dev"},
                     {"../build/plugins", plugin_dir},
                     {"${exe_dir}/../lib/agenthost/plugins", plugin_dir},
                     {"/etc/agenthost", dir_ + "/.dev"},
                     {"/var/lib/agenthost", dir_ + "/.dev/state/backend"}}) {
                for (auto pos = text.find(from); pos != std::string::npos;
                     pos = text.find(from, pos + to.size())) {
                    text.replace(pos, from.size(), to);
                }
            }
            const std::string rendered = dir_ + "/rendered/" + e.path().filename().string();
            std::ofstream(rendered) << text;
            auto r = agenthost({"check-config", "-c", rendered});
            EXPECT_EQ(r.code, 0) << e.path() << "\n" << r.err;
            EXPECT_NE(r.out.find("config OK"), std::string::npos) << r.out;
            ++checked;
        }
    }
    if (checked == 0) {
        GTEST_SKIP() << "no configs/*.yaml";
    }
}

}  // namespace
