// IdentityDb against a real SQLite file: the single-live-session rule, leases,
// revocation, release, and the rule holding under 50 concurrent openers.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "plugins/identity_sqlite/identity_db.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::identity_sqlite {
namespace {

using sdk::Errc;
using sdk::OpenOutcome;

constexpr std::int64_t kT0 = 1'800'000'000'000;
constexpr std::int64_t kLease = 30'000;

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

class IdentityDbTest : public ::testing::Test {
protected:
    void SetUp() override {
        sqlite::Options o;
        o.path = dir_.file("identity.db");
        auto opened = IdentityDb::open(o);
        ASSERT_TRUE(opened) << opened.status().message();
        db_ = std::move(opened).value();
    }

    testing::TempDir dir_{"identity-db"};
    std::unique_ptr<IdentityDb> db_;
};

TEST_F(IdentityDbTest, OpensAndRecordsTheAgent) {
    auto r = db_->open_session(hello("gw-01", "s1"), kT0, kLease);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->outcome, OpenOutcome::opened);

    auto a = db_->get_agent("gw-01", kT0 + 1);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->online);
    EXPECT_EQ(a->session_id, "s1");
    EXPECT_EQ(a->host_id, "host-a");
    EXPECT_EQ(a->cert_fingerprint, "aa11");
    EXPECT_EQ(a->first_seen_ms, kT0);
    EXPECT_EQ(a->hostname, "gw.example");
    ASSERT_TRUE(a->capabilities.has_value());
    EXPECT_EQ(*a->capabilities, (std::vector<std::string>{"builtin.echo", "builtin.sleep"}));
    EXPECT_FALSE(a->revoked);
}

TEST_F(IdentityDbTest, DuplicateRefusedWhileLeaseLiveAndRecordUntouched) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    auto impostor = hello("gw-01", "s2", "host-b", "bb22");
    impostor.hostname = "evil.example";
    auto r = db_->open_session(impostor, kT0 + kLease - 1, kLease);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, OpenOutcome::duplicate);
    EXPECT_EQ(r->existing_session_id, "s1");
    EXPECT_EQ(r->existing_host_id, "host-a");
    EXPECT_EQ(r->existing_fingerprint, "aa11");

    auto a = db_->get_agent("gw-01", kT0 + 1);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->cert_fingerprint, "aa11");  // the refused hello changed nothing
    EXPECT_EQ(a->hostname, "gw.example");
    EXPECT_EQ(a->session_id, "s1");
}

TEST_F(IdentityDbTest, AllowedAfterLeaseExpiry) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    auto offline = db_->get_agent("gw-01", kT0 + kLease);
    ASSERT_TRUE(offline);
    EXPECT_FALSE(offline->online);
    EXPECT_FALSE(offline->session_id.has_value());

    auto r = db_->open_session(hello("gw-01", "s2", "host-b"), kT0 + kLease, kLease);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, OpenOutcome::opened);
    auto a = db_->get_agent("gw-01", kT0 + kLease + 1);
    EXPECT_EQ(a->session_id, "s2");
    EXPECT_EQ(a->host_id, "host-b");
    EXPECT_EQ(a->first_seen_ms, kT0);  // first_seen survives re-registration
    EXPECT_EQ(a->last_seen_ms, kT0 + kLease);
}

TEST_F(IdentityDbTest, RenewExtendsTheLease) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_->renew_session("gw-01", "s1", kT0 + 20'000, kLease));
    // Past the first lease, still inside the renewed one.
    auto r = db_->open_session(hello("gw-01", "s2"), kT0 + kLease + 5'000, kLease);
    EXPECT_EQ(r->outcome, OpenOutcome::duplicate);
    EXPECT_EQ(db_->get_agent("gw-01", kT0 + 20'000)->last_seen_ms, kT0 + 20'000);
}

TEST_F(IdentityDbTest, AllowedAfterReleaseAndRenewThenNotFound) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    auto released = db_->release("gw-01");
    ASSERT_TRUE(released);
    EXPECT_EQ(released.value(), std::optional<std::string>("s1"));

    auto renew = db_->renew_session("gw-01", "s1", kT0 + 1, kLease);
    EXPECT_EQ(renew.code(), Errc::not_found);

    auto r = db_->open_session(hello("gw-01", "s2", "host-b"), kT0 + 2, kLease);
    EXPECT_EQ(r->outcome, OpenOutcome::opened);
    // The old session, reconnecting later, now meets the new lease.
    EXPECT_EQ(db_->renew_session("gw-01", "s1", kT0 + 3, kLease).code(), Errc::not_found);
    EXPECT_TRUE(db_->renew_session("gw-01", "s2", kT0 + 3, kLease));
}

TEST_F(IdentityDbTest, ReleaseWithoutLeaseAndUnknownAgent) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_->close_session("gw-01", "s1", kT0 + 1));
    auto none = db_->release("gw-01");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none.value().has_value());
    EXPECT_EQ(db_->release("nobody").status().code(), Errc::not_found);
}

