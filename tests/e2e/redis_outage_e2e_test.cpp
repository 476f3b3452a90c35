// A Redis outage under the cluster profile (identity_postgres + telemetry_postgres on a
// fresh PostgreSQL database, queue_redis + replay_redis with `fallback: local` on a
// private Redis 7), one real backend and two real gateways, real TLS (issue 5 item 4):
//  - Redis killed (-9): enqueue answers 503 with the API.md error body, /readyz 503,
//    the agents stay connected (no new session, state online) while telemetry keeps
//    being acked and stored in PostgreSQL, replay checks run degraded (metrics), and a
//    result that arrives during the outage is not lost;
//  - Redis back: /readyz 200 without a restart, enqueue works, every command accepted
//    before the outage reaches exactly one terminal state (succeeded), none executed
//    twice, the degraded state clears.

#include <signal.h>

#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/e2e/harness.hpp"
#include "tests/support/services.hpp"

namespace agenthost::e2e {
namespace {

const std::vector<std::string> kAgents = {"gw-01", "gw-02"};

std::string enqueue(const Backend& b, const std::string& agent, const std::string& body,
                    int* status, std::string* response = nullptr) {
    std::string resp;
    *status = b.api("POST", "/api/v1/agents/" + agent + "/commands", body, &resp);
    if (response != nullptr) {
        *response = resp;
    }
    boost::system::error_code ec;
    auto v = json::parse(resp, ec);
    if (ec || !v.is_object() || !v.as_object().contains("command_id")) {
        return "";
    }
    return json::value_to<std::string>(v.at("command_id"));
}

std::string echo(int n) {
    return R"({"name":"builtin.echo","args":{"text":"outage )" + std::to_string(n) + R"("}})";
}

int readyz(const Backend& b) {
    std::string code;
    run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
            std::to_string(b.ports().health) + "/readyz",
        &code);
    return std::atoi(code.c_str());
}

// The value of an unlabelled series in /metrics (-1 when absent).
double metric(const Backend& b, const std::string& name) {
    std::string out;
    run("curl -s http://127.0.0.1:" + std::to_string(b.ports().health) + "/metrics", &out);
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(name + " ", 0) == 0) {
            return std::atof(line.c_str() + name.size() + 1);
        }
    }
    return -1;
}

// Telemetry points of one metric stored for the agent (read back from PostgreSQL).
std::size_t points(const Backend& b, const std::string& agent) {
    auto v =
        b.api_json("GET", "/api/v1/agents/" + agent + "/telemetry?metric=sys.load1&limit=1000");
    return v.is_array() ? v.as_array().size() : 0;
}

std::size_t sessions_opened(const Backend& b) {
    return count_audit(b.audit_log(), {{"action", "session.open"}});
}

std::size_t count_lines(const std::string& log, const std::string& a, const std::string& b) {
    std::istringstream in(log);
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        n += line.find(a) != std::string::npos && line.find(b) != std::string::npos ? 1 : 0;
    }
    return n;
}

