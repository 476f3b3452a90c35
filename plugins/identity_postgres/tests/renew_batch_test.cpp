// Batched lease renewals against a real PostgreSQL 15 (a fresh database per test):
// IdentityPg::renew_batch answers per renewal exactly what renew_session answers, in
// one statement, and the plugin groups the renewals queued at one moment.

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "plugins/identity_postgres/identity_pg.hpp"
#include "plugins/identity_postgres/identity_plugin.hpp"
#include "plugins/identity_postgres/tests/identity_test_util.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::identity_postgres {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::OpenOutcome;

std::shared_ptr<pg::Pool> make_pool(const std::string& url) {
    pg::PoolOptions o;
    o.url = url;
    o.max_connections = 2;
    o.acquire_timeout = 10s;
    return std::make_shared<pg::Pool>(o);
}

class RenewBatchTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto applied = db_.migrate();
        ASSERT_TRUE(applied) << applied.status().message();
    }
    void open(const std::string& agent, const std::string& session) {
        auto r = db_.open_session(test::hello(agent, session), 30s);
        ASSERT_TRUE(r) << r.status().message();
        ASSERT_EQ(r->outcome, OpenOutcome::opened);
    }
    // Seconds left on the agent's lease (server clock).
    double lease_left(const std::string& agent) {
        pqxx::connection c(url_);
        pqxx::nontransaction tx(c);
        return tx
            .exec_params1(
                "SELECT extract(epoch FROM lease_expires - now()) FROM sessions"
                " WHERE agent_id = $1",
                agent)[0]
            .as<double>();
    }

    std::string url_ = testsvc::fresh_postgres_database();
    IdentityPg db_{make_pool(url_)};
};

TEST_F(RenewBatchTest, EachRenewalGetsTheSingleCallsAnswer) {
    const std::string odd = "gw-\"odd\\,{id}";  // array-literal metacharacters
    open("gw-1", "s1");
    open("gw-2", "s2");
    open("gw-rev", "s3");
    open(odd, "s\"4");
    ASSERT_TRUE(db_.revoke("gw-rev"));
    std::vector<RenewRequest> batch = {
        {"gw-1", "s1", 120s},     // ok
        {"gw-1", "other", 120s},  // not the holder → not_found
        {"gw-2", "s2", 120s},     // ok
        {"gw-rev", "s3", 120s},   // revoked → conflict
        {"ghost", "s", 120s},     // never seen → not_found
        {"gw-1", "s1", 120s},     // the same pair again → ok
        {odd, "s\"4", 120s},      // escaped correctly → ok
    };
    auto out = db_.renew_batch(batch);
    ASSERT_EQ(out.size(), batch.size());
    EXPECT_TRUE(out[0]) << out[0].message();
    EXPECT_EQ(out[1].code(), Errc::not_found);
    EXPECT_TRUE(out[2]) << out[2].message();
    EXPECT_EQ(out[3].code(), Errc::conflict);
    EXPECT_EQ(out[4].code(), Errc::not_found);
    EXPECT_TRUE(out[5]) << out[5].message();
    EXPECT_TRUE(out[6]) << out[6].message();
    // The leases were extended (30 s → 120 s), the revoked agent's was not.
    EXPECT_GT(lease_left("gw-1"), 60.0);
    EXPECT_GT(lease_left("gw-2"), 60.0);
    EXPECT_GT(lease_left(odd), 60.0);
    EXPECT_LT(lease_left("gw-rev"), 31.0);

    // The single calls answer the same.
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto single = db_.renew_session(batch[i].agent_id, batch[i].session_id, batch[i].lease);
        EXPECT_EQ(single.code(), out[i].code()) << i;
    }
    EXPECT_TRUE(db_.renew_batch({}).empty());
}

TEST_F(RenewBatchTest, ReleasedLeaseIsNotFoundAndLastSeenMoves) {
    open("gw-1", "s1");
    auto released = db_.release("gw-1");
    ASSERT_TRUE(released);
    open("gw-2", "s2");
    pqxx::connection c(url_);
    pqxx::nontransaction tx(c);
    tx.exec("UPDATE agents SET last_seen = now() - interval '1 hour'");
    std::vector<RenewRequest> batch = {{"gw-1", "s1", 30s}, {"gw-2", "s2", 30s}};
    auto out = db_.renew_batch(batch);
    EXPECT_EQ(out[0].code(), Errc::not_found);
    EXPECT_TRUE(out[1]);
    auto stale = tx.exec1("SELECT count(*) FROM agents WHERE last_seen < now() - interval '1 min'");
    EXPECT_EQ(stale[0].as<int>(), 1);  // only gw-1 (not renewed) kept its old last_seen
}

TEST(RenewBatchPlugin, RenewalsQueuedAtOneMomentShareOneStatement) {
    const std::string url = testsvc::fresh_postgres_database();
    testing::FakeContext ctx(test::threaded_options());
    auto made = create(ctx, test::config_with_url(url));
    ASSERT_TRUE(made) << made.status().message();
    auto plugin = std::move(made).value();
    ASSERT_TRUE(plugin->start());
    auto* store = ctx.services().find<sdk::IdentityStore>();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 300; ++i) {
        auto r = test::await<sdk::Result<sdk::OpenSessionResult>>([&](auto cb) {
            store->open_session(test::hello("gw-" + std::to_string(i), "s"), 30s, cb);
        });
        ASSERT_TRUE(r && *r);
    }

    // Manual pool: 301 renewals queue behind one drain task, then run in 2 statements.
    ctx.blocking_impl.set_mode(testing::FakeBlockingPool::Mode::manual);
    std::vector<std::optional<sdk::Status>> got(301);
    for (int i = 0; i < 300; ++i) {
        store->renew_session("gw-" + std::to_string(i), "s", 30s,
                             [&got, i](sdk::Status s) { got[i] = s; });
    }
    store->renew_session("gw-0", "not-mine", 30s, [&got](sdk::Status s) { got[300] = s; });
    EXPECT_EQ(ctx.blocking_impl.pending(), 1u);
    ctx.run_until_idle();
    for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE(got[i].has_value()) << i;
        EXPECT_TRUE(*got[i]) << got[i]->message();
    }
    ASSERT_TRUE(got[300].has_value());
    EXPECT_EQ(got[300]->code(), Errc::not_found);
    EXPECT_EQ(ctx.metrics_impl.counter_value("identity_postgres_renew_items_total", {}), 301u);
    EXPECT_EQ(ctx.metrics_impl.counter_value("identity_postgres_renew_batches_total", {}), 2u);
    EXPECT_EQ(ctx.metrics_impl.counter_value("identity_postgres_errors_total", {}).value_or(0), 0u);

    plugin->stop();
    std::optional<sdk::Status> late;
    store->renew_session("gw-1", "s", 30s, [&](sdk::Status s) { late = s; });
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->code(), Errc::unavailable);
}

}  // namespace
}  // namespace agenthost::identity_postgres
