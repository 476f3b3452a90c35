// IdentityPg against a real PostgreSQL 15 (a fresh database per test): the same
// behaviour identity_sqlite's tests pin down — the single-live-session rule, leases
// (on the server's clock), revocation, release — plus the rule holding across two
// independent pools (two hosts) with 50 concurrent openers.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "plugins/identity_postgres/identity_pg.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::identity_postgres {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::OpenOutcome;

constexpr auto kLease = 30s;

sdk::AgentHello hello(std::string agent, std::string session, std::string host = "host-a",
                      std::string fingerprint = "aa11") {
    sdk::AgentHello h;
    h.agent_id = std::move(agent);
    h.session_id = std::move(session);
    h.host_id = std::move(host);
    h.cert_fingerprint = std::move(fingerprint);
    h.agent_version = "1.0.0";
    h.hostname = "gw.example";
    h.platform = "linux-x86_64";
    h.capabilities = {"builtin.echo", "builtin.sleep"};
    return h;
}

std::shared_ptr<pg::Pool> make_pool(const std::string& url, std::size_t size = 4) {
    pg::PoolOptions o;
    o.url = url;
    o.max_connections = size;
    o.acquire_timeout = 10s;  // 50 racing threads share a few connections
    return std::make_shared<pg::Pool>(o);
}

class IdentityPgTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto applied = db_.migrate();
        ASSERT_TRUE(applied) << applied.status().message();
        ASSERT_EQ(applied->size(), embedded_migrations().size());
    }
    // Waits (real time, with a deadline) until the agent's lease ran out on the server.
    bool wait_offline(const std::string& agent) {
        return testing::wait_until([&] {
            auto a = db_.get_agent(agent);
            return a && !a->online;
        });
    }
    std::int64_t count(const std::string& sql) {
        pqxx::connection c(url_);
        pqxx::nontransaction tx(c);
        return tx.exec1(sql)[0].as<std::int64_t>();
    }

    std::string url_ = testsvc::fresh_postgres_database();
    IdentityPg db_{make_pool(url_)};
};

TEST_F(IdentityPgTest, MigrationsIdempotentAndRecorded) {
    auto again = db_.migrate();
    ASSERT_TRUE(again) << again.status().message();
    EXPECT_TRUE(again->empty());
    EXPECT_EQ(*db_.schema_version(), embedded_migrations().back().version);
    EXPECT_EQ(count("SELECT count(*) FROM schema_version WHERE component = 'identity_postgres'"),
              static_cast<std::int64_t>(embedded_migrations().size()));
}

TEST_F(IdentityPgTest, OpensAndRecordsTheAgent) {
    const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    auto r = db_.open_session(hello("gw-01", "s1"), kLease);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->outcome, OpenOutcome::opened);

    auto a = db_.get_agent("gw-01");
    ASSERT_TRUE(a) << a.status().message();
    EXPECT_TRUE(a->online);
    EXPECT_EQ(a->session_id, "s1");
    EXPECT_EQ(a->host_id, "host-a");
    EXPECT_EQ(a->cert_fingerprint, "aa11");
    // Server clock, same machine: within a minute of ours.
    EXPECT_NEAR(static_cast<double>(a->first_seen_ms), static_cast<double>(before_ms), 60'000);
    EXPECT_EQ(a->first_seen_ms, a->last_seen_ms);
    EXPECT_EQ(a->hostname, "gw.example");
    EXPECT_EQ(a->agent_version, "1.0.0");
    EXPECT_EQ(a->platform, "linux-x86_64");
    ASSERT_TRUE(a->capabilities.has_value());
    EXPECT_EQ(*a->capabilities, (std::vector<std::string>{"builtin.echo", "builtin.sleep"}));
    EXPECT_FALSE(a->revoked);
}

TEST_F(IdentityPgTest, DuplicateRefusedWhileLeaseLiveAndRecordUntouched) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), kLease)->outcome, OpenOutcome::opened);
    auto impostor = hello("gw-01", "s2", "host-b", "bb22");
    impostor.hostname = "evil.example";
    auto r = db_.open_session(impostor, kLease);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->outcome, OpenOutcome::duplicate);
    EXPECT_EQ(r->existing_session_id, "s1");
    EXPECT_EQ(r->existing_host_id, "host-a");
    EXPECT_EQ(r->existing_fingerprint, "aa11");

    auto a = db_.get_agent("gw-01");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->cert_fingerprint, "aa11");  // the refused hello changed nothing
    EXPECT_EQ(a->hostname, "gw.example");
    EXPECT_EQ(a->session_id, "s1");
}

TEST_F(IdentityPgTest, AllowedAfterLeaseExpiry) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), 50ms)->outcome, OpenOutcome::opened);
    const auto first_seen = db_.get_agent("gw-01")->first_seen_ms;
    ASSERT_TRUE(wait_offline("gw-01"));
    auto offline = db_.get_agent("gw-01");
    EXPECT_FALSE(offline->session_id.has_value());

    auto r = db_.open_session(hello("gw-01", "s2", "host-b"), kLease);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, OpenOutcome::opened);
    auto a = db_.get_agent("gw-01");
    EXPECT_EQ(a->session_id, "s2");
    EXPECT_EQ(a->host_id, "host-b");
    EXPECT_EQ(a->first_seen_ms, first_seen);  // first_seen survives re-registration
    EXPECT_GT(a->last_seen_ms, first_seen);
}

