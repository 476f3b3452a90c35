// Issue 6 item 3, end to end with real processes: a fail-closed backend whose audit
// log becomes unwritable (a directory replaces the file: root ignores permissions, a
// directory really cannot be written) refuses audited actions (enqueue 503), refuses
// new agent sessions (1013) so that a queued command is not dispatched unaudited,
// fails readiness, and recovers by itself once the path is writable again; the chain
// verifies across the outage. A second test runs a backend and a gateway with known
// secrets and greps every log and audit file for them.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

namespace fs = std::filesystem;

std::string enqueue(const Backend& b, const std::string& agent, const std::string& body,
                    int* status, std::string* response = nullptr) {
    std::string resp;
    *status = b.api("POST", "/api/v1/agents/" + agent + "/commands", body, &resp);
    if (response) *response = resp;
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    if (ec || !v.is_object() || !v.as_object().contains("command_id")) return "";
    return json::value_to<std::string>(v.at("command_id"));
}

bool ready(const Backend& b) {
    return run("curl -fsS -o /dev/null http://127.0.0.1:" + std::to_string(b.ports().health) +
               "/readyz 2>/dev/null") == 0;
}

double metric(const Backend& b, const std::string& name) {
    std::string out;
    run("curl -fsS http://127.0.0.1:" + std::to_string(b.ports().health) + "/metrics", &out);
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name + " ", 0) == 0 || line.rfind(name + "{", 0) == 0) {
            return std::stod(line.substr(line.rfind(' ') + 1));
        }
    }
    return -1;
}

// A 32-byte audit key (base64, 0600) under the workspace's keys/.
std::string make_audit_key(Workspace& ws, std::string* b64 = nullptr) {
    const std::string path = ws.dir() + "/keys/audit.key";
    std::string key;
    run("openssl rand -base64 32", &key);
    while (!key.empty() && key.back() == '\n')
        key.pop_back();
    write_file(path, key + "\n", 0600);
    if (b64) *b64 = key;
    return path;
}

BackendOptions fail_closed_backend(Workspace& ws, const std::string& key_file) {
    BackendOptions o;
    const std::string state = ws.dir() + "/" + o.name;
    o.audit_plugin = "audit_file: { enabled: true, config: { path: " + state +
                     "/audit.log, key_file: " + key_file +
                     ", fsync: always, probe_interval_ms: 200, write_timeout_ms: 1000 } }";
    o.extra_yaml = "audit: { fail_closed: true }\n";
    o.ack_timeout_s = 2;
    o.max_attempts = 50;
    return o;
}

TEST(AuditFailClosed, UnwritableSinkRefusesActionsDispatchesNothingAndRecovers) {
    Workspace ws({"gw-01"});
    const std::string key_file = make_audit_key(ws);
    Backend backend(ws, fail_closed_backend(ws, key_file));
    backend.start();
    const std::string log = backend.audit_log();
    {
        Gateway gw(ws, backend);
        gw.start();
        ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
            << gw.process().log();
        gw.stop_graceful();
        ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "offline"; }, 10s));
    }
    int status = 0;
    const std::string queued =
        enqueue(backend, "gw-01", R"({"name":"builtin.echo","args":{}})", &status);
    ASSERT_EQ(status, 202);  // waits for the agent, which is offline
    // Every record so far is on disk (they are written in order; this one is last).
    ASSERT_TRUE(wait_until(
        [&] {
            return count_audit(log, {{"action", "command.enqueue"}, {"target", queued}}) == 1;
        },
        10s));

    // Break the sink: the file is gone and a directory sits at its path.
    const std::string saved = ws.dir() + "/audit-before.log";
    fs::copy_file(log, saved);
    fs::remove(log);
    fs::create_directory(log);
    ASSERT_TRUE(wait_until([&] { return !ready(backend); }, 5s)) << "readiness fails";

    std::string resp;
    EXPECT_TRUE(
        enqueue(backend, "gw-01", R"({"name":"builtin.echo","args":{}})", &status, &resp).empty());
    EXPECT_EQ(status, 503) << resp;
    EXPECT_NE(resp.find("audit_unavailable"), std::string::npos) << resp;
    EXPECT_EQ(backend.api("POST", "/api/v1/agents/gw-01/revoke"), 503);
    EXPECT_NE(backend.agent_state("gw-01"), "revoked");

    // A new session cannot be audited: refused (1013), so the queued command is not
    // dispatched while nothing could record it.
    Gateway gw(ws, backend);
    gw.start();
    ASSERT_TRUE(
        wait_until([&] { return metric(backend, "agenthost_audit_refused_actions") >= 3; }, 20s))
        << gw.process().log();
    EXPECT_NE(backend.agent_state("gw-01"), "online");
    EXPECT_EQ(backend.command_state(queued), "queued");

    // Recovery: the path is writable again; a probe write brings the sink back.
    fs::remove(log);
    ASSERT_TRUE(wait_until([&] { return ready(backend); }, 5s)) << backend.process().log();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw.process().log();
    ASSERT_TRUE(wait_until([&] { return backend.command_state(queued) == "succeeded"; }, 30s));
    const std::string after =
        enqueue(backend, "gw-01", R"({"name":"builtin.echo","args":{}})", &status);
    EXPECT_EQ(status, 202);
    gw.stop_graceful();
    backend.stop_graceful();

    // Nothing was dispatched unaudited: the one dispatch of `queued` is in the new file.
    EXPECT_EQ(count_audit(saved, {{"action", "command.dispatch"}, {"target", queued}}), 0u);
    EXPECT_GE(count_audit(log, {{"action", "command.dispatch"}, {"target", queued}}), 1u);
    EXPECT_EQ(count_audit(log, {{"action", "audit.sink_recovered"}}), 1u);
    EXPECT_GE(count_audit(log, {{"action", "command.enqueue"}, {"target", after}}), 1u);
    std::string out;
    const int rc = run(env_or("AGENTHOST_BIN", "agenthost") + " audit verify --key " + key_file +
                           " --checkpoints " + log + ".checkpoints " + saved + " " + log,
                       &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("audit.sink_recovered"), std::string::npos) << out;
}

