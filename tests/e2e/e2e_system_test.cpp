// Acceptance of the embedded profile end to end: a backend and gateways as real
// processes over real mutual TLS, commands and telemetry through the operator API.

#include <gtest/gtest.h>

#include <set>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

std::string enqueue(const Backend& b, const std::string& agent, const std::string& body,
                    int* status = nullptr, std::vector<std::string> headers = {}) {
    std::string resp;
    int st = b.api("POST", "/api/v1/agents/" + agent + "/commands", body, &resp, headers);
    if (status) *status = st;
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    if (ec || !v.is_object() || !v.as_object().contains("command_id")) return "";
    return json::value_to<std::string>(v.at("command_id"));
}

bool terminal(const std::string& s) {
    static const std::set<std::string> t{"succeeded", "failed",    "rejected",
                                         "timed_out", "cancelled", "dead_lettered"};
    return t.count(s) > 0;
}

std::string wait_terminal(const Backend& b, const std::string& id,
                          std::chrono::milliseconds timeout = 30s) {
    std::string st;
    wait_until([&] { return terminal(st = b.command_state(id)); }, timeout, 50ms);
    return st;
}

TEST(E2E, AgentRegistersAndCommandRoundTrips) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    Gateway gw(ws, backend);
    gw.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw.process().log();

    auto agent = backend.api_json("GET", "/api/v1/agents/gw-01").as_object();
    EXPECT_EQ(json::value_to<std::string>(agent.at("host_id")), "backend");
    EXPECT_TRUE(agent.at("capabilities").is_array());

    int status = 0;
    std::string id = enqueue(backend, "gw-01",
                             R"({"name":"builtin.echo","args":{"text":"round trip"}})", &status);
    ASSERT_EQ(status, 202);
    ASSERT_FALSE(id.empty());
    ASSERT_EQ(wait_terminal(backend, id), "succeeded") << gw.process().log();
    auto cmd = backend.api_json("GET", "/api/v1/commands/" + id).as_object();
    ASSERT_TRUE(cmd.contains("result"));
    EXPECT_NE(json::serialize(cmd.at("result")).find("round trip"), std::string::npos);
    EXPECT_GE(count_audit(backend.audit_log(), {{"action", "command.enqueue"}}), 1u);

    gw.stop_graceful();
    EXPECT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "offline"; }, 10s));
    backend.stop_graceful();
}

TEST(E2E, DuplicateSessionIsRefusedAndFirstKeepsWorking) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    Gateway first(ws, backend);
    first.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s));

    GatewayOptions dup_opts;
    dup_opts.name = "gw-01-copy";
    Gateway second(ws, backend, dup_opts);
    second.start();
    ASSERT_TRUE(wait_until(
        [&] { return count_audit(backend.audit_log(), {{"action", "session.duplicate"}}) >= 1; },
        30s))
        << second.process().log();
    // Both certificate fingerprints are in the audit record.
    std::string audit = read_file(backend.audit_log());
    auto pos = audit.find("session.duplicate");
    ASSERT_NE(pos, std::string::npos);
    auto line_end = audit.find('\n', pos);
    auto line_start = audit.rfind('\n', pos);
    std::string line = audit.substr(line_start + 1, line_end - line_start - 1);
    EXPECT_NE(line.find("existing_fingerprint"), std::string::npos) << line;
    EXPECT_NE(line.find("fingerprint"), std::string::npos) << line;

    second.kill9();
    std::string id = enqueue(backend, "gw-01", R"({"name":"builtin.echo","args":{"text":"x"}})");
    EXPECT_EQ(wait_terminal(backend, id), "succeeded");
    first.stop_graceful();
    backend.stop_graceful();
}

TEST(E2E, QueueFullAnswers429AndEveryAcceptedCommandIsAccountedFor) {
    Workspace ws({"gw-01"});
    BackendOptions bo;
    bo.queue_max_depth = 3;
    Backend backend(ws, bo);
    backend.start();
    {
        Gateway gw(ws, backend);
        gw.start();
        ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s));
        gw.stop_graceful();
    }
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "offline"; }, 10s));

    std::vector<std::string> accepted;
    for (int i = 0; i < 3; ++i) {
        int st = 0;
        accepted.push_back(
            enqueue(backend, "gw-01", R"({"name":"builtin.echo","args":{"text":"q"}})", &st));
        ASSERT_EQ(st, 202);
    }
    std::string resp;
    int st = backend.api("POST", "/api/v1/agents/gw-01/commands",
                         R"({"name":"builtin.echo","args":{}})", &resp);
    EXPECT_EQ(st, 429) << resp;
    // Retry-After is present on the 429.
    std::string headers;
    run("curl -sS -D - -o /dev/null --cacert " + ws.pki("ca.crt") + " -X POST -H 'Authorization: Bearer " +
            ws.token() + "' -H 'Content-Type: application/json' --data '{\"name\":\"builtin.echo\"}' "
            "https://127.0.0.1:" + std::to_string(backend.ports().admin) +
            "/api/v1/agents/gw-01/commands",
        &headers);
    EXPECT_NE(headers.find("etry-After"), std::string::npos) << headers;

    Gateway gw(ws, backend);
    gw.start();
    for (auto& id : accepted) EXPECT_EQ(wait_terminal(backend, id), "succeeded");
    std::string more = enqueue(backend, "gw-01", R"({"name":"builtin.echo","args":{}})", &st);
    EXPECT_EQ(st, 202);
    EXPECT_EQ(wait_terminal(backend, more), "succeeded");
    gw.stop_graceful();
    backend.stop_graceful();
}

TEST(E2E, WrongPinRefusedNextPinAccepted) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    const std::string wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    {
        GatewayOptions o;
        o.pins = {wrong};
        Gateway gw(ws, backend, o);
        gw.start();
        ASSERT_TRUE(wait_until(
            [&] { return gw.process().log().find("pin mismatch") != std::string::npos; }, 30s))
            << gw.process().log();
        EXPECT_NE(backend.agent_state("gw-01"), "online");
        gw.stop_graceful();
    }
    GatewayOptions o;
    o.pins = {wrong, ws.backend_pin()};  // current (old) + next: rotation in progress
    Gateway gw(ws, backend, o);
    gw.start();
    EXPECT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw.process().log();
    gw.stop_graceful();
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