TEST_F(IdentityDbTest, CloseOnlyDropsOwnLease) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_->close_session("gw-01", "stale", kT0 + 1));  // no-op, still ok
    EXPECT_TRUE(db_->get_agent("gw-01", kT0 + 2)->online);
    ASSERT_TRUE(db_->close_session("gw-01", "s1", kT0 + 3));
    EXPECT_FALSE(db_->get_agent("gw-01", kT0 + 4)->online);
    // A clean reconnect never meets a duplicate.
    EXPECT_EQ(db_->open_session(hello("gw-01", "s2"), kT0 + 5, kLease)->outcome,
              OpenOutcome::opened);
}

TEST_F(IdentityDbTest, RevokeRefusesHellosAndRenewals) {
    EXPECT_EQ(db_->revoke("gw-01").code(), Errc::not_found);
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(db_->revoke("gw-01"));

    EXPECT_EQ(db_->renew_session("gw-01", "s1", kT0 + 1, kLease).code(), Errc::conflict);
    ASSERT_TRUE(db_->close_session("gw-01", "s1", kT0 + 2));
    auto r = db_->open_session(hello("gw-01", "s2"), kT0 + 3, kLease);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->outcome, OpenOutcome::revoked);
    auto a = db_->get_agent("gw-01", kT0 + 4);
    EXPECT_TRUE(a->revoked);
    EXPECT_FALSE(a->online);
}

TEST_F(IdentityDbTest, SameSessionRetryIsIdempotent) {
    ASSERT_EQ(db_->open_session(hello("gw-01", "s1"), kT0, kLease)->outcome, OpenOutcome::opened);
    auto again = db_->open_session(hello("gw-01", "s1"), kT0 + 10, kLease);
    EXPECT_EQ(again->outcome, OpenOutcome::opened);
    // Same session id from another host is still a duplicate.
    auto other = db_->open_session(hello("gw-01", "s1", "host-b"), kT0 + 11, kLease);
    EXPECT_EQ(other->outcome, OpenOutcome::duplicate);
}

TEST_F(IdentityDbTest, ListAgentsOrderedWithOnlineState) {
    ASSERT_TRUE(db_->open_session(hello("gw-02", "s2"), kT0, kLease));
    ASSERT_TRUE(db_->open_session(hello("gw-01", "s1"), kT0, 1'000));
    auto list = db_->list_agents(kT0 + 5'000);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].agent_id, "gw-01");
    EXPECT_FALSE((*list)[0].online);  // its 1 s lease ran out
    EXPECT_EQ((*list)[1].agent_id, "gw-02");
    EXPECT_TRUE((*list)[1].online);
    EXPECT_EQ(db_->get_agent("nobody", kT0).status().code(), Errc::not_found);
}

TEST_F(IdentityDbTest, FiftyConcurrentOpenersExactlyOneWins) {
    constexpr int kThreads = 50;
    std::atomic<int> opened{0};
    std::atomic<int> duplicate{0};
    std::atomic<int> failed{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            auto r = db_->open_session(hello("gw-race", "s" + std::to_string(i)), kT0, kLease);
            if (!r) {
                ++failed;
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
}

TEST_F(IdentityDbTest, TwoConnectionsToOneFileStillOneWinner) {
    // A second store on the same file (another process in production) races too: the
    // PRIMARY KEY, not this process's mutex, decides.
    sqlite::Options o;
    o.path = dir_.file("identity.db");
    auto second = IdentityDb::open(o);
    ASSERT_TRUE(second);
    std::atomic<int> opened{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 20; ++i) {
        IdentityDb* db = (i % 2 == 0) ? db_.get() : second->get();
        threads.emplace_back([&opened, db, i] {
            auto r = db->open_session(hello("gw-x", "s" + std::to_string(i)), kT0, kLease);
            if (r && r->outcome == OpenOutcome::opened) {
                ++opened;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(opened.load(), 1);
}

TEST_F(IdentityDbTest, SchemaVersionRecordedAndNewerRefused) {
    db_.reset();
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.file("identity.db").c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(st, 0),
              static_cast<std::int64_t>(IdentityDb::migrations().size()));
    sqlite3_finalize(st);
    ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);

    sqlite::Options o;
    o.path = dir_.file("identity.db");
    auto reopened = IdentityDb::open(o);
    ASSERT_FALSE(reopened);
    EXPECT_NE(reopened.status().message().find("newer"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::identity_sqlite
