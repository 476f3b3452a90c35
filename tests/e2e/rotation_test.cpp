// deploy/scripts/rotate_certificates.sh end to end (issue 7 item 5): a live backend,
// two connected gateways, the staged rotation run stage by stage. After every stage
// both gateways are still connected, and one of them, restarted, gets back in (no
// lockout at any point); the served certificate changes exactly at the swap stage.
// Also: --dry-run changes nothing, a stage re-run is a no-op, `all` resumes, and
// generate_spki_pin.sh prints what `agenthost pin` prints.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

std::string bin() {
    return env_or("AGENTHOST_BIN", "build/bin/agenthost");
}
std::string scripts() {
    return env_or("AGENTHOST_SOURCE_DIR", ".") + "/deploy/scripts/";
}

std::string served_pin(Workspace& ws, std::uint16_t port) {
    std::string out;
    run("openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -cert " +
            ws.pki("agents/gw-01.crt") + " -key " + ws.pki("agents/gw-01.key") +
            " </dev/null 2>/dev/null | openssl x509 -noout -pubkey 2>/dev/null | "
            "openssl pkey -pubin -outform DER 2>/dev/null | openssl dgst -sha256 -binary | "
            "openssl base64 -A",
        &out);
    out = trim(out);
    return out.size() == 44 ? "sha256/" + out : "";
}

class RotationTest : public ::testing::Test {
protected:
    RotationTest() : ws_({"gw-01", "gw-02"}) {}

    // Runs one stage with the live processes' pids; returns the exit code.
    int stage(const std::string& name, std::string* out = nullptr, const std::string& extra = "") {
        std::string cmd =
            scripts() + "rotate_certificates.sh --state " + ws_.dir() + "/rotation --backend " +
            backend_->config_path() + "@" + std::to_string(backend_->process().pid()) + " --pki " +
            ws_.pki("") + " --agenthost " + bin() +
            " --verify 127.0.0.1:" + std::to_string(backend_->ports().agents) + " --client-cert " +
            ws_.pki("agents/gw-01.crt") + " --client-key " + ws_.pki("agents/gw-01.key");
        for (auto* g : {gw1_.get(), gw2_.get()}) {
            cmd += " --gateway " + g->config_path() + "@" + std::to_string(g->process().pid());
        }
        std::string log;
        const int rc = run(cmd + " " + extra + " " + name + " 2>&1", &log);
        if (out != nullptr) {
            *out = log;
        }
        std::printf("--- %s (rc %d)\n%s", name.c_str(), rc, log.c_str());
        return rc;
    }

    // No lockout: both sessions are (or come back) online, and gw-02 restarted from its
    // current config file gets in again.
    void expect_no_lockout(const std::string& when) {
        EXPECT_TRUE(wait_until([&] { return backend_->agent_state("gw-01") == "online"; }, 30s))
            << when << "\n"
            << gw1_->process().log();
        const std::size_t opened = sessions_opened("gw-02");
        gw2_->stop_graceful();
        gw2_->start();
        EXPECT_TRUE(wait_until([&] { return sessions_opened("gw-02") > opened; }, 30s))
            << when << ": gw-02 could not reconnect\n"
            << gw2_->process().log();
    }

    std::size_t sessions_opened(const std::string& agent) {
        return count_audit(backend_->audit_log(), {{"action", "session.open"}, {"target", agent}});
    }

    std::size_t reloads(const std::string& audit_log) {
        return count_audit(audit_log, {{"action", "config.reloaded"}});
    }

    Workspace ws_;
    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Gateway> gw1_;
    std::unique_ptr<Gateway> gw2_;
};

TEST_F(RotationTest, PinScriptMatchesAgenthostPin) {
    for (const std::string& f :
         {ws_.pki("backend.crt"), ws_.pki("backend.key"), ws_.pki("agents/gw-01.crt")}) {
        std::string a;
        std::string b;
        ASSERT_EQ(run(scripts() + "generate_spki_pin.sh " + f, &a), 0);
        ASSERT_EQ(run(bin() + " pin " + f, &b), 0);
        EXPECT_EQ(a, b) << f;
    }
    write_file(ws_.dir() + "/junk.pem", "not a key\n");
    EXPECT_EQ(run(scripts() + "generate_spki_pin.sh " + ws_.dir() + "/junk.pem 2>/dev/null"), 1);
}

