// Live reload (issue 6 item 4), against the real binary in both roles:
//   - a certificate swapped by atomic rename + SIGHUP: the agent connected before
//     stays connected (commands still round-trip), a new connection sees the new
//     certificate;
//   - a half-written certificate, a key that does not match, an invalid config and a
//     start-up-only change are each rejected: the old config keeps serving and
//     config.reload_rejected is audited with the reason;
//   - a changed operator token and connection cap take effect after SIGHUP;
//   - a gateway learns a new pin on SIGHUP and can then connect;
//   - sd_notify: READY, WATCHDOG pings, RELOADING/READY around SIGHUP, STOPPING on
//     SIGTERM, read from a NOTIFY_SOCKET the test binds.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// A new backend key + certificate (same SANs as dev-pki.sh) signed by the workspace CA.
void issue_backend_cert(Workspace& ws, const std::string& key, const std::string& crt) {
    const std::string cmd =
        "set -e; d=$(mktemp -d); "
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '" +
        key + "' 2>/dev/null; chmod 600 '" + key +
        "'; "
        "openssl req -new -key '" +
        key +
        "' -subj /CN=localhost -out $d/csr; "
        "printf '%s\\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature "
        "extendedKeyUsage=serverAuth subjectAltName=DNS:localhost,IP:127.0.0.1 > $d/ext; "
        "openssl x509 -req -in $d/csr -CA '" +
        ws.pki("ca.crt") + "' -CAkey '" + ws.pki("ca.key") +
        "' -set_serial 0x$(openssl rand -hex 16) -days 30 -sha256 "
        "-extfile $d/ext -out '" +
        crt + "' 2>/dev/null; chmod 644 '" + crt + "'; rm -rf $d";
    ASSERT_EQ(run(cmd), 0) << cmd;
}

std::string pin_of(const std::string& file) {
    std::string out;
    run(env_or("AGENTHOST_BIN", "build/bin/agenthost") + " pin '" + file + "'", &out);
    return trim(out);
}

// The pin of the certificate the backend serves to a new connection right now.
std::string served_pin(Workspace& ws, std::uint16_t port, const std::string& agent = "gw-01") {
    std::string out;
    run("openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -cert " +
            ws.pki("agents/" + agent + ".crt") + " -key " + ws.pki("agents/" + agent + ".key") +
            " </dev/null 2>/dev/null | openssl x509 -noout -pubkey 2>/dev/null | "
            "openssl pkey -pubin -outform DER 2>/dev/null | openssl dgst -sha256 -binary | "
            "openssl base64 -A",
        &out);
    out = trim(out);
    return out.size() == 44 ? "sha256/" + out : "";
}

// Replaces `path` by one rename, as an operator (or rotate_certificates.sh) would.
void replace_file(const std::string& path, const std::string& content, int mode) {
    write_file(path, content, mode);  // harness: write to path.tmp, then rename
}

std::size_t audits(const Backend& b, const std::string& action) {
    return count_audit(b.audit_log(), {{"action", action}});
}

// The reason of the last config.reload_rejected record.
std::string last_rejection(const std::string& audit_log) {
    std::string reason;
    std::istringstream in(read_file(audit_log));
    std::string line;
    while (std::getline(in, line)) {
        boost::system::error_code ec;
        auto v = json::parse(line, ec);
        if (ec || !v.is_object()) {
            continue;
        }
        const auto* action = v.as_object().if_contains("action");
        if (action && action->is_string() && action->as_string() == "config.reload_rejected") {
            if (const auto* d = v.as_object().if_contains("details"); d && d->is_object()) {
                if (const auto* r = d->as_object().if_contains("reason"); r && r->is_string()) {
                    reason = std::string(r->as_string());
                }
            }
        }
    }
    return reason;
}

// SIGHUP, then wait until `action` has been audited once more.
bool reload(Backend& b, const std::string& action) {
    const std::size_t before = audits(b, action);
    b.process().signal(SIGHUP);
    return wait_until([&] { return audits(b, action) > before; }, 20s);
}

