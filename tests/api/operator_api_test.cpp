// Operator API handlers against fakes (API.md): validation, failure precedence
// (400 → 404 → 409 → 422 → 429 → 503), idempotency, views, revoke/release.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include <boost/json/parse.hpp>

#include "kernel/api/api_json.hpp"
#include "kernel/api/operator_api.hpp"
#include "tests/backend/fake_capabilities.hpp"
#include "tests/support/fake_registries.hpp"

namespace agenthost::testing {
namespace {

namespace json = boost::json;

struct RecordingSession : backend::LiveSession {
    void terminate(std::uint16_t code, std::string) override { codes.push_back(code); }
    std::vector<std::uint16_t> codes;
};

class OperatorApiTest : public ::testing::Test {
protected:
    // `cache_ttl`: the API's agent-lookup cache (ApiDeps::agent_cache_ttl); unset keeps
    // the default.
    explicit OperatorApiTest(std::optional<std::chrono::milliseconds> cache_ttl = {}) {
        api::ApiDeps deps{&identity, &queue, &telemetry, &audit, &logger, &sessions};
        if (cache_ttl) {
            deps.agent_cache_ttl = *cache_ttl;
        }
        EXPECT_TRUE(api::register_operator_api(routes, deps).ok());
        sdk::AgentRecord a;
        a.agent_id = "gw-01";
        a.online = true;
        a.host_id = "backend-1";
        a.session_id = "s1";
        a.last_seen_ms = 1795766400000;
        a.agent_version = "1.0.0";
        a.capabilities = std::vector<std::string>{"builtin.echo"};
        identity.agents["gw-01"] = a;
    }

    sdk::HttpResponse call(std::string method, std::string path, std::string body = {},
                           std::vector<std::pair<std::string, std::string>> headers = {},
                           std::vector<std::pair<std::string, std::string>> query = {}) {
        sdk::HttpRequest req;
        req.method = std::move(method);
        req.path = path;
        req.target = std::move(path);
        req.body = std::move(body);
        req.headers = std::move(headers);
        req.query = std::move(query);
        req.actor = "alice";
        auto r = routes.call(sdk::Listener::admin, req);
        EXPECT_TRUE(r.has_value()) << "no route for " << req.path;
        return r.value_or(sdk::HttpResponse{0});
    }
    sdk::HttpResponse enqueue(std::string body, std::string agent = "gw-01",
                              std::vector<std::pair<std::string, std::string>> headers = {}) {
        return call("POST", "/api/v1/agents/" + agent + "/commands", std::move(body),
                    std::move(headers));
    }
    static json::value body_of(const sdk::HttpResponse& r) { return json::parse(r.body); }
    static std::string error_code(const sdk::HttpResponse& r) {
        return std::string(body_of(r).at("error").at("code").as_string());
    }

    FakeRouteRegistry routes;
    FakeIdentity identity;
    FakeQueue queue;
    FakeTelemetry telemetry;
    FakeAuditSink audit;
    FakeLogger logger;
    backend::SessionRegistry sessions;
};

TEST_F(OperatorApiTest, EnqueueAccepted) {
    auto r = enqueue(R"({"name":"builtin.echo"})");
    ASSERT_EQ(r.status, 202) << r.body;
    auto b = body_of(r);
    EXPECT_EQ(b.at("state").as_string(), "queued");
    ASSERT_EQ(queue.enqueued.size(), 1u);
    EXPECT_EQ(b.at("command_id").as_string(), queue.commands.begin()->first);
    EXPECT_EQ(queue.enqueued[0].agent_id, "gw-01");
    EXPECT_TRUE(queue.enqueued[0].args.empty());
    EXPECT_EQ(queue.enqueued[0].timeout_s, 300);
    EXPECT_TRUE(queue.enqueued[0].request_digest.empty());
    auto ev = audit.events_with_action("command.enqueue");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].actor, "operator:alice");
    EXPECT_EQ(ev[0].outcome, "success");
}

