// Health, service and route registries.
#include <stdexcept>

#include <gtest/gtest.h>

#include "kernel/runtime/health_table.hpp"
#include "kernel/runtime/runtime.hpp"
#include "kernel/runtime/service_table.hpp"

namespace agenthost::runtime {
namespace {

sdk::HealthReport with_state(sdk::HealthState s) {
    sdk::HealthReport r;
    r.state = s;
    return r;
}

TEST(Health, ReadyUnlessAReadinessCheckFailsOrDraining) {
    HealthTable h;
    EXPECT_TRUE(h.ready());
    h.add_check("disk", false, [] { return with_state(sdk::HealthState::fail); });
    EXPECT_TRUE(h.ready()) << "a liveness-only check does not affect readiness";
    h.add_check_owned("pg", "pg:latency", true, [] { return with_state(sdk::HealthState::warn); });
    EXPECT_TRUE(h.ready()) << "warn still counts as ready";
    h.set_draining(true);
    EXPECT_FALSE(h.ready());
    h.set_draining(false);
    h.add_check_owned("pg", "pg:conn", true, [] { return with_state(sdk::HealthState::fail); });
    EXPECT_FALSE(h.ready());
    h.remove_owner("pg");
    EXPECT_TRUE(h.ready());
    EXPECT_EQ(h.evaluate().size(), 1u);
}

TEST(Health, ThrowingCheckReportsFail) {
    HealthTable h;
    h.add_check("boom", true, []() -> sdk::HealthReport { throw std::runtime_error("nope"); });
    auto r = h.evaluate();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].second.state, sdk::HealthState::fail);
    EXPECT_NE(r[0].second.output.find("nope"), std::string::npos);
    EXPECT_FALSE(h.ready());
}

TEST(Health, RuntimeDrainingFlipsReadiness) {
    RuntimeOptions o;
    o.log_level = "error";
    Runtime rt(o);
    EXPECT_TRUE(rt.health().ready());
    rt.set_draining(true);
    EXPECT_TRUE(rt.draining());
    EXPECT_FALSE(rt.health().ready());
}

TEST(Services, ExclusiveCapabilityTakesOneProvider) {
    ServiceTable s;
    int a = 0;
    int b = 0;
    ASSERT_TRUE(s.provide_owned("queue_memory", "queue", &a).ok());
    auto st = s.provide_owned("queue_redis", "queue", &b);
    EXPECT_EQ(st.code(), sdk::Errc::conflict);
    EXPECT_NE(st.message().find("queue_memory"), std::string::npos);
    EXPECT_EQ(s.find_raw("queue"), &a);
    EXPECT_TRUE(s.provide_owned("queue_memory", "queue", &a).ok()) << "same pointer is idempotent";
}

TEST(Services, NonExclusiveCapabilityCollectsProvidersInOrder) {
    ServiceTable s;
    int a = 0;
    int b = 0;
    ASSERT_TRUE(s.provide_owned("exec_builtin", "command_handler", &a).ok());
    ASSERT_TRUE(s.provide_owned("exec_allowlist", "command_handler", &b).ok());
    EXPECT_EQ(s.find_all_raw("command_handler"), (std::vector<void*>{&a, &b}));
    EXPECT_EQ(s.find_raw("nothing"), nullptr);
    EXPECT_EQ(s.provide_raw("", &a).code(), sdk::Errc::invalid_argument);
    EXPECT_EQ(s.provide_raw("x", nullptr).code(), sdk::Errc::invalid_argument);
}

TEST(Services, WithdrawRemovesTheOwnersServicesAndCallsTheHook) {
    ServiceTable s;
    int a = 0;
    std::vector<std::string> hooked;
    s.set_withdraw_hook([&](std::string_view cap) {
        // By the time the hook runs the provider can no longer be found.
        EXPECT_EQ(s.find_raw(cap), nullptr);
        hooked.emplace_back(cap);
    });
    ASSERT_TRUE(s.provide_owned("audit_file", "audit", &a).ok());
    EXPECT_EQ(s.provided_by("audit_file"), std::vector<std::string>{"audit"});
    s.withdraw_owner("audit_file");
    EXPECT_EQ(hooked, std::vector<std::string>{"audit"});
    EXPECT_TRUE(s.provided_by("audit_file").empty());
    int b = 0;
    EXPECT_TRUE(s.provide_owned("audit_pg", "audit", &b).ok()) << "slot is free again";
}

sdk::HttpHandler answering(int status) {
    return [status](const sdk::HttpRequest&, sdk::HttpResponder respond) {
        sdk::HttpResponse r;
        r.status = status;
        respond(std::move(r));
    };
}

int call(const std::optional<RouteMatch>& m) {
    int got = 0;
    m->handler(sdk::HttpRequest{}, [&](sdk::HttpResponse r) { got = r.status; });
    return got;
}

TEST(Routes, ExactBeatsPrefixAndLongestPrefixWins) {
    RouteTable t;
    ASSERT_TRUE(t.add(sdk::Listener::admin, "GET", "/api/v1/*", answering(1)).ok());
    ASSERT_TRUE(t.add(sdk::Listener::admin, "GET", "/api/v1/agents/*", answering(2)).ok());
    ASSERT_TRUE(t.add(sdk::Listener::admin, "GET", "/api/v1/agents/x", answering(3)).ok());
    EXPECT_EQ(call(t.match(sdk::Listener::admin, "GET", "/api/v1/agents/x")), 3);
    EXPECT_EQ(call(t.match(sdk::Listener::admin, "GET", "/api/v1/agents/y")), 2);
    EXPECT_EQ(call(t.match(sdk::Listener::admin, "GET", "/api/v1/commands")), 1);
    EXPECT_FALSE(t.match(sdk::Listener::health, "GET", "/api/v1/commands"))
        << "routes are per listener";
}

TEST(Routes, MethodMismatchIsFlagged) {
    RouteTable t;
    ASSERT_TRUE(t.add(sdk::Listener::health, "get", "/hello", answering(200)).ok());
    bool mismatch = false;
    EXPECT_FALSE(t.match(sdk::Listener::health, "POST", "/hello", &mismatch));
    EXPECT_TRUE(mismatch);
    EXPECT_FALSE(t.match(sdk::Listener::health, "GET", "/nothing", &mismatch));
    EXPECT_FALSE(mismatch);
    EXPECT_TRUE(t.match(sdk::Listener::health, "GET", "/hello", &mismatch));
    EXPECT_FALSE(mismatch);
}

TEST(Routes, ConflictsAndOwnership) {
    RouteTable t;
    ASSERT_TRUE(t.add_owned("p", sdk::Listener::health, "GET", "/a", answering(1)).ok());
    EXPECT_EQ(t.add(sdk::Listener::health, "GET", "/a", answering(2)).code(), sdk::Errc::conflict);
    EXPECT_TRUE(t.add(sdk::Listener::health, "POST", "/a", answering(2)).ok());
    EXPECT_TRUE(t.add(sdk::Listener::admin, "GET", "/a", answering(2)).ok());
    EXPECT_EQ(t.add(sdk::Listener::admin, "GET", "relative", answering(2)).code(),
              sdk::Errc::invalid_argument);
    EXPECT_EQ(t.count_owned("p"), 1u);
    t.remove_owner("p");
    EXPECT_FALSE(t.match(sdk::Listener::health, "GET", "/a"));
    EXPECT_TRUE(t.match(sdk::Listener::health, "POST", "/a"));
    t.remove_all();
    EXPECT_FALSE(t.match(sdk::Listener::health, "POST", "/a"));
}

}  // namespace
}  // namespace agenthost::runtime