std::string enqueue_echo(const Backend& b, const std::string& agent, const std::string& text) {
    auto v = b.api_json("POST", "/api/v1/agents/" + agent + "/commands",
                        R"({"name":"builtin.echo","args":{"text":")" + text + R"("}})");
    if (!v.is_object() || !v.as_object().contains("command_id")) {
        return "";
    }
    return json::value_to<std::string>(v.at("command_id"));
}

bool round_trip(const Backend& b, const std::string& agent, const std::string& text) {
    const std::string id = enqueue_echo(b, agent, text);
    return !id.empty() && wait_until([&] { return b.command_state(id) == "succeeded"; }, 20s);
}

int status_with_token(Workspace& ws, const Backend& b, const std::string& token) {
    std::string code;
    run("curl -s -o /dev/null -w '%{http_code}' --cacert " + ws.pki("ca.crt") +
            " -H 'Authorization: Bearer " + token +
            "' https://127.0.0.1:" + std::to_string(b.ports().admin) + "/api/v1/agents",
        &code);
    return std::atoi(code.c_str());
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
    return text;
}

double metric(const Backend& b, const std::string& series) {
    std::string out;
    run("curl -s http://127.0.0.1:" + std::to_string(b.ports().health) + "/metrics", &out);
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(series + " ", 0) == 0) {
            return std::atof(line.substr(series.size() + 1).c_str());
        }
    }
    return -1;
}

class ReloadTest : public ::testing::Test {
protected:
    ReloadTest() : ws_({"gw-01", "gw-02"}) {}
    Workspace ws_;
};

TEST_F(ReloadTest, CertificateSwapKeepsLiveSessionsAndServesTheNewCertificate) {
    const std::string next_key = ws_.dir() + "/next.key";
    const std::string next_crt = ws_.dir() + "/next.crt";
    issue_backend_cert(ws_, next_key, next_crt);
    const std::string old_pin = ws_.backend_pin();
    const std::string new_pin = pin_of(next_crt);
    ASSERT_NE(old_pin, new_pin);

    Backend backend(ws_);
    backend.start();
    Gateway gw1(ws_, backend, {.agent = "gw-01", .pins = {old_pin, new_pin}});
    gw1.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw1.process().log();
    ASSERT_TRUE(round_trip(backend, "gw-01", "before"));
    EXPECT_EQ(served_pin(ws_, backend.ports().agents), old_pin);
    const std::size_t opened = count_audit(backend.audit_log(), {{"action", "session.open"}});

    // The swap: key and certificate each land by one rename, then SIGHUP.
    replace_file(ws_.pki("backend.key"), read_file(next_key), 0600);
    replace_file(ws_.pki("backend.crt"), read_file(next_crt), 0644);
    ASSERT_TRUE(reload(backend, "config.reloaded")) << backend.process().log();

    EXPECT_EQ(served_pin(ws_, backend.ports().agents), new_pin);
    // The session from before the swap is the same one: no new session.open, and a
    // command still round-trips over it.
    EXPECT_TRUE(round_trip(backend, "gw-01", "after"));
    EXPECT_EQ(count_audit(backend.audit_log(), {{"action", "session.open"}}), opened);
    EXPECT_EQ(backend.agent_state("gw-01"), "online");
    // A gateway that pins only the new key connects now.
    Gateway gw2(ws_, backend, {.agent = "gw-02", .pins = {new_pin}});
    gw2.start();
    EXPECT_TRUE(wait_until([&] { return backend.agent_state("gw-02") == "online"; }, 30s))
        << gw2.process().log();
    EXPECT_TRUE(round_trip(backend, "gw-02", "new"));
    gw2.stop_graceful();
    gw1.stop_graceful();
    backend.stop_graceful();
}