TEST_F(RotationTest, FullRotationNeverLocksAGatewayOut) {
    backend_ = std::make_unique<Backend>(ws_);
    backend_->start();
    gw1_ = std::make_unique<Gateway>(ws_, *backend_, GatewayOptions{.agent = "gw-01"});
    gw2_ = std::make_unique<Gateway>(ws_, *backend_,
                                     GatewayOptions{.agent = "gw-02", .keep_config = true});
    gw1_->start();
    gw2_->start();
    ASSERT_TRUE(wait_until([&] { return backend_->agent_state("gw-01") == "online"; }, 30s));
    ASSERT_TRUE(wait_until([&] { return backend_->agent_state("gw-02") == "online"; }, 30s));
    const std::string old_pin = ws_.backend_pin();
    const std::string backend_crt = read_file(ws_.pki("backend.crt"));
    const std::string gw_cfg = read_file(gw1_->config_path());

    // --dry-run walks every stage and changes nothing.
    std::string out;
    ASSERT_EQ(stage("all", &out, "--dry-run"), 0) << out;
    EXPECT_NE(out.find("would"), std::string::npos);
    EXPECT_EQ(read_file(ws_.pki("backend.crt")), backend_crt);
    EXPECT_EQ(read_file(gw1_->config_path()), gw_cfg);
    EXPECT_NE(::access((ws_.dir() + "/rotation/rotation.state").c_str(), F_OK), 0);

    // issue: a new key whose pin is printed; nothing served changes yet.
    ASSERT_EQ(stage("issue", &out), 0) << out;
    std::string new_pin;
    ASSERT_EQ(run(bin() + " pin " + ws_.dir() + "/rotation/next.crt", &new_pin), 0);
    new_pin = trim(new_pin);
    EXPECT_NE(out.find(new_pin), std::string::npos);
    EXPECT_NE(new_pin, old_pin);
    EXPECT_EQ(served_pin(ws_, backend_->ports().agents), old_pin);
    expect_no_lockout("after issue");

    // distribute: both gateways pin {old, new} and were reloaded.
    const std::size_t gw1_reloads = reloads(gw1_->audit_log());
    ASSERT_EQ(stage("distribute", &out), 0) << out;
    EXPECT_TRUE(wait_until([&] { return reloads(gw1_->audit_log()) > gw1_reloads; }, 20s));
    for (auto* g : {gw1_.get(), gw2_.get()}) {
        const std::string cfg = read_file(g->config_path());
        EXPECT_NE(cfg.find(old_pin), std::string::npos);
        EXPECT_NE(cfg.find(new_pin), std::string::npos);
    }
    EXPECT_EQ(served_pin(ws_, backend_->ports().agents), old_pin);
    expect_no_lockout("after distribute");
    // Idempotent: a second run changes nothing.
    const std::string after_distribute = read_file(gw1_->config_path());
    ASSERT_EQ(stage("distribute", &out), 0) << out;
    EXPECT_NE(out.find("already pins"), std::string::npos);
    EXPECT_EQ(read_file(gw1_->config_path()), after_distribute);

    // swap: the served certificate changes here, the live sessions stay.
    const std::size_t backend_reloads = reloads(backend_->audit_log());
    const std::size_t opened = count_audit(backend_->audit_log(), {{"action", "session.open"}});
    ASSERT_EQ(stage("swap", &out), 0) << out;
    ASSERT_TRUE(wait_until([&] { return reloads(backend_->audit_log()) > backend_reloads; }, 20s))
        << backend_->process().log();
    EXPECT_EQ(served_pin(ws_, backend_->ports().agents), new_pin);
    EXPECT_EQ(backend_->agent_state("gw-01"), "online");
    EXPECT_EQ(count_audit(backend_->audit_log(), {{"action", "session.open"}}), opened);
    expect_no_lockout("after swap");

    // Resume with `all`: issue/distribute/swap are skipped, verify and retire run.
    ASSERT_EQ(stage("all", &out), 0) << out;
    EXPECT_NE(out.find("[swap] done before; skipped"), std::string::npos) << out;
    EXPECT_NE(out.find("serves " + new_pin), std::string::npos) << out;
    for (auto* g : {gw1_.get(), gw2_.get()}) {
        const std::string cfg = read_file(g->config_path());
        EXPECT_EQ(cfg.find(old_pin), std::string::npos) << "old pin not retired";
        EXPECT_NE(cfg.find(new_pin), std::string::npos);
    }
    expect_no_lockout("after retire");
    ASSERT_EQ(stage("status", &out), 0);
    EXPECT_NE(out.find("retire: done"), std::string::npos) << out;

    gw2_->stop_graceful();
    gw1_->stop_graceful();
    backend_->stop_graceful();
}

TEST_F(RotationTest, RetireIsRefusedBeforeTheNewCertificateIsServed) {
    backend_ = std::make_unique<Backend>(ws_);
    backend_->start();
    gw1_ = std::make_unique<Gateway>(ws_, *backend_, GatewayOptions{.agent = "gw-01"});
    gw2_ = std::make_unique<Gateway>(ws_, *backend_, GatewayOptions{.agent = "gw-02"});
    gw1_->start();
    gw2_->start();
    ASSERT_TRUE(wait_until([&] { return backend_->agent_state("gw-01") == "online"; }, 30s));
    const std::string cfg = read_file(gw1_->config_path());
    std::string out;
    ASSERT_EQ(stage("issue", &out), 0) << out;
    EXPECT_EQ(stage("retire", &out), 1);
    EXPECT_NE(out.find("run the verify stage first"), std::string::npos) << out;
    EXPECT_EQ(stage("swap", &out), 1);  // gateways do not know the next pin yet
    EXPECT_EQ(read_file(gw1_->config_path()), cfg);
    EXPECT_EQ(served_pin(ws_, backend_->ports().agents), ws_.backend_pin());
    gw2_->stop_graceful();
    gw1_->stop_graceful();
    backend_->stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
