// The gateway as a real process against a real backend (mutual TLS, real plugins):
// a crash while a command runs is answered `failed` after the restart and never
// re-executed; the allowlist handler runs a configured program and refuses bad input.
#include <gtest/gtest.h>

#include <sstream>

#include "tests/e2e/harness.hpp"

namespace agenthost::e2e {
namespace {

std::string enqueue(const Backend& b, const std::string& body, int* status = nullptr) {
    std::string resp;
    const int st = b.api("POST", "/api/v1/agents/gw-01/commands", body, &resp);
    if (status != nullptr) {
        *status = st;
    }
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    if (ec || !v.is_object() || !v.as_object().contains("command_id")) {
        return "";
    }
    return json::value_to<std::string>(v.at("command_id"));
}

bool is_terminal(const std::string& s) {
    return s == "succeeded" || s == "failed" || s == "rejected" || s == "timed_out" ||
           s == "cancelled" || s == "dead_lettered";
}

json::object wait_result(const Backend& b, const std::string& id,
                         std::chrono::milliseconds timeout = 30s) {
    std::string st;
    wait_until([&] { return is_terminal(st = b.command_state(id)); }, timeout, 50ms);
    auto cmd = b.api_json("GET", "/api/v1/commands/" + id);
    return cmd.is_object() ? cmd.as_object() : json::object{};
}

std::string field(const json::object& cmd, const char* name) {
    if (const auto* r = cmd.if_contains("result"); r && r->is_object()) {
        if (const auto* v = r->as_object().if_contains(name); v && v->is_string()) {
            return std::string(v->as_string());
        }
    }
    return "";
}

TEST(GatewayE2E, CrashDuringACommandIsReportedFailedNotRerun) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    auto gw = std::make_unique<Gateway>(ws, backend);
    gw->start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw->process().log();
    int status = 0;
    const std::string id = enqueue(
        backend, R"({"name":"builtin.sleep","args":{"seconds":60},"timeout_s":120})", &status);
    ASSERT_EQ(status, 202);
    // Running: the durable "started" record exists before the handler runs.
    ASSERT_TRUE(wait_until(
        [&] { return gw->process().log().find("executing command") != std::string::npos; }, 30s))
        << gw->process().log();
    gw->kill9();
    const auto restart = std::chrono::steady_clock::now();
    gw = std::make_unique<Gateway>(ws, backend);
    gw->start();
    auto cmd = wait_result(backend, id);
    EXPECT_EQ(json::value_to<std::string>(cmd.at("state")), "failed") << gw->process().log();
    EXPECT_EQ(field(cmd, "output"), "interrupted by gateway restart");
    EXPECT_TRUE(cmd.at("result").as_object().at("exit_code").is_null());
    // Answered long before a re-run 60 s sleep could have finished.
    EXPECT_LT(std::chrono::steady_clock::now() - restart, 45s);
    gw->stop_graceful();
    // The handler ran exactly once across both gateway lives (one log file, appended).
    std::string log = gw->process().log();
    std::size_t runs = 0;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        runs += line.find("executing command") != std::string::npos &&
                line.find(id) != std::string::npos;
    }
    EXPECT_EQ(runs, 1u) << log;
    // Exactly one terminal state: the stored outcome does not change afterwards.
    EXPECT_EQ(backend.command_state(id), "failed");
    backend.stop_graceful();
}

TEST(GatewayE2E, AllowlistRunsConfiguredProgramsOnly) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    GatewayOptions go;
    go.extra_plugins_yaml =
        "  exec_allowlist:\n"
        "    enabled: true\n"
        "    config:\n"
        "      programs:\n"
        "        echo:\n"
        "          argv: [ \"/bin/echo\", \"{word}\" ]\n"
        "          args: { word: { pattern: \"[a-z]+\", required: true } }\n";
    Gateway gw(ws, backend, go);
    gw.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw.process().log();
    auto agent = backend.api_json("GET", "/api/v1/agents/gw-01").as_object();
    EXPECT_NE(json::serialize(agent.at("capabilities")).find("allowlist.echo"), std::string::npos);

    const std::string ok = enqueue(backend, R"({"name":"allowlist.echo","args":{"word":"hello"}})");
    auto cmd = wait_result(backend, ok);
    EXPECT_EQ(json::value_to<std::string>(cmd.at("state")), "succeeded") << gw.process().log();
    EXPECT_EQ(field(cmd, "output"), "hello\n");

    const std::string bad =
        enqueue(backend, R"({"name":"allowlist.echo","args":{"word":"hello; rm -rf /"}})");
    cmd = wait_result(backend, bad);
    EXPECT_EQ(json::value_to<std::string>(cmd.at("state")), "rejected");

    int status = 0;
    const std::string unknown = enqueue(backend, R"({"name":"nosuch.command","args":{}})", &status);
    if (status == 202) {  // the backend may also refuse names the agent did not announce
        cmd = wait_result(backend, unknown);
        EXPECT_EQ(json::value_to<std::string>(cmd.at("state")), "rejected");
    }
    gw.stop_graceful();
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