TEST_F(ReloadTest, BrokenCertificatesAreRejectedAndTheOldContextKept) {
    Backend backend(ws_);
    backend.start();
    Gateway gw1(ws_, backend, {.agent = "gw-01"});
    gw1.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s));
    const std::string old_pin = ws_.backend_pin();
    const std::string good_crt = read_file(ws_.pki("backend.crt"));

    // Half-written: the PEM stops in the middle of the base64 body.
    replace_file(ws_.pki("backend.crt"), good_crt.substr(0, good_crt.size() / 2), 0644);
    ASSERT_TRUE(reload(backend, "config.reload_rejected")) << backend.process().log();
    EXPECT_NE(last_rejection(backend.audit_log()).find("backend.crt"), std::string::npos)
        << last_rejection(backend.audit_log());
    EXPECT_EQ(served_pin(ws_, backend.ports().agents), old_pin);

    // A well-formed certificate whose key is not the configured one.
    const std::string other_key = ws_.dir() + "/other.key";
    const std::string other_crt = ws_.dir() + "/other.crt";
    issue_backend_cert(ws_, other_key, other_crt);
    replace_file(ws_.pki("backend.crt"), read_file(other_crt), 0644);
    ASSERT_TRUE(reload(backend, "config.reload_rejected"));
    // OpenSSL's own words: "key values mismatch" naming the key file.
    EXPECT_NE(last_rejection(backend.audit_log()).find("backend.key"), std::string::npos);
    EXPECT_NE(last_rejection(backend.audit_log()).find("mismatch"), std::string::npos)
        << last_rejection(backend.audit_log());
    EXPECT_EQ(served_pin(ws_, backend.ports().agents), old_pin);

    EXPECT_EQ(audits(backend, "config.reloaded"), 0u);
    EXPECT_EQ(backend.agent_state("gw-01"), "online");
    EXPECT_TRUE(round_trip(backend, "gw-01", "still serving"));

    // Repaired: the next SIGHUP is accepted.
    replace_file(ws_.pki("backend.crt"), good_crt, 0644);
    EXPECT_TRUE(reload(backend, "config.reloaded"));
    gw1.stop_graceful();
    backend.stop_graceful();
}

TEST_F(ReloadTest, InvalidConfigIsRejectedAuditedAndTheHostKeepsServing) {
    Backend backend(ws_);
    backend.start();
    Gateway gw1(ws_, backend, {.agent = "gw-01"});
    gw1.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s));
    const std::string good = read_file(backend.config_path());

    // Schema error (unknown key) and a weak secret.
    replace_file(backend.config_path(), good + "no_such_setting: 1\n", 0600);
    ASSERT_TRUE(reload(backend, "config.reload_rejected")) << backend.process().log();
    EXPECT_NE(last_rejection(backend.audit_log()).find("no_such_setting"), std::string::npos)
        << last_rejection(backend.audit_log());

    // A plugin section its plugin refuses: validated like at start-up.
    replace_file(backend.config_path(), replace_all(good, "capacity: 100000", "capacity: -5"),
                 0600);
    ASSERT_TRUE(reload(backend, "config.reload_rejected"));
    // The plugin's own schema error, reported before the start-up-only check.
    EXPECT_NE(last_rejection(backend.audit_log()).find("plugins.replay_memory.config.capacity"),
              std::string::npos)
        << last_rejection(backend.audit_log());

    // A start-up-only setting: refused with a clear message, not silently ignored.
    replace_file(
        backend.config_path(),
        replace_all(good, "threads: { loop: 2, blocking: 2 }", "threads: { loop: 1, blocking: 2 }"),
        0600);
    ASSERT_TRUE(reload(backend, "config.reload_rejected"));
    EXPECT_NE(last_rejection(backend.audit_log()).find("threads.loop"), std::string::npos);
    EXPECT_NE(last_rejection(backend.audit_log()).find("requires a restart"), std::string::npos);

    // Not YAML at all.
    replace_file(backend.config_path(), "role: [backend\n", 0600);
    ASSERT_TRUE(reload(backend, "config.reload_rejected"));

    EXPECT_EQ(audits(backend, "config.reloaded"), 0u);
    EXPECT_TRUE(backend.process().running());
    EXPECT_EQ(run("curl -fsS -o /dev/null http://127.0.0.1:" +
                  std::to_string(backend.ports().health) + "/readyz"),
              0);
    EXPECT_EQ(backend.agent_state("gw-01"), "online");
    EXPECT_TRUE(round_trip(backend, "gw-01", "old config"));
    gw1.stop_graceful();
    backend.stop_graceful();
}

