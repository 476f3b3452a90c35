// IdentityDb::write_batch against a real SQLite file: many lease writes in one
// transaction answer exactly what the single calls would have answered in that
// order, a failed item undoes only itself, a failed transaction fails every item,
// and only an all-renewal batch commits without fsync.

#include <sqlite3.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

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
    h.capabilities = {"builtin.echo"};
    return h;
}

LeaseWrite open_w(std::string agent, std::string session, std::string host = "host-a",
                  std::string fingerprint = "aa11") {
    return OpenWrite{
        hello(std::move(agent), std::move(session), std::move(host), std::move(fingerprint)),
        kLease};
}
LeaseWrite renew_w(std::string agent, std::string session) {
    return RenewWrite{std::move(agent), std::move(session), kLease};
}
LeaseWrite close_w(std::string agent, std::string session) {
    return CloseWrite{std::move(agent), std::move(session)};
}

// Records every statement the writer connection runs (to see the sync level used).
int trace(unsigned /*type*/, void* ctx, void* /*p*/, void* x) {
    auto* out = static_cast<std::vector<std::string>*>(ctx);
    const char* sql = static_cast<const char*>(x);
    if (sql != nullptr) {
        out->emplace_back(sql);
    }
    return 0;
}

class LeaseBatchTest : public ::testing::Test {
protected:
    void SetUp() override {
        sqlite::Options o;
        o.path = dir_.file("identity.db");
        auto opened = IdentityDb::open(o);
        ASSERT_TRUE(opened) << opened.status().message();
        db_ = std::move(opened).value();
    }
    void exec(const char* sql) {
        auto st = db_->database().write([&](sqlite::Connection& c) { return c.exec(sql); });
        ASSERT_TRUE(st) << st.message();
    }
    std::vector<LeaseWriteResult> run(const std::vector<LeaseWrite>& writes,
                                      std::int64_t now = kT0) {
        return db_->write_batch(writes, now);
    }

    testing::TempDir dir_{"identity-batch"};
    std::unique_ptr<IdentityDb> db_;
};

TEST_F(LeaseBatchTest, ThousandOpensOneWinnerPerAgentInOneBatch) {
    // 500 agents, each asked for twice by different sessions (the second also with
    // another certificate): the first in the batch opens, the second is a duplicate
    // naming the first, and the refused hello did not rewrite the agent's record.
    std::vector<LeaseWrite> writes;
    for (int i = 0; i < 500; ++i) {
        writes.push_back(open_w("gw-" + std::to_string(i), "first-" + std::to_string(i)));
    }
    for (int i = 0; i < 500; ++i) {
        writes.push_back(
            open_w("gw-" + std::to_string(i), "second-" + std::to_string(i), "host-b", "bb22"));
    }
    auto out = run(writes);
    ASSERT_EQ(out.size(), 1000u);
    for (int i = 0; i < 500; ++i) {
        ASSERT_TRUE(out[i].status) << out[i].status.message();
        EXPECT_EQ(out[i].open.outcome, OpenOutcome::opened) << i;
        const auto& dup = out[500 + i];
        ASSERT_TRUE(dup.status) << dup.status.message();
        EXPECT_EQ(dup.open.outcome, OpenOutcome::duplicate) << i;
        EXPECT_EQ(dup.open.existing_session_id, "first-" + std::to_string(i));
        EXPECT_EQ(dup.open.existing_host_id, "host-a");
        EXPECT_EQ(dup.open.existing_fingerprint, "aa11");
    }
    auto list = db_->list_agents(kT0 + 1);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 500u);
    for (const auto& a : *list) {
        EXPECT_TRUE(a.online);
        EXPECT_EQ(a.session_id.value_or("").substr(0, 6), "first-");
        EXPECT_EQ(a.cert_fingerprint, "aa11");
    }
}