TEST_F(OperatorApiTest, EnqueueBadBodiesAre400) {
    for (const char* body :
         {"", "not json", "[]", "{}", R"({"name":1})", R"({"name":""})",
          R"({"name":"builtin.echo","args":[]})", R"({"name":"builtin.echo","timeout_s":0})",
          R"({"name":"builtin.echo","timeout_s":86401})",
          R"({"name":"builtin.echo","timeout_s":1.5})",
          R"({"name":"builtin.echo","timeout_s":"10"})", R"({"name":"builtin.echo","x":1})"}) {
        auto r = enqueue(body);
        EXPECT_EQ(r.status, 400) << body;
        EXPECT_EQ(error_code(r), "bad_request") << body;
    }
    EXPECT_TRUE(queue.enqueued.empty());
}

TEST_F(OperatorApiTest, TimeoutBoundsAccepted) {
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo","timeout_s":1})").status, 202);
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo","timeout_s":86400,"args":{"a":1}})").status, 202);
    EXPECT_EQ(queue.enqueued.back().timeout_s, 86400);
    EXPECT_EQ(queue.enqueued.back().args.at("a").as_int64(), 1);
}

TEST_F(OperatorApiTest, BadIdempotencyKeyIs400) {
    auto r = enqueue(R"({"name":"builtin.echo"})", "gw-01", {{"idempotency-key", ""}});
    EXPECT_EQ(r.status, 400);
    r = enqueue(R"({"name":"builtin.echo"})", "gw-01", {{"idempotency-key", "a b"}});
    EXPECT_EQ(r.status, 400);
}

TEST_F(OperatorApiTest, BadBodyBeats404) {
    EXPECT_EQ(enqueue("{}", "gw-99").status, 400);
    auto r = enqueue(R"({"name":"builtin.echo"})", "gw-99");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(error_code(r), "agent_not_found");
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo"})", "Bad_Id").status, 404);
}

TEST_F(OperatorApiTest, RevokedIs409AndBeats422) {
    identity.agents["gw-01"].revoked = true;
    auto r = enqueue(R"({"name":"not.listed"})");
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(error_code(r), "agent_revoked");
}

TEST_F(OperatorApiTest, UnlistedCommandIs422) {
    auto r = enqueue(R"({"name":"not.listed"})");
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(error_code(r), "unsupported_command");
    identity.agents["gw-01"].capabilities.reset();  // no hello yet: anything goes
    EXPECT_EQ(enqueue(R"({"name":"not.listed"})").status, 202);
}

TEST_F(OperatorApiTest, FullQueueIs429WithRetryAfter) {
    queue.enqueue_status = sdk::error(sdk::Errc::exhausted, "full");
    auto r = enqueue(R"({"name":"builtin.echo"})");
    EXPECT_EQ(r.status, 429);
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "Retry-After");
    EXPECT_EQ(r.headers[0].second, "7");
}

TEST_F(OperatorApiTest, QueueDownIs503) {
    queue.enqueue_status = sdk::error(sdk::Errc::unavailable, "redis down");
    auto r = enqueue(R"({"name":"builtin.echo"})");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(error_code(r), "unavailable");
    identity.available = false;
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 503);
}

TEST_F(OperatorApiTest, IdempotencyKeyRepeatAndConflict) {
    std::vector<std::pair<std::string, std::string>> key{{"idempotency-key", "k-1"}};
    auto first = enqueue(R"({"name":"builtin.echo","args":{"a":1,"b":2}})", "gw-01", key);
    ASSERT_EQ(first.status, 202);
    // Same JSON value, other key order and whitespace.
    auto again = enqueue(R"({ "args": {"b":2, "a":1}, "name":"builtin.echo" })", "gw-01", key);
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(body_of(again).at("command_id"), body_of(first).at("command_id"));
    EXPECT_EQ(body_of(again).at("name").as_string(), "builtin.echo");
    EXPECT_EQ(queue.enqueued[0].request_digest, queue.enqueued[1].request_digest);
    EXPECT_EQ(queue.enqueued[0].request_digest.size(), 64u);
    auto other = enqueue(R"({"name":"builtin.echo","args":{"a":2}})", "gw-01", key);
    EXPECT_EQ(other.status, 409);
    EXPECT_EQ(error_code(other), "idempotency_conflict");
}

