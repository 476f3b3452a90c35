// deploy/production_validation.sh against a real local deployment: a real backend
// (embedded profile, keyed audit) behind the real Debian nginx rendered from
// deploy/nginx/nginx.conf. The script must say GO with every row GO on the healthy
// deployment, and NO-GO (exit 1, naming the failing check) with a wrong operator
// token and with the backend stopped. It must leave no temp file and no child behind.

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"
#include "tests/support/nginx.hpp"

namespace agenthost::e2e {
namespace {

const char* const kAgent = "validation-01";
const std::vector<std::string> kRows = {
    "upgrade_101",        "mtls",           "registration", "duplicate_rejected",
    "command_round_trip", "telemetry_flow", "health_ready", "audit_chain"};

struct Outcome {
    int rc = -1;
    std::string out;
};

class ProductionValidation : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ws_ = new Workspace({kAgent});
        audit_key_ = ws_->dir() + "/keys/audit.key";
        std::string key;
        run("openssl rand -base64 32", &key);
        write_file(audit_key_, key, 0600);
        BackendOptions o;
        o.name = "backend-1";
        audit_log_ = ws_->dir() + "/backend-1/audit.log";
        o.audit_plugin = "audit_file: { enabled: true, config: { path: " + audit_log_ +
                         ", key_file: " + audit_key_ + " } }";
        backend_ = new Backend(*ws_, o);
        backend_->start();
        auto at = [](std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); };
        testsvc::NginxOptions n;
        n.agent_servers = {at(backend_->ports().agents)};
        n.api_servers = {at(backend_->ports().admin)};
        n.health_servers = {at(backend_->ports().health)};
        nginx_ = new testsvc::Nginx(n);
        nginx_->start();
        token_file_ = ws_->dir() + "/token";
        write_file(token_file_, ws_->token() + "\n", 0600);
        script_tmp_ = ws_->dir() + "/script-tmp";
        ::mkdir(script_tmp_.c_str(), 0700);
    }
    static void TearDownTestSuite() {
        delete nginx_;
        if (backend_->process().running()) {
            backend_->stop_graceful();
        }
        delete backend_;
        delete ws_;
    }

    // Runs the script against nginx's ports; TMPDIR points at a private folder so
    // that the test can see what the script leaves behind.
    static Outcome validate(const std::string& token_file, const std::string& extra) {
        const std::string src = env_or("AGENTHOST_SOURCE_DIR", ".");
        std::ostringstream cmd;
        cmd << "TMPDIR=" << script_tmp_ << " bash " << src << "/deploy/production_validation.sh"
            << " --agents-url wss://127.0.0.1:" << nginx_->agent_port() << "/agent/v1"
            << " --api-url https://127.0.0.1:" << nginx_->api_port()
            << " --health-url http://127.0.0.1:" << nginx_->health_port() << " --ca "
            << ws_->pki("ca.crt") << " --cert "
            << ws_->pki(std::string("agents/") + kAgent + ".crt") << " --key "
            << ws_->pki(std::string("agents/") + kAgent + ".key") << " --hmac-key "
            << ws_->agent_key(kAgent) << " --kid k1"
            << " --pin '" << ws_->backend_pin() << "'"
            << " --token-file " << token_file << " --agenthost "
            << env_or("AGENTHOST_BIN", "build/bin/agenthost") << " --plugin-dir "
            << env_or("AGENTHOST_PLUGIN_DIR", "build/plugins") << " " << extra << " 2>&1";
        Outcome o;
        o.rc = run(cmd.str(), &o.out);
        return o;
    }

    // The RESULT column of one row of the table ("" when the row is missing).
    static std::string row(const std::string& out, const std::string& name) {
        std::smatch m;
        const std::regex re("(^|\n)" + name + " +(GO|NO-GO|SKIP) ");
        return std::regex_search(out, m, re) ? m[2].str() : "";
    }

    static void expect_clean() {
        // Every temp file removed, every validation gateway stopped.
        std::size_t left = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(script_tmp_)) {
            ++left;
        }
        EXPECT_EQ(left, 0u) << "the script left files in " << script_tmp_;
        // "validatio[n]": the pattern must not match the shell that runs pgrep.
        std::string procs;
        run("pgrep -f -- '" + script_tmp_ + "/agenthost-validatio[n]-' || true", &procs);
        EXPECT_EQ(procs, "") << "validation gateways still running";
    }

    static Workspace* ws_;
    static Backend* backend_;
    static testsvc::Nginx* nginx_;
    static std::string audit_key_;
    static std::string audit_log_;
    static std::string token_file_;
    static std::string script_tmp_;
};