// Every byte the processes wrote outside keys/ and pki/: logs, audit, state.
std::vector<std::string> written_files(const std::string& dir) {
    std::vector<std::string> out;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
        const std::string name = it->path().filename().string();
        if (it->is_directory() && (name == "keys" || name == "pki")) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file() && it->path().extension() != ".yaml") {
            out.push_back(it->path().string());
        }
    }
    return out;
}

TEST(AuditSecrets, NoSecretAppearsInAnyLogOrAuditFile) {
    Workspace ws({"gw-01"});
    std::string audit_key_b64;
    const std::string key_file = make_audit_key(ws, &audit_key_b64);
    Backend backend(ws, fail_closed_backend(ws, key_file));
    backend.start();
    Gateway gw(ws, backend);
    gw.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s));

    // Exercise the paths that log and audit: good and bad authentication (the real
    // token in a wrong scheme, a near miss), commands, revoke, a rejected reload.
    for (const std::string& auth : {"Basic " + ws.token(), "Bearer " + ws.token() + "x"}) {
        std::string code;
        run("curl -sS -o /dev/null -w '%{http_code}' --cacert " + ws.pki("ca.crt") +
                " -H 'Authorization: " + auth +
                "' https://127.0.0.1:" + std::to_string(backend.ports().admin) + "/api/v1/agents",
            &code);
        EXPECT_EQ(code, "401");
    }
    int status = 0;
    const std::string id =
        enqueue(backend, "gw-01",
                R"({"name":"builtin.echo","args":{"password":"hunter2-not-secret"}})", &status);
    ASSERT_EQ(status, 202);
    ASSERT_TRUE(wait_until([&] { return backend.command_state(id) == "succeeded"; }, 30s));
    backend.process().signal(SIGHUP);  // the reload path logs and audits too
    EXPECT_EQ(backend.api("POST", "/api/v1/agents/gw-01/revoke"), 200);
    ASSERT_TRUE(wait_until(
        [&] {
            return count_audit(backend.audit_log(), {{"action", "agent.revoke"}}) >= 1;
        },
        10s));
    gw.stop_graceful();
    backend.stop_graceful();

    const std::string master = read_file(ws.master_key());
    const std::string agent_key = read_file(ws.agent_key("gw-01"));
    std::map<std::string, std::string> secrets{
        {"operator token", ws.token()},
        {"master key (base64)", master.substr(0, master.find('\n'))},
        {"agent HMAC key (base64)", agent_key.substr(0, agent_key.find('\n'))},
        {"audit key (base64)", audit_key_b64},
    };
    std::string hex;
    run("base64 -d < " + ws.master_key() + " | od -An -tx1 | tr -d ' \\n'", &hex);
    while (!hex.empty() && hex.back() == '\n')
        hex.pop_back();
    ASSERT_EQ(hex.size(), 64u);
    secrets.emplace("master key (hex)", hex);
    const auto files = written_files(ws.dir());
    ASSERT_GE(files.size(), 4u);
    std::size_t audit_files = 0;
    for (const auto& f : files) {
        const std::string text = read_file(f);
        audit_files += f.find("audit.log") != std::string::npos ? 1 : 0;
        for (const auto& [what, secret] : secrets) {
            ASSERT_GE(secret.size(), 32u) << what;
            EXPECT_EQ(text.find(secret), std::string::npos) << what << " found in " << f;
        }
    }
    EXPECT_GE(audit_files, 2u) << "backend and gateway audit logs were checked";
    EXPECT_GE(count_audit(backend.audit_log(), {{"action", "auth.failed"}}), 2u);
}

}  // namespace
}  // namespace agenthost::e2e