TEST_F(OperatorApiTest, CanonicalJsonSortsKeysRecursively) {
    EXPECT_EQ(api::canonical_json(json::parse(R"({"b":[{"d":1,"c":2}],"a":"x"})")),
              R"({"a":"x","b":[{"c":2,"d":1}]})");
}

TEST_F(OperatorApiTest, GetCommandMergesResult) {
    ASSERT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 202);
    const std::string id = queue.commands.begin()->first;
    auto r = call("GET", "/api/v1/commands/" + id);
    ASSERT_EQ(r.status, 200);
    auto b = body_of(r);
    EXPECT_EQ(b.at("state").as_string(), "queued");
    EXPECT_EQ(b.at("created_at").as_string(), "2026-11-27T08:00:00.000Z");
    EXPECT_FALSE(b.as_object().contains("result"));

    queue.commands[id].state = sdk::CommandState::succeeded;
    sdk::CommandResult res;
    res.command_id = id;
    res.agent_id = "gw-01";
    res.exit_code = 0;
    res.output = "hi";
    res.output_encoding = "utf-8";
    res.started_ms = 1795766400000;
    res.finished_ms = 1795766400250;
    telemetry.results[id] = res;
    b = body_of(call("GET", "/api/v1/commands/" + id));
    const auto& result = b.at("result");
    EXPECT_EQ(result.at("status").as_string(), "succeeded");
    EXPECT_EQ(result.at("exit_code").as_int64(), 0);
    EXPECT_EQ(result.at("output").as_string(), "hi");
    EXPECT_EQ(result.at("finished_at").as_string(), "2026-11-27T08:00:00.250Z");

    EXPECT_EQ(call("GET", "/api/v1/commands/00000000-0000-4000-8000-999999999999").status, 404);
}

TEST_F(OperatorApiTest, ListCommandsValidatesQuery) {
    using Q = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(call("GET", "/api/v1/commands", {}, {}, Q{{"state", "bogus"}}).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/commands", {}, {}, Q{{"limit", "0"}}).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/commands", {}, {}, Q{{"limit", "1001"}}).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/commands", {}, {}, Q{{"limit", "ten"}}).status, 400);
    EXPECT_FALSE(queue.last_filter.has_value());
    auto r = call("GET", "/api/v1/commands", {}, {},
                  Q{{"agent_id", "gw-01"}, {"state", "dead_lettered"}, {"limit", "5"}});
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(body_of(r).is_array());
    ASSERT_TRUE(queue.last_filter.has_value());
    EXPECT_EQ(queue.last_filter->agent_id, "gw-01");
    EXPECT_EQ(queue.last_filter->state, sdk::CommandState::dead_lettered);
    EXPECT_EQ(queue.last_filter->limit, 5u);
}

TEST_F(OperatorApiTest, CancelQueuedDispatchedUnknown) {
    ASSERT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 202);
    ASSERT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 202);
    auto it = queue.commands.begin();
    const std::string a = it->first;
    const std::string b = (++it)->first;
    queue.commands[b].state = sdk::CommandState::dispatched;
    auto r = call("POST", "/api/v1/commands/" + a + "/cancel");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body_of(r).at("state").as_string(), "cancelled");
    r = call("POST", "/api/v1/commands/" + b + "/cancel");
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(error_code(r), "not_cancellable");
    EXPECT_EQ(call("POST", "/api/v1/commands/nope/cancel").status, 404);
    EXPECT_EQ(audit.events_with_action("command.cancel").size(), 2u);
}

