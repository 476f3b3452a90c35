// Migrations against a real PostgreSQL 15 (fresh database per test): applied once,
// idempotent, recorded in schema_version, refused when the database is newer or the
// history was edited, rolled back when a step fails, and race-free when many
// migrators (threads with their own connections) start together.

#include <atomic>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "plugins/_common_postgres/pg_migrate.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::pg {
namespace {

using sdk::Errc;

// Not idempotent on purpose: applying a step twice would fail or double the row.
const std::vector<Migration> kSteps = {
    {1, "init",
     "CREATE TABLE widgets (id int PRIMARY KEY, label text NOT NULL);"
     "INSERT INTO widgets VALUES (1, 'first');"},
    {2, "more",
     "ALTER TABLE widgets ADD COLUMN weight int NOT NULL DEFAULT 0;"
     "INSERT INTO widgets VALUES (2, 'second', 5);"},
};

class MigrateTest : public ::testing::Test {
protected:
    std::int64_t count(const std::string& sql) {
        pqxx::nontransaction tx(conn_);
        return tx.exec1(sql)[0].as<std::int64_t>();
    }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_.file(name)) << text;
    }

    std::string url_ = testsvc::fresh_postgres_database();
    pqxx::connection conn_{url_};
    testing::TempDir dir_{"pg-migrations"};
};

TEST_F(MigrateTest, AppliesOnceAndRecordsVersions) {
    auto first = apply_migrations(conn_, "widgets", kSteps);
    ASSERT_TRUE(first) << first.status().message();
    ASSERT_EQ(first->size(), 2u);
    EXPECT_EQ((*first)[0].name, "init");
    EXPECT_EQ((*first)[1].version, 2);

    auto again = apply_migrations(conn_, "widgets", kSteps);
    ASSERT_TRUE(again) << again.status().message();
    EXPECT_TRUE(again->empty());
    EXPECT_EQ(count("SELECT count(*) FROM widgets"), 2);

    auto recorded = applied_migrations(conn_, "widgets");
    ASSERT_TRUE(recorded);
    ASSERT_EQ(recorded->size(), 2u);
    EXPECT_EQ((*recorded)[1].name, "more");
    EXPECT_EQ(count("SELECT count(*) FROM schema_version WHERE applied_at <= now()"), 2);
}

TEST_F(MigrateTest, OnlyPendingStepsRun) {
    ASSERT_TRUE(apply_migrations(conn_, "widgets", std::span(kSteps).first(1)));
    EXPECT_EQ(count("SELECT count(*) FROM widgets"), 1);
    auto rest = apply_migrations(conn_, "widgets", kSteps);
    ASSERT_TRUE(rest) << rest.status().message();
    ASSERT_EQ(rest->size(), 1u);
    EXPECT_EQ((*rest)[0].version, 2);
    EXPECT_EQ(count("SELECT count(*) FROM widgets"), 2);
}

TEST_F(MigrateTest, ComponentsAreIndependent) {
    ASSERT_TRUE(apply_migrations(conn_, "widgets", kSteps));
    const std::vector<Migration> other = {{1, "init", "CREATE TABLE gadgets (id int);"}};
    auto r = apply_migrations(conn_, "gadgets", other);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->size(), 1u);
    EXPECT_EQ(count("SELECT count(*) FROM schema_version"), 3);
}

TEST_F(MigrateTest, NewerSchemaAndEditedHistoryRefused) {
    ASSERT_TRUE(apply_migrations(conn_, "widgets", kSteps));
    auto older = apply_migrations(conn_, "widgets", std::span(kSteps).first(1));
    ASSERT_FALSE(older);
    EXPECT_EQ(older.status().code(), Errc::conflict);
    EXPECT_NE(older.status().message().find("newer"), std::string::npos);

    auto renamed = kSteps;
    renamed[0].name = "initial";
    auto edited = apply_migrations(conn_, "widgets", renamed);
    ASSERT_FALSE(edited);
    EXPECT_EQ(edited.status().code(), Errc::conflict);
}

TEST_F(MigrateTest, FailingStepRolledBackAndNamed) {
    std::vector<Migration> steps = kSteps;
    steps.push_back({3, "broken", "CREATE TABLE half (id int); SELECT * FROM missing_table;"});
    auto r = apply_migrations(conn_, "widgets", steps);
    ASSERT_FALSE(r);
    EXPECT_NE(r.status().message().find("3_broken"), std::string::npos) << r.status().message();
    EXPECT_EQ(count("SELECT count(*) FROM schema_version"), 2);  // 1 and 2 committed
    EXPECT_EQ(count("SELECT count(*) FROM pg_tables WHERE tablename = 'half'"), 0);
}

TEST_F(MigrateTest, BadListsRefusedBeforeTouchingTheDatabase) {
    std::vector<Migration> unordered = {kSteps[1], kSteps[0]};
    EXPECT_EQ(apply_migrations(conn_, "widgets", unordered).status().code(),
              Errc::invalid_argument);
    std::vector<Migration> zero = {{0, "zero", "SELECT 1"}};
    EXPECT_EQ(apply_migrations(conn_, "widgets", zero).status().code(), Errc::invalid_argument);
}

TEST_F(MigrateTest, LoadsFromDirectory) {
    write("0002_more.sql", kSteps[1].sql);
    write("0001_init.sql", kSteps[0].sql);
    write("README.md", "not a migration");
    write("0003-bad-name.sql", "SELECT 1");
    auto loaded = load_migrations(dir_.path());
    ASSERT_TRUE(loaded) << loaded.status().message();
    ASSERT_EQ(loaded->size(), 2u);
    EXPECT_EQ((*loaded)[0].version, 1);
    EXPECT_EQ((*loaded)[1].name, "more");

    auto n = migrate(conn_, "widgets", dir_.path());
    ASSERT_TRUE(n) << n.status().message();
    EXPECT_EQ(*n, 2);
    EXPECT_EQ(*migrate(conn_, "widgets", dir_.path()), 0);

    write("0002_again.sql", "SELECT 1");
    EXPECT_EQ(load_migrations(dir_.path()).status().code(), Errc::invalid_argument);
    EXPECT_EQ(load_migrations(dir_.file("nope")).status().code(), Errc::not_found);
}

TEST_F(MigrateTest, ConcurrentMigratorsDoNotRace) {
    constexpr int kMigrators = 8;
    std::atomic<bool> go{false};
    std::atomic<int> applied{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kMigrators; ++i) {
        threads.emplace_back([&] {
            pqxx::connection conn(url_);  // one session each, like separate hosts
            while (!go.load()) {
                std::this_thread::yield();
            }
            auto r = apply_migrations(conn, "widgets", kSteps);
            if (r) {
                applied += static_cast<int>(r->size());
            } else {
                ++failed;
                ADD_FAILURE() << r.status().message();
            }
        });
    }
    go = true;
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(applied.load(), 2);  // each step applied by exactly one migrator
    EXPECT_EQ(count("SELECT count(*) FROM widgets"), 2);
    EXPECT_EQ(count("SELECT count(*) FROM schema_version"), 2);
}

}  // namespace
}  // namespace agenthost::pg