TEST_F(ReloadTest, OperatorTokenAndConnectionCapTakeEffectAfterSighup) {
    Backend backend(ws_);
    backend.start();
    Gateway gw1(ws_, backend, {.agent = "gw-01"});
    gw1.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s));
    ASSERT_EQ(status_with_token(ws_, backend, ws_.token()), 200);

    std::string new_token;
    run("openssl rand -hex 24", &new_token);
    new_token = trim(new_token);
    std::string new_hash;
    run("printf '%s' '" + new_token + "' | sha256sum | cut -d' ' -f1", &new_hash);
    const std::string good = read_file(backend.config_path());
    const std::string rotated =
        replace_all(good, ws_.token_sha256(), trim(new_hash)) + "limits: { max_connections: 1 }\n";
    replace_file(backend.config_path(), rotated, 0600);
    ASSERT_TRUE(reload(backend, "config.reloaded")) << backend.process().log();

    // The limit gauges follow the reload (the guards' applier ran).
    EXPECT_EQ(metric(backend, "agenthost_limit{limit=\"max_connections\"}"), 1);
    EXPECT_EQ(status_with_token(ws_, backend, ws_.token()), 401);
    EXPECT_EQ(status_with_token(ws_, backend, new_token), 200);
    // The cap (1) holds gw-01's live session: gw-02 is refused before TLS, and counted.
    const std::string refused = "agenthost_connections_rejected_total{reason=\"max_connections\"}";
    const double refused_before = metric(backend, refused);
    Gateway gw2(ws_, backend, {.agent = "gw-02"});
    gw2.start();
    EXPECT_TRUE(wait_until([&] { return metric(backend, refused) > refused_before; }, 20s));
    // gw-01's live session was not dropped, and gw-02 did not get in.
    EXPECT_EQ(metric(backend, "agenthost_agent_sessions"), 1);

    // Raised again: gw-02 gets in on its next attempt. (The API now needs the new token,
    // so the state is read through the metric of live sessions.)
    replace_file(backend.config_path(),
                 replace_all(rotated, "max_connections: 1", "max_connections: 10"), 0600);
    ASSERT_TRUE(reload(backend, "config.reloaded"));
    EXPECT_TRUE(wait_until([&] { return metric(backend, "agenthost_agent_sessions") == 2; }, 30s))
        << gw2.process().log();
    gw2.stop_graceful();
    gw1.stop_graceful();
    backend.stop_graceful();
}

TEST_F(ReloadTest, GatewayLearnsANewPinOnSighup) {
    Backend backend(ws_);
    backend.start();
    // Pinned to a key the backend does not have: every attempt fails the pin check.
    const std::string other_key = ws_.dir() + "/other.key";
    const std::string other_crt = ws_.dir() + "/other.crt";
    issue_backend_cert(ws_, other_key, other_crt);
    Gateway gw1(ws_, backend, {.agent = "gw-01", .pins = {pin_of(other_crt)}});
    gw1.start();
    ASSERT_TRUE(
        wait_until([&] { return gw1.process().log().find("pin") != std::string::npos; }, 20s))
        << gw1.process().log();
    EXPECT_NE(backend.agent_state("gw-01"), "online");

    const std::string cfg = read_file(gw1.config_path());
    replace_file(gw1.config_path(),
                 replace_all(cfg, "pins: [ \"", "pins: [ \"" + ws_.backend_pin() + "\", \""), 0600);
    const std::size_t before = count_audit(gw1.audit_log(), {{"action", "config.reloaded"}});
    gw1.process().signal(SIGHUP);
    ASSERT_TRUE(wait_until(
        [&] {
            return count_audit(gw1.audit_log(), {{"action", "config.reloaded"}}) > before;
        },
        20s))
        << gw1.process().log();
    EXPECT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw1.process().log();

    // A gateway reload that changes a start-up-only setting is refused and audited.
    replace_file(gw1.config_path(),
                 replace_all(read_file(gw1.config_path()), "agent_id: gw-01", "agent_id: gw-09"),
                 0600);
    const std::size_t rejected =
        count_audit(gw1.audit_log(), {{"action", "config.reload_rejected"}});
    gw1.process().signal(SIGHUP);
    EXPECT_TRUE(wait_until(
        [&] {
            return count_audit(gw1.audit_log(), {{"action", "config.reload_rejected"}}) > rejected;
        },
        20s));
    EXPECT_NE(last_rejection(gw1.audit_log()).find("gateway.agent_id"), std::string::npos);
    EXPECT_EQ(backend.agent_state("gw-01"), "online");
    gw1.stop_graceful();
    backend.stop_graceful();
}