TEST_F(OperatorApiTest, AgentViews) {
    sdk::AgentRecord off;
    off.agent_id = "gw-02";
    off.host_id = "backend-9";  // stale: offline agents show no host
    identity.agents["gw-02"] = off;
    sdk::AgentRecord rev;
    rev.agent_id = "gw-03";
    rev.revoked = true;
    identity.agents["gw-03"] = rev;
    auto r = call("GET", "/api/v1/agents");
    ASSERT_EQ(r.status, 200);
    auto arr = body_of(r).as_array();
    ASSERT_EQ(arr.size(), 3u);
    EXPECT_EQ(arr[0].at("state").as_string(), "online");
    EXPECT_EQ(arr[0].at("host_id").as_string(), "backend-1");
    EXPECT_EQ(arr[0].at("last_seen").as_string(), "2026-11-27T08:00:00.000Z");
    EXPECT_EQ(arr[0].at("capabilities").as_array().size(), 1u);
    EXPECT_EQ(arr[1].at("state").as_string(), "offline");
    EXPECT_TRUE(arr[1].at("host_id").is_null());
    EXPECT_EQ(arr[2].at("state").as_string(), "revoked");
    EXPECT_EQ(call("GET", "/api/v1/agents/gw-02").status, 200);
    EXPECT_EQ(call("GET", "/api/v1/agents/gw-99").status, 404);
    EXPECT_EQ(call("GET", "/api/v1/agents/gw-01/nothing").status, 404);
}

TEST_F(OperatorApiTest, RevokeClosesLocalSessionWith4403) {
    auto s = std::make_shared<RecordingSession>();
    sessions.add("gw-01", "s1", s);
    auto r = call("POST", "/api/v1/agents/gw-01/revoke");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body_of(r).at("state").as_string(), "revoked");
    EXPECT_EQ(s->codes, std::vector<std::uint16_t>{4403});
    auto ev = audit.events_with_action("agent.revoke");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].actor, "operator:alice");
    EXPECT_EQ(call("POST", "/api/v1/agents/gw-99/revoke").status, 404);
}

// The enqueue check's lookup is remembered (agent_cache.hpp) for acceptances only; a
// revoke through this API invalidates it at once.
TEST_F(OperatorApiTest, AgentLookupCachedForAcceptancesOnlyAndRevokeInvalidates) {
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 202);
    identity.available = false;  // only the cache can answer now
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 202);
    // A would-be refusal is never taken from the cache: the store is asked (and is down).
    EXPECT_EQ(enqueue(R"({"name":"not.listed"})").status, 503);
    identity.available = true;
    ASSERT_EQ(call("POST", "/api/v1/agents/gw-01/revoke").status, 200);
    auto r = enqueue(R"({"name":"builtin.echo"})");
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(error_code(r), "agent_revoked");
}

class OperatorApiNoCacheTest : public OperatorApiTest {
protected:
    OperatorApiNoCacheTest() : OperatorApiTest(std::chrono::milliseconds(0)) {}
};

TEST_F(OperatorApiNoCacheTest, ZeroTtlAsksTheStoreEveryTime) {
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 202);
    identity.agents["gw-01"].revoked = true;  // behind the API's back (another host)
    EXPECT_EQ(enqueue(R"({"name":"builtin.echo"})").status, 409);
}

TEST_F(OperatorApiTest, ReleaseClosesLocalSessionWith4409) {
    auto s = std::make_shared<RecordingSession>();
    sessions.add("gw-01", "s1", s);
    auto r = call("POST", "/api/v1/agents/gw-01/release");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body_of(r).at("released_session_id").as_string(), "s1");
    EXPECT_EQ(s->codes, std::vector<std::uint16_t>{4409});
    EXPECT_EQ(audit.events_with_action("agent.release").size(), 1u);
    EXPECT_EQ(call("POST", "/api/v1/agents/gw-99/release").status, 404);
}

