// Acceptance of the embedded profile end to end: a backend and gateways as real
// processes over real mutual TLS, commands and telemetry through the operator API.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
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

// The API answers point timestamps as RFC 3339 strings or Unix ms integers.
std::int64_t util_parse_ts(const json::value& v) {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(v.as_uint64());
    std::string s = json::value_to<std::string>(v);
    std::tm tm{};
    int ms = 0;
    std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
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

// A command and a result far larger than one TLS record (and than the per-thread
// 16 KiB write block of kernel/net/fd_tls_stream) cross both directions intact: the
// stream passes them in many records, not truncated or refused.
TEST(E2E, LargeCommandAndResultCrossTheTlsBuffersIntact) {
    Workspace ws({"gw-01"});
    Backend backend(ws);
    backend.start();
    Gateway gw(ws, backend);
    gw.start();
    ASSERT_TRUE(wait_until([&] { return backend.agent_state("gw-01") == "online"; }, 30s))
        << gw.process().log();

    std::string text;
    text.reserve(60000);
    for (std::size_t i = 0; text.size() < 60000; ++i) {
        text += std::to_string(i % 9973);
        text.push_back('-');
    }
    text.resize(60000);
    int status = 0;
    std::string id = enqueue(backend, "gw-01",
                             R"({"name":"builtin.echo","args":{"text":")" + text + R"("}})",
                             &status);
    ASSERT_EQ(status, 202);
    ASSERT_EQ(wait_terminal(backend, id), "succeeded") << gw.process().log();
    auto cmd = backend.api_json("GET", "/api/v1/commands/" + id).as_object();
    ASSERT_TRUE(cmd.contains("result"));
    const std::string result = json::serialize(cmd.at("result"));
    EXPECT_NE(result.find(text), std::string::npos) << "result of " << result.size() << " bytes";
    EXPECT_EQ(result.find("\"truncated\":true"), std::string::npos);
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

// Points for one metric, oldest first, as the API returns them (newest first, capped).
std::vector<std::int64_t> metric_ts(const Backend& b, const std::string& agent,
                                    const std::string& metric, std::size_t* duplicates) {
    auto v = b.api_json("GET", "/api/v1/agents/" + agent + "/telemetry?metric=" + metric +
                                   "&limit=1000");
    std::vector<std::int64_t> ts;
    std::set<std::string> keys;
    if (duplicates) *duplicates = 0;
    if (!v.is_array()) return ts;
    for (auto& p : v.as_array()) {
        auto& o = p.as_object();
        std::string key = json::serialize(o.at("ts")) + json::serialize(o.at("labels"));
        if (!keys.insert(key).second && duplicates) ++*duplicates;
        auto t = util_parse_ts(o.at("ts"));
        ts.push_back(t);
    }
    std::sort(ts.begin(), ts.end());
    ts.erase(std::unique(ts.begin(), ts.end()), ts.end());
    return ts;
}

TEST(E2E, TelemetryCollectedWhileBackendIsDownIsStoredExactlyOnce) {
    Workspace ws({"gw-01"});
    BackendOptions bo;
    bo.fixed_ports = true;
    Backend backend(ws, bo);
    backend.start();
    GatewayOptions go;
    go.collect_interval_s = 1;
    Gateway gw(ws, backend, go);
    gw.start();
    const std::string metric = "sys.load1";
    ASSERT_TRUE(wait_until([&] { return metric_ts(backend, "gw-01", metric, nullptr).size() >= 2; },
                           30s))
        << gw.process().log();

    backend.stop_graceful();
    auto down_at = std::chrono::system_clock::now();
    // The outage lasts until the gateway has failed to reconnect a few times while its
    // collector kept sampling into the spool.
    std::size_t base = gw.process().log().size();
    ASSERT_TRUE(wait_until(
        [&] {
            std::string log = gw.process().log().substr(base);
            std::size_t n = 0;
            for (auto p = log.find("reconnect"); p != std::string::npos;
                 p = log.find("reconnect", p + 1)) {
                ++n;
            }
            return n >= 3 && std::chrono::system_clock::now() - down_at > 3s;
        },
        60s))
        << gw.process().log();
    auto up_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    backend.start();

    // Wait until points collected after the restart arrive: the spool has drained.
    ASSERT_TRUE(wait_until(
        [&] {
            auto ts = metric_ts(backend, "gw-01", metric, nullptr);
            return !ts.empty() && ts.back() > up_at_ms + 1000;
        },
        60s))
        << gw.process().log();
    std::size_t dups = 0;
    auto ts = metric_ts(backend, "gw-01", metric, &dups);
    EXPECT_EQ(dups, 0u);
    // No gap: every sampling tick during the outage reached the store.
    for (std::size_t i = 1; i < ts.size(); ++i) {
        EXPECT_LE(ts[i] - ts[i - 1], 2500) << "gap in telemetry at index " << i;
    }
    gw.stop_graceful();
    backend.stop_graceful();
}

}  // namespace
}  // namespace agenthost::e2e