TEST_F(LeaseBatchTest, OutcomesFollowTheOrderInsideTheBatch) {
    ASSERT_TRUE(db_->open_session(hello("gw-rev", "s0"), kT0, kLease));
    ASSERT_TRUE(db_->revoke("gw-rev"));
    std::vector<LeaseWrite> writes = {
        open_w("gw-1", "s1"),        // 0 opened
        renew_w("gw-1", "s1"),       // 1 ok
        open_w("gw-1", "s1"),        // 2 same session, same host: a retry → opened
        close_w("gw-1", "s1"),       // 3 ok
        renew_w("gw-1", "s1"),       // 4 closed in this batch → not_found
        open_w("gw-1", "s2"),        // 5 the lease is free again → opened
        renew_w("gw-rev", "s0"),     // 6 revoked → conflict
        open_w("gw-rev", "s9"),      // 7 revoked
        open_w("", "s1"),            // 8 invalid, answered without the database
        renew_w("gw-none", "sx"),    // 9 never seen → not_found
        close_w("gw-1", "s-other"),  // 10 not the holder: ok, nothing dropped
        renew_w("gw-1", "s2"),       // 11 ok
    };
    auto out = run(writes);
    ASSERT_EQ(out.size(), writes.size());
    EXPECT_EQ(out[0].open.outcome, OpenOutcome::opened);
    EXPECT_TRUE(out[1].status) << out[1].status.message();
    EXPECT_TRUE(out[2].status);
    EXPECT_EQ(out[2].open.outcome, OpenOutcome::opened);
    EXPECT_TRUE(out[3].status);
    EXPECT_EQ(out[4].status.code(), Errc::not_found);
    EXPECT_TRUE(out[5].status);
    EXPECT_EQ(out[5].open.outcome, OpenOutcome::opened);
    EXPECT_EQ(out[6].status.code(), Errc::conflict);
    EXPECT_TRUE(out[7].status);
    EXPECT_EQ(out[7].open.outcome, OpenOutcome::revoked);
    EXPECT_EQ(out[8].status.code(), Errc::invalid_argument);
    EXPECT_EQ(out[9].status.code(), Errc::not_found);
    EXPECT_TRUE(out[10].status);
    EXPECT_TRUE(out[11].status);

    auto a = db_->get_agent("gw-1", kT0 + 1);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->online);
    EXPECT_EQ(a->session_id, "s2");
    // The revoked agent keeps its (stale) lease row, as revoke leaves it.
    auto r = db_->get_agent("gw-rev", kT0 + 1);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->revoked);
    EXPECT_EQ(r->session_id, "s0");
}

TEST_F(LeaseBatchTest, SameAnswersAsTheSingleCalls) {
    // The same sequence, once as single calls on one file and once as a batch on
    // another, gives the same outcomes.
    std::vector<LeaseWrite> writes = {open_w("a", "1"),  open_w("a", "2", "host-b"),
                                      renew_w("a", "2"), renew_w("a", "1"),
                                      close_w("a", "2"), close_w("a", "1"),
                                      renew_w("a", "1"), open_w("a", "2", "host-b"),
                                      open_w("b", "1"),  open_w("a", "1")};
    testing::TempDir other{"identity-single"};
    sqlite::Options o;
    o.path = other.file("single.db");
    auto single = IdentityDb::open(o);
    ASSERT_TRUE(single);
    std::vector<LeaseWriteResult> expected;
    for (const auto& w : writes) {
        if (const auto* op = std::get_if<OpenWrite>(&w)) {
            auto r = (*single)->open_session(op->hello, kT0, op->lease_ms);
            expected.push_back(r ? LeaseWriteResult{{}, *r} : LeaseWriteResult{r.status(), {}});
        } else if (const auto* rw = std::get_if<RenewWrite>(&w)) {
            expected.push_back(
                {(*single)->renew_session(rw->agent_id, rw->session_id, kT0, rw->lease_ms), {}});
        } else {
            const auto& cw = std::get<CloseWrite>(w);
            expected.push_back({(*single)->close_session(cw.agent_id, cw.session_id, kT0), {}});
        }
    }
    auto out = run(writes);
    ASSERT_EQ(out.size(), expected.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].status.code(), expected[i].status.code()) << i;
        EXPECT_EQ(out[i].open.outcome, expected[i].open.outcome) << i;
        EXPECT_EQ(out[i].open.existing_session_id, expected[i].open.existing_session_id) << i;
    }
    EXPECT_EQ(out[1].open.outcome, OpenOutcome::duplicate);
    EXPECT_EQ(out[2].status.code(), Errc::not_found);
    EXPECT_EQ(out[6].status.code(), Errc::not_found);
}

