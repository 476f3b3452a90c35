// The shared SQLite layer: migrations (order, atomicity, refusal of newer files),
// savepoints, cached statements, error mapping, and the AsyncGate stop contract.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "plugins/_common_sqlite/async_gate.hpp"
#include "plugins/_common_sqlite/sqlite.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::sqlite {
namespace {

using sdk::Errc;

std::int64_t count_rows(Connection& c, const std::string& table) {
    auto q = c.prepare("SELECT count(*) FROM " + table);
    return q && q->step() == SQLITE_ROW ? q->int64(0) : -1;
}

class SqliteTest : public ::testing::Test {
protected:
    Options options() const {
        Options o;
        o.path = dir_.file("t.db");
        return o;
    }
    testing::TempDir dir_{"common-sqlite"};
};

TEST_F(SqliteTest, MigrationsApplyInOrderOnceAndRecordVersion) {
    constexpr std::string_view steps[] = {
        "CREATE TABLE a (x INTEGER PRIMARY KEY)",
        "ALTER TABLE a ADD COLUMN y TEXT; INSERT INTO a (x, y) VALUES (1, 'one')",
    };
    auto c = Connection::open(options());
    ASSERT_TRUE(c);
    ASSERT_TRUE(migrate(**c, std::span(steps, 1)));
    EXPECT_EQ(*user_version(**c), 1);
    ASSERT_TRUE(migrate(**c, steps));
    EXPECT_EQ(*user_version(**c), 2);
    ASSERT_TRUE(migrate(**c, steps));  // nothing left: no second INSERT
    EXPECT_EQ(count_rows(**c, "a"), 1);
}

TEST_F(SqliteTest, FailedMigrationLeavesNothingHalfDone) {
    constexpr std::string_view steps[] = {
        "CREATE TABLE a (x INTEGER); CREATE TABLE a (x INTEGER)",  // second fails
    };
    auto c = Connection::open(options());
    ASSERT_TRUE(c);
    auto st = migrate(**c, steps);
    EXPECT_FALSE(st);
    EXPECT_NE(st.message().find("migration 1"), std::string::npos);
    EXPECT_EQ(*user_version(**c), 0);
    EXPECT_EQ(count_rows(**c, "a"), -1);  // table a does not exist
}

TEST_F(SqliteTest, NewerSchemaRefused) {
    auto c = Connection::open(options());
    ASSERT_TRUE(c);
    ASSERT_TRUE((*c)->exec("PRAGMA user_version = 5"));
    constexpr std::string_view steps[] = {"CREATE TABLE a (x INTEGER)"};
    auto st = migrate(**c, steps);
    EXPECT_EQ(st.code(), Errc::unavailable);
}

TEST_F(SqliteTest, SavepointRollbackKeepsTheOuterTransaction) {
    auto c = Connection::open(options());
    ASSERT_TRUE(c);
    Connection& conn = **c;
    ASSERT_TRUE(conn.exec("CREATE TABLE a (x INTEGER PRIMARY KEY)"));
    {
        auto tx = Transaction::begin(conn, Transaction::Kind::immediate);
        ASSERT_TRUE(tx);
        ASSERT_TRUE(conn.exec("INSERT INTO a VALUES (1)"));
        {
            auto sp = Savepoint::begin(conn, "sp");
            ASSERT_TRUE(sp);
            ASSERT_TRUE(conn.exec("INSERT INTO a VALUES (2)"));
            ASSERT_TRUE(sp->rollback());
        }
        ASSERT_TRUE(tx->commit());
    }
    EXPECT_EQ(count_rows(conn, "a"), 1);
    {
        auto tx = Transaction::begin(conn, Transaction::Kind::immediate);
        ASSERT_TRUE(conn.exec("INSERT INTO a VALUES (3)"));
    }  // not committed: rolled back
    EXPECT_EQ(count_rows(conn, "a"), 1);
}

TEST_F(SqliteTest, ConstraintMapsToConflictAndStatementsAreReusable) {
    auto c = Connection::open(options());
    ASSERT_TRUE(c);
    Connection& conn = **c;
    ASSERT_TRUE(conn.exec("CREATE TABLE a (x INTEGER PRIMARY KEY)"));
    for (int round = 0; round < 2; ++round) {
        auto ins = conn.prepare("INSERT INTO a VALUES (?1)");
        ASSERT_TRUE(ins);
        ins->bind(1, std::int64_t{7});
        auto st = ins->run();
        if (round == 0) {
            EXPECT_TRUE(st) << st.message();
        } else {
            EXPECT_EQ(st.code(), Errc::conflict);  // same cached statement, reset in between
        }
    }
    EXPECT_EQ(conn.exec("SELEKT 1").code(), Errc::internal);
}

TEST_F(SqliteTest, DatabasePingAndBusyMapping) {
    constexpr std::string_view steps[] = {"CREATE TABLE a (x INTEGER)"};
    Options o = options();
    o.busy_timeout_ms = 0;  // fail fast when another connection holds the write lock
    auto db = Database::open(o, steps);
    ASSERT_TRUE(db);
    auto ping = (*db)->ping();
    ASSERT_TRUE(ping) << ping.status().message();

    auto other = Connection::open(o);
    ASSERT_TRUE(other);
    auto hold = Transaction::begin(**other, Transaction::Kind::immediate);
    ASSERT_TRUE(hold);
    auto blocked = (*db)->ping();
    ASSERT_FALSE(blocked);
    EXPECT_EQ(blocked.status().code(), Errc::unavailable);  // busy is "retry later"
}

TEST(ResolvePath, DefaultsRelativeAndAbsolute) {
    EXPECT_EQ(resolve_path("", "/var/lib/ah/p", "p"), "/var/lib/ah/p/p.db");
    EXPECT_EQ(resolve_path("x/y.db", "/s", "p"), "/s/x/y.db");
    EXPECT_EQ(resolve_path("/abs.db", "/s", "p"), "/abs.db");
}

TEST(AsyncGate, CloseWaitsForRunningWorkAndDropsQueuedWork) {
    testing::FakeBlockingPool pool(testing::FakeBlockingPool::Mode::threaded, 1);
    auto gate = std::make_shared<AsyncGate>();
    std::mutex mu;
    std::condition_variable cv;
    bool running = false;
    bool release = false;
    std::atomic<int> completions{0};

    run_blocking<sdk::Status>(
        pool, gate, [&](sdk::Status) { ++completions; },
        [&]() {
            std::unique_lock lock(mu);
            running = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
            return sdk::Status{};
        });
    run_blocking<sdk::Status>(
        pool, gate, [&](sdk::Status) { ++completions; },
        [] { return sdk::Status{}; });  // queued behind the first
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return running; }));
    }
    std::atomic<bool> closed{false};
    std::thread closer([&] {
        gate->close();
        closed = true;
    });
    // close() must not return while the first task is inside.
    EXPECT_TRUE(testing::wait_until([&] { return gate->closed(); }));
    EXPECT_FALSE(closed.load());
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    closer.join();
    EXPECT_TRUE(closed.load());
    EXPECT_EQ(completions.load(), 1);  // the running one completed, the queued one never
    EXPECT_TRUE(testing::wait_until([&] { return pool.pending() == 0; }));
    EXPECT_EQ(completions.load(), 1);
}

TEST(AsyncGate, CloseFromInsideACompletionDoesNotDeadlock) {
    testing::FakeBlockingPool pool(testing::FakeBlockingPool::Mode::inline_run);
    auto gate = std::make_shared<AsyncGate>();
    bool done = false;
    run_blocking<sdk::Status>(
        pool, gate,
        [&](sdk::Status) {
            gate->close();  // e.g. the owner stops itself from a completion
            done = true;
        },
        [] { return sdk::Status{}; });
    EXPECT_TRUE(done);
    EXPECT_TRUE(gate->closed());
}

TEST(AsyncGate, ThrowingWorkBecomesInternal) {
    testing::FakeBlockingPool pool(testing::FakeBlockingPool::Mode::inline_run);
    auto gate = std::make_shared<AsyncGate>();
    std::optional<sdk::Result<int>> got;
    run_blocking<sdk::Result<int>>(
        pool, gate, [&](sdk::Result<int> r) { got.emplace(r); },
        []() -> sdk::Result<int> { throw std::runtime_error("x"); });
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->status().code(), Errc::internal);
}

}  // namespace
}  // namespace agenthost::sqlite