// ---- sd_notify against the real binary ----------------------------------------------

class NotifySocket {
public:
    NotifySocket() {
        path_ = env_or("TMPDIR", "/tmp") + "/ah-notify-" + std::to_string(::getpid()) + ".sock";
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        timeval tv{0, 200'000};  // receive() polls in short slices against a deadline
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~NotifySocket() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    const std::string& path() const { return path_; }
    // Waits for a message containing `needle`; every message seen is kept in `seen_`.
    bool expect(const std::string& needle, std::chrono::milliseconds timeout = 20s) {
        return wait_until(
            [&] {
                for (std::size_t i = checked_; i < seen_.size(); ++i) {
                    if (seen_[i].find(needle) != std::string::npos) {
                        checked_ = i + 1;
                        return true;
                    }
                }
                char buf[4096];
                const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
                if (n > 0) {
                    seen_.emplace_back(buf, static_cast<std::size_t>(n));
                }
                return false;
            },
            timeout, 0ms);
    }

private:
    std::string path_;
    int fd_ = -1;
    std::vector<std::string> seen_;
    std::size_t checked_ = 0;
};

TEST(SdNotify, BackendReportsReadyWatchdogReloadAndStopping) {
    Workspace ws({"gw-01"});
    NotifySocket sock;
    ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
    ::setenv("WATCHDOG_USEC", "2000000", 1);  // a ping every second
    Backend backend(ws);
    backend.start();
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");

    EXPECT_TRUE(sock.expect("READY=1"));
    EXPECT_TRUE(sock.expect("WATCHDOG=1"));
    EXPECT_TRUE(sock.expect("WATCHDOG=1"));  // a second ping: they repeat from the loop
    backend.process().signal(SIGHUP);
    EXPECT_TRUE(sock.expect("RELOADING=1\nMONOTONIC_USEC="));
    EXPECT_TRUE(sock.expect("READY=1\nSTATUS=serving agents on port"));
    backend.process().signal(SIGTERM);
    EXPECT_TRUE(sock.expect("STOPPING=1"));
    EXPECT_EQ(backend.process().wait(30s).value_or(-1), 0);
}

TEST(SdNotify, GatewayReportsReadyAndStopping) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    NotifySocket sock;
    ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
    ::setenv("WATCHDOG_USEC", "2000000", 1);
    Gateway gw(ws, backend, {.agent = "gw-01"});
    gw.start();
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    EXPECT_TRUE(sock.expect("READY=1"));
    EXPECT_TRUE(sock.expect("WATCHDOG=1"));
    gw.process().signal(SIGHUP);
    EXPECT_TRUE(sock.expect("RELOADING=1"));
    EXPECT_TRUE(sock.expect("READY=1"));
    gw.process().signal(SIGTERM);
    EXPECT_TRUE(sock.expect("STOPPING=1"));
    EXPECT_EQ(gw.process().wait(30s).value_or(-1), 0);
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
