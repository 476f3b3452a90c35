// The test-service plumbing: real servers, reachable, isolated, restartable.
#include <gtest/gtest.h>

#include "tests/support/services.hpp"

namespace ts = agenthost::testsvc;

namespace {

std::string psql(const std::string& url, const std::string& sql) {
    return ts::detail::run("psql -tA -v ON_ERROR_STOP=1 " + ts::detail::quote(url) + " -c " +
                           ts::detail::quote(sql));
}

std::string redis(const std::string& url, const std::string& args) {
    return ts::detail::run("redis-cli -u " + ts::detail::quote(url) + " " + args);
}

}  // namespace

TEST(Services, SharedPostgresAnswersAndDatabasesAreIsolated) {
    auto a = ts::fresh_postgres_database();
    auto b = ts::fresh_postgres_database();
    ASSERT_NE(a, b);
    psql(a, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)");
    EXPECT_EQ(psql(a, "SELECT x FROM t"), "42\n");
    EXPECT_THROW(psql(b, "SELECT x FROM t"), std::runtime_error);
}

TEST(Services, SharedRedisAnswers) {
    auto url = ts::shared_redis_url();
    auto key = ts::fresh_redis_prefix() + "k";
    redis(url, "SET " + key + " v1");
    EXPECT_EQ(redis(url, "GET " + key), "v1\n");
    EXPECT_EQ(redis(url, "CONFIG GET appendonly"), "appendonly\nyes\n");
}

TEST(Services, PrivatePostgresKeepsDataAcrossStopAndStart) {
    ts::PostgresServer pg;
    psql(pg.url(), "CREATE TABLE t (x int); INSERT INTO t VALUES (7)");
    pg.stop();
    EXPECT_THROW(psql(pg.url(), "SELECT 1"), std::runtime_error);
    pg.start();
    EXPECT_EQ(psql(pg.url(), "SELECT x FROM t"), "7\n");
}

TEST(Services, PrivateRedisKeepsAcknowledgedWritesAcrossRestart) {
    ts::RedisServer r;
    redis(r.url(), "SET k durable");
    r.stop();
    EXPECT_THROW(redis(r.url(), "PING"), std::runtime_error);
    r.start();
    // appendfsync always: an acknowledged write survives the restart.
    EXPECT_EQ(redis(r.url(), "GET k"), "durable\n");
}