TEST_F(IdentityPgTest, RenewExtendsTheLease) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), 300ms)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_.renew_session("gw-01", "s1", kLease));
    // The first lease would have run out by now; the renewed one holds.
    ASSERT_TRUE(testing::wait_until([&] {
        return count("SELECT count(*) FROM sessions WHERE opened_at + interval '300 ms' < now()") ==
               1;
    }));
    auto r = db_.open_session(hello("gw-01", "s2"), kLease);
    EXPECT_EQ(r->outcome, OpenOutcome::duplicate);
    auto a = db_.get_agent("gw-01");
    EXPECT_TRUE(a->online);
    EXPECT_GE(a->last_seen_ms, a->first_seen_ms);
}

TEST_F(IdentityPgTest, AllowedAfterReleaseAndRenewThenNotFound) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), kLease)->outcome, OpenOutcome::opened);
    auto released = db_.release("gw-01");
    ASSERT_TRUE(released);
    EXPECT_EQ(released.value(), std::optional<std::string>("s1"));

    EXPECT_EQ(db_.renew_session("gw-01", "s1", kLease).code(), Errc::not_found);

    auto r = db_.open_session(hello("gw-01", "s2", "host-b"), kLease);
    EXPECT_EQ(r->outcome, OpenOutcome::opened);
    // The old session, reconnecting later, now meets the new lease.
    EXPECT_EQ(db_.renew_session("gw-01", "s1", kLease).code(), Errc::not_found);
    EXPECT_TRUE(db_.renew_session("gw-01", "s2", kLease));
}

TEST_F(IdentityPgTest, ReleaseWithoutLeaseAndUnknownAgent) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_.close_session("gw-01", "s1"));
    auto none = db_.release("gw-01");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none.value().has_value());
    EXPECT_EQ(db_.release("nobody").status().code(), Errc::not_found);
}

TEST_F(IdentityPgTest, CloseOnlyDropsOwnLease) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_.close_session("gw-01", "stale"));  // no-op, still ok
    EXPECT_TRUE(db_.get_agent("gw-01")->online);
    ASSERT_TRUE(db_.close_session("gw-01", "s1"));
    EXPECT_FALSE(db_.get_agent("gw-01")->online);
    // A clean reconnect never meets a duplicate.
    EXPECT_EQ(db_.open_session(hello("gw-01", "s2"), kLease)->outcome, OpenOutcome::opened);
}

TEST_F(IdentityPgTest, RevokeRefusesHellosAndRenewals) {
    EXPECT_EQ(db_.revoke("gw-01").code(), Errc::not_found);
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_.revoke("gw-01"));

    EXPECT_EQ(db_.renew_session("gw-01", "s1", kLease).code(), Errc::conflict);
    ASSERT_TRUE(db_.close_session("gw-01", "s1"));
    auto r = db_.open_session(hello("gw-01", "s2"), kLease);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, OpenOutcome::revoked);
    auto a = db_.get_agent("gw-01");
    EXPECT_TRUE(a->revoked);
    EXPECT_FALSE(a->online);
}

TEST_F(IdentityPgTest, SameSessionRetryIsIdempotent) {
    ASSERT_EQ(db_.open_session(hello("gw-01", "s1"), kLease)->outcome, OpenOutcome::opened);
    auto again = db_.open_session(hello("gw-01", "s1"), kLease);
    EXPECT_EQ(again->outcome, OpenOutcome::opened);
    // Same session id from another host is still a duplicate.
    auto other = db_.open_session(hello("gw-01", "s1", "host-b"), kLease);
    EXPECT_EQ(other->outcome, OpenOutcome::duplicate);
}

TEST_F(IdentityPgTest, ListAgentsOrderedWithOnlineState) {
    ASSERT_TRUE(db_.open_session(hello("gw-02", "s2"), kLease));
    ASSERT_TRUE(db_.open_session(hello("gw-01", "s1"), 20ms));
    ASSERT_TRUE(wait_offline("gw-01"));
    auto list = db_.list_agents();
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].agent_id, "gw-01");
    EXPECT_FALSE((*list)[0].online);  // its 20 ms lease ran out
    EXPECT_EQ((*list)[1].agent_id, "gw-02");
    EXPECT_TRUE((*list)[1].online);
    EXPECT_EQ(db_.get_agent("nobody").status().code(), Errc::not_found);
}

TEST_F(IdentityPgTest, BadHellosRefused) {
    EXPECT_EQ(db_.open_session(hello("", "s1"), kLease).status().code(), Errc::invalid_argument);
    EXPECT_EQ(db_.open_session(hello("gw-01", "s1"), 0ms).status().code(), Errc::invalid_argument);
    // Quotes and SQL in values are data, never SQL.
    auto r = db_.open_session(hello("gw'; DROP TABLE agents; --", "s1"), kLease);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(db_.list_agents()->size(), 1u);
}

TEST_F(IdentityPgTest, FiftyConcurrentOpenersOnTwoHostsExactlyOneWins) {
    // Two independent pools stand for two backend hosts sharing the database: the
    // PRIMARY KEY, not any process-local lock, decides.
    IdentityPg other(make_pool(url_));
    constexpr int kThreads = 50;
    std::atomic<int> opened{0};
    std::atomic<int> duplicate{0};
    std::atomic<int> failed{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        IdentityPg* db = (i % 2 == 0) ? &db_ : &other;
        threads.emplace_back([&, db, i] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            const std::string host = (i % 2 == 0) ? "host-a" : "host-b";
            auto r = db->open_session(hello("gw-race", "s" + std::to_string(i), host), kLease);
            if (!r) {
                ++failed;
                ADD_FAILURE() << r.status().message();
            } else if (r->outcome == OpenOutcome::opened) {
                ++opened;
            } else if (r->outcome == OpenOutcome::duplicate) {
                ++duplicate;
            }
        });
    }
    go = true;
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(opened.load(), 1);
    EXPECT_EQ(duplicate.load(), kThreads - 1);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(count("SELECT count(*) FROM sessions"), 1);
}

}  // namespace
}  // namespace agenthost::identity_postgres