TEST_F(LeaseBatchTest, FailedItemUndoesOnlyItself) {
    // An SQL error in one item (a trigger aborting its agent upsert) fails that item;
    // the items around it commit, and its own earlier statements are undone.
    ASSERT_TRUE(db_->open_session(hello("gw-bad", "old"), kT0, kLease));
    exec(
        "CREATE TRIGGER refuse_bad BEFORE UPDATE ON agents WHEN NEW.agent_id = 'gw-bad'"
        " AND NEW.hostname = 'refuse' BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
    auto bad = hello("gw-bad", "new");
    bad.hostname = "refuse";
    const std::int64_t later = kT0 + kLease;  // gw-bad's lease has expired by then
    auto out = run({open_w("gw-1", "s1"), OpenWrite{bad, kLease}, open_w("gw-2", "s2")}, later);
    EXPECT_TRUE(out[0].status);
    EXPECT_FALSE(out[1].status);
    EXPECT_TRUE(out[2].status);
    EXPECT_TRUE(db_->get_agent("gw-1", later)->online);
    EXPECT_TRUE(db_->get_agent("gw-2", later)->online);
    // The expired lease row the failed item deleted is back (its savepoint rolled back).
    auto row = db_->database().read([](sqlite::Connection& c) -> sdk::Result<std::string> {
        auto q = c.prepare("SELECT session_id FROM sessions WHERE agent_id = 'gw-bad'");
        if (!q) {
            return q.status();
        }
        if (q->step() != SQLITE_ROW) {
            return sdk::Status(Errc::not_found, "no row");
        }
        return q->text(0);
    });
    ASSERT_TRUE(row) << row.status().message();
    EXPECT_EQ(*row, "old");
}

TEST_F(LeaseBatchTest, TransactionRolledBackFailsEveryItem) {
    exec(
        "CREATE TRIGGER doom BEFORE INSERT ON agents WHEN NEW.agent_id = 'gw-doom'"
        " BEGIN SELECT RAISE(ROLLBACK, 'whole transaction refused by test'); END");
    auto out = run({open_w("gw-1", "s1"), open_w("gw-doom", "s"), open_w("gw-2", "s2")});
    for (const auto& r : out) {
        EXPECT_FALSE(r.status);
    }
    EXPECT_EQ(db_->get_agent("gw-1", kT0).status().code(), Errc::not_found);
    EXPECT_EQ(db_->get_agent("gw-2", kT0).status().code(), Errc::not_found);
    // The connection is usable afterwards.
    auto again = run({open_w("gw-1", "s1")});
    EXPECT_TRUE(again[0].status) << again[0].status.message();
}

TEST_F(LeaseBatchTest, OnlyAllRenewalBatchesSkipTheFsync) {
    ASSERT_TRUE(db_->open_session(hello("gw-1", "s1"), kT0, kLease));
    std::vector<std::string> sql;
    db_->database().write([&](sqlite::Connection& c) {
        sqlite3_trace_v2(c.raw(), SQLITE_TRACE_STMT, &trace, &sql);
        return 0;
    });
    auto lowered = [&] {
        int n = 0;
        for (const auto& s : sql) {
            n += s.find("synchronous=NORMAL") != std::string::npos ? 1 : 0;
        }
        sql.clear();
        return n;
    };
    auto renewals = run({renew_w("gw-1", "s1"), renew_w("gw-1", "s1")});
    EXPECT_TRUE(renewals[0].status && renewals[1].status);
    EXPECT_EQ(lowered(), 1);
    auto mixed = run({renew_w("gw-1", "s1"), open_w("gw-2", "s2")});
    EXPECT_TRUE(mixed[0].status && mixed[1].status);
    EXPECT_EQ(lowered(), 0);
    auto closing = run({renew_w("gw-1", "s1"), close_w("gw-2", "s2")});
    EXPECT_TRUE(closing[0].status && closing[1].status);
    EXPECT_EQ(lowered(), 0);
    // FULL is back after a renewal batch.
    auto level = db_->database().write([](sqlite::Connection& c) -> std::int64_t {
        sqlite3_trace_v2(c.raw(), 0, nullptr, nullptr);
        auto q = c.prepare("PRAGMA synchronous");
        return q && q->step() == SQLITE_ROW ? q->int64(0) : -1;
    });
    EXPECT_EQ(level, 2);  // FULL
}

TEST_F(LeaseBatchTest, EmptyAndAllInvalidBatchesTouchNothing) {
    EXPECT_TRUE(run({}).empty());
    auto out = run({OpenWrite{hello("gw-1", "s1"), 0}, open_w("gw-2", "")});
    EXPECT_EQ(out[0].status.code(), Errc::invalid_argument);
    EXPECT_EQ(out[1].status.code(), Errc::invalid_argument);
    auto list = db_->list_agents(kT0);
    ASSERT_TRUE(list);
    EXPECT_TRUE(list->empty());
}

}  // namespace
}  // namespace agenthost::identity_sqlite