TEST(RedisOutageE2E, SessionsAndTelemetrySurviveAndNothingAcceptedIsLost) {
    testsvc::RedisServer redis;
    const std::string pg = testsvc::fresh_postgres_database();
    Workspace ws(kAgents);
    BackendOptions bo;
    bo.identity_plugin = "identity_postgres: { enabled: true, config: { url: \"" + pg + "\" } }";
    bo.telemetry_plugin = "telemetry_postgres: { enabled: true, config: { url: \"" + pg + "\" } }";
    bo.queue_plugin = "queue_redis: { enabled: true, config: { url: \"" + redis.url() +
                      "\", key_prefix: \"outage:q:\", ack_timeout_s: 5, sweep_interval_ms: 100, "
                      "rescan_interval_s: 1, command_timeout_ms: 500 } }";
    bo.replay_plugin = "replay_redis: { enabled: true, config: { url: \"" + redis.url() +
                       "\", key_prefix: \"outage:r:\", command_timeout_ms: 500, "
                       "fallback: local } }";
    Backend backend(ws, bo);
    backend.start();
    std::vector<std::unique_ptr<Gateway>> gateways;
    for (const auto& agent : kAgents) {
        GatewayOptions go;
        go.agent = agent;
        go.collect_interval_s = 1;
        gateways.push_back(std::make_unique<Gateway>(ws, backend, go));
        gateways.back()->start();
    }
    for (const auto& agent : kAgents) {
        ASSERT_TRUE(wait_until([&] { return backend.agent_state(agent) == "online"; }, 60s))
            << backend.process().log();
    }
    const std::size_t sessions = sessions_opened(backend);
    ASSERT_EQ(sessions, kAgents.size());

    // Commands round-trip through Redis.
    std::vector<std::string> accepted;
    int status = 0;
    for (int i = 0; i < 4; ++i) {
        const std::string id = enqueue(backend, kAgents[i % 2], echo(i), &status);
        ASSERT_EQ(status, 202);
        accepted.push_back(id);
    }
    for (const auto& id : accepted) {
        ASSERT_TRUE(wait_until([&] { return backend.command_state(id) == "succeeded"; }, 30s))
            << id << "\n"
            << backend.process().log();
    }
    // In flight across the outage: each agent is executing a 3 s sleep (acked) whose
    // result arrives while Redis is down, and more commands wait behind it.
    std::vector<std::string> sleeping;
    for (const auto& agent : kAgents) {
        const std::string id =
            enqueue(backend, agent, R"({"name":"builtin.sleep","args":{"seconds":3}})", &status);
        ASSERT_EQ(status, 202);
        sleeping.push_back(id);
        accepted.push_back(id);
    }
    for (const auto& id : sleeping) {
        ASSERT_TRUE(wait_until([&] { return backend.command_state(id) == "acked"; }, 30s)) << id;
    }
    for (int i = 4; i < 10; ++i) {
        const std::string id = enqueue(backend, kAgents[i % 2], echo(i), &status);
        ASSERT_EQ(status, 202);
        accepted.push_back(id);
    }
    ASSERT_EQ(metric(backend, "replay_degraded"), 0.0);

    // Redis dies (kill -9: no shutdown save; the AOF with appendfsync always has every
    // write Redis acknowledged).
    std::ifstream pidfile(redis.dir() + "/redis.pid");
    pid_t pid = 0;
    pidfile >> pid;
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);

    ASSERT_TRUE(wait_until([&] { return readyz(backend) == 503; }, 15s));
    std::string body;
    enqueue(backend, "gw-01", echo(100), &status, &body);
    EXPECT_EQ(status, 503);
    {
        boost::system::error_code ec;
        auto v = json::parse(body, ec);
        ASSERT_FALSE(ec) << body;
        ASSERT_TRUE(v.is_object() && v.as_object().contains("error")) << body;
        const auto& err = v.at("error").as_object();
        EXPECT_TRUE(err.contains("code") && err.at("code").is_string()) << body;
        EXPECT_TRUE(err.contains("message") && err.at("message").is_string()) << body;
    }
    // Telemetry keeps being acked and stored (PostgreSQL) for both agents, and the
    // sleeps' results come in while Redis is still down: the outage lasts until all
    // of that was seen, with no session closed meanwhile.
    std::map<std::string, std::size_t> before;
    for (const auto& agent : kAgents) {
        before[agent] = points(backend, agent);
    }
    ASSERT_TRUE(wait_until(
        [&] {
            for (const auto& agent : kAgents) {
                if (points(backend, agent) < before[agent] + 3) {
                    return false;
                }
            }
            // A result the session cannot record: either its queue lookup failed, or
            // (a command delivered in this session needs no lookup) it was stored in
            // PostgreSQL but its state update failed. Either way it stays unacked.
            const std::string log = backend.process().log();
            return count_lines(log, "result not stored", "") +
                       count_lines(log, "result stored but command state not updated", "") >=
                   1;
        },
        60s))
        << "telemetry stored during the outage: " << points(backend, "gw-01") << "/"
        << points(backend, "gw-02") << "\n"
        << backend.process().log();
    EXPECT_EQ(readyz(backend), 503) << "Redis is still down";
    for (const auto& agent : kAgents) {
        EXPECT_EQ(backend.agent_state(agent), "online") << agent;
    }
    EXPECT_EQ(sessions_opened(backend), sessions) << "the agents stayed connected";
    EXPECT_EQ(metric(backend, "replay_degraded"), 1.0);
    EXPECT_GT(metric(backend, "replay_degraded_checks_total"), 0.0);

    // Redis is back: no restart of anything.
    redis.start();
    ASSERT_TRUE(wait_until([&] { return readyz(backend) == 200; }, 30s)) << backend.process().log();
    const std::string after = enqueue(backend, "gw-02", echo(200), &status);
    ASSERT_EQ(status, 202);
    accepted.push_back(after);
    for (const auto& id : accepted) {
        EXPECT_TRUE(wait_until([&] { return backend.command_state(id) == "succeeded"; }, 60s))
            << id << " is " << backend.command_state(id) << "\n"
            << backend.process().log();
    }
    // Exactly one execution each (the gateways log every execution).
    for (const auto& id : accepted) {
        std::size_t runs = 0;
        for (auto& g : gateways) {
            runs += count_lines(g->process().log(), "executing command", id);
        }
        EXPECT_EQ(runs, 1u) << id;
    }
    EXPECT_EQ(sessions_opened(backend), sessions) << "no reconnect through the whole outage";
    EXPECT_TRUE(wait_until(
        [&] {
            return metric(backend, "replay_degraded") == 0.0 &&
                   metric(backend, "replay_write_back_pending") == 0.0;
        },
        30s));
    EXPECT_GT(metric(backend, "replay_written_back_total"), 0.0);

    for (auto& g : gateways) {
        g->stop_graceful();
    }
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