Workspace* ProductionValidation::ws_ = nullptr;
Backend* ProductionValidation::backend_ = nullptr;
testsvc::Nginx* ProductionValidation::nginx_ = nullptr;
std::string ProductionValidation::audit_key_;
std::string ProductionValidation::audit_log_;
std::string ProductionValidation::token_file_;
std::string ProductionValidation::script_tmp_;

TEST_F(ProductionValidation, HealthyDeploymentIsGo) {
    const Outcome o =
        validate(token_file_, "--audit-log " + audit_log_ + " --audit-key " + audit_key_);
    EXPECT_EQ(o.rc, 0) << o.out;
    std::cout << o.out;  // the table, with the measured round trip, in the test log
    for (const auto& r : kRows) {
        EXPECT_EQ(row(o.out, r), "GO") << r << "\n" << o.out;
    }
    EXPECT_NE(o.out.find("VERDICT: GO"), std::string::npos) << o.out;
    // The measured round trip is printed.
    EXPECT_TRUE(std::regex_search(o.out, std::regex("succeeded in [0-9]+ ms observed"))) << o.out;
    // The audit row verified the keyed chain, which now holds the validation's records.
    EXPECT_NE(o.out.find("keyed chain"), std::string::npos) << o.out;
    EXPECT_GE(count_audit(audit_log_, {{"action", "command.enqueue"}}), 1u);
    // The duplicate really reached the backend and was refused there.
    EXPECT_GE(count_audit(audit_log_, {{"action", "session.duplicate"}, {"outcome", "denied"}}), 1u)
        << read_file(audit_log_);
    expect_clean();
    // Its gateway closed cleanly: the agent is offline again, no lease is left.
    EXPECT_TRUE(wait_until([] { return backend_->agent_state(kAgent) == "offline"; }, 20s));
}

TEST_F(ProductionValidation, WrongTokenIsNoGo) {
    const std::string bad = ws_->dir() + "/bad-token";
    write_file(bad, "not-the-operator-token\n", 0600);
    const Outcome o = validate(bad, "--skip-audit");
    EXPECT_EQ(o.rc, 1) << o.out;
    EXPECT_EQ(row(o.out, "registration"), "NO-GO") << o.out;
    EXPECT_NE(o.out.find("HTTP 401"), std::string::npos) << o.out;
    EXPECT_EQ(row(o.out, "command_round_trip"), "NO-GO") << o.out;
    // What does not need the API still passes; --skip-audit makes the audit row SKIP.
    EXPECT_EQ(row(o.out, "upgrade_101"), "GO") << o.out;
    EXPECT_EQ(row(o.out, "mtls"), "GO") << o.out;
    EXPECT_EQ(row(o.out, "health_ready"), "GO") << o.out;
    EXPECT_EQ(row(o.out, "audit_chain"), "SKIP") << o.out;
    EXPECT_TRUE(std::regex_search(o.out, std::regex("VERDICT: NO-GO \\(failed: registration")))
        << o.out;
    expect_clean();
}

TEST_F(ProductionValidation, MissingAuditFilesIsNoGoAndUsageErrorsExit2) {
    // No audit files and no --skip-audit: that row alone is NO-GO. Wrong token keeps
    // the run short (no gateway starts); the audit row is judged regardless.
    const std::string bad = ws_->dir() + "/bad-token";
    write_file(bad, "not-the-operator-token\n", 0600);
    const Outcome o = validate(bad, "");
    EXPECT_EQ(o.rc, 1) << o.out;
    EXPECT_EQ(row(o.out, "audit_chain"), "NO-GO") << o.out;

    const Outcome usage = validate(token_file_, "--audit-log " + audit_log_);  // no key
    EXPECT_EQ(usage.rc, 2) << usage.out;
    EXPECT_NE(usage.out.find("--audit-key"), std::string::npos) << usage.out;
    expect_clean();
}

// Last: stops the backend for good.
TEST_F(ProductionValidation, StoppedBackendIsNoGo) {
    backend_->stop_graceful();
    const Outcome o =
        validate(token_file_, "--audit-log " + audit_log_ + " --audit-key " + audit_key_);
    EXPECT_EQ(o.rc, 1) << o.out;
    EXPECT_EQ(row(o.out, "health_ready"), "NO-GO") << o.out;
    EXPECT_EQ(row(o.out, "upgrade_101"), "NO-GO") << o.out;
    EXPECT_EQ(row(o.out, "registration"), "NO-GO") << o.out;
    // The audit trail itself is intact: the check that failed is the deployment.
    EXPECT_EQ(row(o.out, "audit_chain"), "GO") << o.out;
    EXPECT_TRUE(std::regex_search(o.out, std::regex("VERDICT: NO-GO \\(failed: upgrade_101")))
        << o.out;
    expect_clean();
}

}  // namespace
}  // namespace agenthost::e2e
