// queue_redis end to end: a real backend (queue_redis on a private Redis 7) and a real
// gateway. Commands round-trip; with Redis killed enqueue answers 503 and /readyz 503
// while the agent stays connected and its telemetry keeps being stored; with Redis
// back everything works again without restarting anything.

#include <signal.h>

#include <fstream>

#include <gtest/gtest.h>

#include "tests/e2e/harness.hpp"
#include "tests/support/services.hpp"

namespace agenthost::e2e {
namespace {

std::string enqueue(const Backend& b, const std::string& agent, int* status) {
    std::string resp;
    *status = b.api("POST", "/api/v1/agents/" + agent + "/commands",
                    R"({"name":"builtin.echo","args":{"text":"via redis"}})", &resp);
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    if (ec || !v.is_object() || !v.as_object().contains("command_id")) {
        return "";
    }
    return json::value_to<std::string>(v.at("command_id"));
}

int readyz(const Backend& b) {
    std::string code;
    run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
            std::to_string(b.ports().health) + "/readyz",
        &code);
    return std::atoi(code.c_str());
}

std::size_t points(const Backend& b, const std::string& metric) {
    auto v = b.api_json("GET", "/api/v1/agents/gw-01/telemetry?metric=" + metric + "&limit=1000");
    return v.is_array() ? v.as_array().size() : 0;
}

TEST(QueueRedisE2E, CommandsRoundTripAndARedisOutageIsSurvived) {
    testsvc::RedisServer redis;
    Workspace ws({"gw-01"});
    BackendOptions bo;
    bo.queue_plugin = "queue_redis: { enabled: true, config: { url: \"" + redis.url() +
                      "\", key_prefix: \"e2e:\", sweep_interval_ms: 100 } }";
    Backend backend(ws, bo);
    backend.start();
    GatewayOptions go;
    go.collect_interval_s = 1;
    Gateway gw(ws, backend, go);
    gw.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw.process().log();

    int status = 0;
    for (int i = 0; i < 5; ++i) {
        const std::string id = enqueue(backend, "gw-01", &status);
        ASSERT_EQ(status, 202);
        ASSERT_TRUE(wait_until([&] { return backend.command_state(id) == "succeeded"; }, 30s))
            << backend.process().log();
    }
    const std::size_t sessions = count_audit(backend.audit_log(), {{"action", "session.open"}});
    ASSERT_EQ(sessions, 1u);

    // Redis dies (kill -9).
    std::ifstream pidfile(redis.dir() + "/redis.pid");
    pid_t pid = 0;
    pidfile >> pid;
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] { return readyz(backend) == 503; }, 15s));
    enqueue(backend, "gw-01", &status);
    EXPECT_EQ(status, 503);
    const std::string metric = "sys.load1";
    const std::size_t before = points(backend, metric);
    ASSERT_TRUE(wait_until([&] { return points(backend, metric) >= before + 2; }, 30s))
        << "telemetry keeps flowing while Redis is down";
    EXPECT_EQ(backend.agent_state("gw-01"), "online");
    EXPECT_EQ(count_audit(backend.audit_log(), {{"action", "session.open"}}), sessions)
        << "the agent stayed connected";

    // Redis is back: no restart of anything.
    redis.start();
    ASSERT_TRUE(wait_until([&] { return readyz(backend) == 200; }, 30s));
    const std::string id = enqueue(backend, "gw-01", &status);
    ASSERT_EQ(status, 202);
    ASSERT_TRUE(wait_until([&] { return backend.command_state(id) == "succeeded"; }, 30s))
        << backend.process().log();
    EXPECT_EQ(count_audit(backend.audit_log(), {{"action", "session.open"}}), sessions);

    gw.stop_graceful();
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