TEST_F(OperatorApiTest, TelemetryQuery) {
    using Q = std::vector<std::pair<std::string, std::string>>;
    const std::string path = "/api/v1/agents/gw-01/telemetry";
    EXPECT_EQ(call("GET", path, {}, {}, Q{{"since", "yesterday"}}).status, 400);
    EXPECT_EQ(call("GET", path, {}, {}, Q{{"limit", "0"}}).status, 400);
    EXPECT_EQ(call("GET", path, {}, {}, Q{{"metric", "bad metric"}}).status, 400);
    EXPECT_EQ(call("GET", path, {}, {},
                   Q{{"since", "2026-11-27T09:00:00Z"}, {"until", "2026-11-27T08:00:00Z"}})
                  .status,
              400);
    // 400 beats 404.
    EXPECT_EQ(call("GET", "/api/v1/agents/gw-99/telemetry", {}, {}, Q{{"limit", "0"}}).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/agents/gw-99/telemetry").status, 404);
    telemetry.points.push_back(sdk::TelemetryPoint{"cpu", 1795766400000, 0.5, {{"core", "0"}}});
    auto r = call("GET", path, {}, {},
                  Q{{"metric", "cpu"}, {"since", "2026-11-27T08:00:00Z"}, {"limit", "10"}});
    ASSERT_EQ(r.status, 200) << r.body;
    auto arr = body_of(r).as_array();
    ASSERT_EQ(arr.size(), 1u);
    EXPECT_EQ(arr[0].at("ts").as_string(), "2026-11-27T08:00:00.000Z");
    EXPECT_EQ(arr[0].at("labels").at("core").as_string(), "0");
    ASSERT_TRUE(telemetry.last_query.has_value());
    EXPECT_EQ(telemetry.last_query->metric, "cpu");
    EXPECT_EQ(telemetry.last_query->since_ms, 1795766400000);
    EXPECT_EQ(telemetry.last_query->limit, 10u);
}

}  // namespace
}  // namespace agenthost::testing

namespace agenthost::testing {
namespace {

// audit.fail_closed: with can_audit false, audited actions answer 503 and are not done;
// validation failures keep their precedence (400/404 before 503).
TEST(OperatorApiFailClosed, UnauditableActionsAre503AndNotPerformed) {
    FakeRouteRegistry routes;
    FakeIdentity identity;
    FakeQueue queue;
    FakeTelemetry telemetry;
    FakeAuditSink audit;
    FakeLogger logger;
    backend::SessionRegistry sessions;
    bool can = false;
    std::vector<std::string> asked;
    api::ApiDeps deps{&identity, &queue, &telemetry, &audit, &logger, &sessions};
    deps.can_audit = [&](std::string_view action) {
        asked.emplace_back(action);
        return can;
    };
    ASSERT_TRUE(api::register_operator_api(routes, deps).ok());
    sdk::AgentRecord a;
    a.agent_id = "gw-01";
    identity.agents["gw-01"] = a;
    auto call = [&](const std::string& path, const std::string& body = "") {
        sdk::HttpRequest req;
        req.method = "POST";
        req.path = path;
        req.target = path;
        req.body = body;
        req.actor = "alice";
        return routes.call(sdk::Listener::admin, req).value_or(sdk::HttpResponse{0});
    };
    auto r = call("/api/v1/agents/gw-01/commands", R"({"name":"builtin.echo"})");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("audit_unavailable"), std::string::npos) << r.body;
    EXPECT_TRUE(queue.enqueued.empty()) << "nothing enqueued that could not be audited";
    EXPECT_EQ(call("/api/v1/agents/gw-01/commands", "{").status, 400) << "400 still first";
    EXPECT_EQ(call("/api/v1/agents/gw-01/revoke").status, 503);
    EXPECT_FALSE(identity.agents["gw-01"].revoked);
    EXPECT_EQ(call("/api/v1/agents/gw-01/release").status, 503);
    EXPECT_EQ(call("/api/v1/commands/c-1/cancel").status, 503);
    EXPECT_EQ(asked, (std::vector<std::string>{"command.enqueue", "agent.revoke", "agent.release",
                                               "command.cancel"}));

    can = true;  // the sink recovered
    EXPECT_EQ(call("/api/v1/agents/gw-01/commands", R"({"name":"builtin.echo"})").status, 202);
    EXPECT_EQ(queue.enqueued.size(), 1u);
}

}  // namespace
}  // namespace agenthost::testing
