#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "kernel/api/operator_auth.hpp"
#include "kernel/util/encoding.hpp"
#include "tests/support/fake_registries.hpp"

namespace agenthost::testing {
namespace {

class OperatorAuthTest : public ::testing::Test {
protected:
    sdk::HttpRequest request(std::optional<std::string> authorization) {
        sdk::HttpRequest r;
        r.method = "GET";
        r.path = "/api/v1/agents";
        r.remote_address = "127.0.0.1:4000";
        if (authorization) {
            r.headers.emplace_back("authorization", *authorization);
        }
        return r;
    }
    FakeAuditSink audit;
    FakeLogger logger;
    api::OperatorAuth auth{
        {{"alice", util::sha256_hex("tok-alice")}, {"bob", util::sha256_hex("tok-bob")}},
        audit,
        &logger};
};

TEST_F(OperatorAuthTest, ValidTokenNamesTheOperator) {
    EXPECT_EQ(auth.authenticate(request("Bearer tok-bob")), "bob");
    EXPECT_EQ(auth.authenticate(request("bearer tok-alice")), "alice");
    EXPECT_TRUE(audit.events().empty());
}

TEST_F(OperatorAuthTest, UppercaseConfiguredHashMatches) {
    std::string upper = util::sha256_hex("tok-carol");
    for (auto& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    api::OperatorAuth a{{{"carol", upper}}, audit};
    EXPECT_EQ(a.authenticate(request("Bearer tok-carol")), "carol");
}

TEST_F(OperatorAuthTest, FailuresAreAuditedWithoutTheToken) {
    EXPECT_FALSE(auth.authenticate(request(std::nullopt)));
    EXPECT_FALSE(auth.authenticate(request("Bearer wrong-secret")));
    EXPECT_FALSE(auth.authenticate(request("Basic dG9rLWJvYg==")));
    EXPECT_FALSE(auth.authenticate(request("Bearer ")));
    auto ev = audit.events_with_action("auth.failed");
    ASSERT_EQ(ev.size(), 4u);
    for (const auto& e : ev) {
        EXPECT_EQ(e.outcome, "denied");
        EXPECT_EQ(boost::json::serialize(e.details).find("wrong-secret"), std::string::npos);
    }
    EXPECT_FALSE(logger.contains("wrong-secret"));
}

TEST_F(OperatorAuthTest, UnauthorizedResponse) {
    auto r = api::OperatorAuth::unauthorized();
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("\"unauthorized\""), std::string::npos);
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
}

}  // namespace
}  // namespace agenthost::testing
