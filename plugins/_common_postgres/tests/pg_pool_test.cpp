// Pool against a real PostgreSQL 15 (the shared test instance, one fresh database per
// test): queries, the bound on connections, error mapping, statement timeouts, and
// dropping + reopening a connection the server killed.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "plugins/_common_postgres/pg_pool.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::pg {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::Status;

// A loopback port nothing listens on: bound by the OS, then closed again.
int unused_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        return 1;
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

PoolOptions options_for(const std::string& url, std::size_t max = 2) {
    PoolOptions o;
    o.url = url;
    o.max_connections = max;
    o.acquire_timeout = 500ms;
    return o;
}

class PoolTest : public ::testing::Test {
protected:
    std::string url_ = testsvc::fresh_postgres_database();
};

TEST_F(PoolTest, RunsQueriesAndReusesConnections) {
    Pool pool(options_for(url_));
    int answer = 0;
    for (int i = 0; i < 5; ++i) {
        auto st = pool.with_connection([&](pqxx::connection& c) -> Status {
            pqxx::work tx(c);
            answer = tx.exec1("SELECT 40 + 2")[0].as<int>();
            tx.commit();
            return {};
        });
        ASSERT_TRUE(st) << st.message();
    }
    EXPECT_EQ(answer, 42);
    EXPECT_EQ(pool.open_connections(), 1u);  // sequential callers share one connection
    ASSERT_TRUE(pool.ping());
    EXPECT_TRUE(pool.healthy());
    EXPECT_GT(pool.last_ping_latency().count(), 0);
}

TEST_F(PoolTest, SessionSettingsApplied) {
    PoolOptions o = options_for(url_);
    o.statement_timeout = 1234ms;
    o.application_name = "pool_test";
    Pool pool(o);
    std::string timeout;
    std::string app;
    ASSERT_TRUE(pool.with_connection([&](pqxx::connection& c) -> Status {
        pqxx::nontransaction tx(c);
        timeout = tx.exec1("SHOW statement_timeout")[0].as<std::string>();
        app = tx.exec1("SHOW application_name")[0].as<std::string>();
        return {};
    }));
    EXPECT_EQ(timeout, "1234ms");
    EXPECT_EQ(app, "pool_test");
}

TEST_F(PoolTest, BoundedAndExhaustedWhenAllLent) {
    Pool pool(options_for(url_, 2));
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<int> holding{0};
    std::vector<std::thread> holders;
    for (int i = 0; i < 2; ++i) {
        holders.emplace_back([&] {
            (void)pool.with_connection([&](pqxx::connection&) -> Status {
                ++holding;
                released.wait();
                return {};
            });
        });
    }
    ASSERT_TRUE(testing::wait_until([&] { return holding.load() == 2; }));
    auto st = pool.with_connection([](pqxx::connection&) -> Status { return {}; });
    EXPECT_EQ(st.code(), Errc::exhausted) << st.message();
    EXPECT_EQ(pool.open_connections(), 2u);
    release.set_value();
    for (auto& t : holders) {
        t.join();
    }
    EXPECT_TRUE(pool.with_connection([](pqxx::connection&) -> Status { return {}; }));
    EXPECT_EQ(pool.open_connections(), 2u);
}

TEST_F(PoolTest, SqlErrorsMappedAndConnectionKept) {
    Pool pool(options_for(url_));
    auto st = pool.with_connection([](pqxx::connection& c) -> Status {
        pqxx::work tx(c);
        tx.exec("SELECT * FROM no_such_table");
        return {};
    });
    EXPECT_EQ(st.code(), Errc::internal);
    EXPECT_NE(st.message().find("42P01"), std::string::npos) << st.message();
    EXPECT_TRUE(pool.healthy());
    EXPECT_EQ(pool.open_connections(), 1u);

    auto dup = pool.with_connection([](pqxx::connection& c) -> Status {
        pqxx::work tx(c);
        tx.exec("CREATE TEMP TABLE t (k int PRIMARY KEY)");
        tx.exec("INSERT INTO t VALUES (1), (1)");
        return {};
    });
    EXPECT_EQ(dup.code(), Errc::conflict);
    EXPECT_EQ(dup.message().rfind("23505", 0), 0u) << dup.message();
}

TEST_F(PoolTest, StatementTimeoutIsTimeout) {
    PoolOptions o = options_for(url_);
    o.statement_timeout = 100ms;
    Pool pool(o);
    auto st = pool.with_connection([](pqxx::connection& c) -> Status {
        pqxx::work tx(c);
        tx.exec("SELECT pg_sleep(30)");
        return {};
    });
    EXPECT_EQ(st.code(), Errc::timeout) << st.message();
    EXPECT_TRUE(pool.with_connection([](pqxx::connection&) -> Status { return {}; }));
}

TEST_F(PoolTest, KilledConnectionDroppedThenReopened) {
    Pool pool(options_for(url_, 1));
    int pid = 0;
    ASSERT_TRUE(pool.with_connection([&](pqxx::connection& c) -> Status {
        pid = c.backendpid();
        return {};
    }));
    {
        pqxx::connection admin(url_);
        pqxx::nontransaction tx(admin);
        tx.exec_params("SELECT pg_terminate_backend($1)", pid);
    }
    // The server closed it: the next use fails as unavailable and drops it...
    Status st;
    ASSERT_TRUE(testing::wait_until([&] {
        st = pool.with_connection([](pqxx::connection& c) -> Status {
            pqxx::work tx(c);
            tx.exec("SELECT 1");
            tx.commit();
            return {};
        });
        return !st.ok();
    })) << "the terminated backend was never noticed";
    EXPECT_EQ(st.code(), Errc::unavailable) << st.message();
    EXPECT_FALSE(pool.healthy());
    // ...and the one after that gets a fresh connection.
    int new_pid = 0;
    ASSERT_TRUE(pool.with_connection([&](pqxx::connection& c) -> Status {
        new_pid = c.backendpid();
        pqxx::nontransaction tx(c);
        tx.exec("SELECT 1");
        return {};
    }));
    EXPECT_NE(new_pid, pid);
    EXPECT_TRUE(pool.healthy());
}

TEST(PoolDown, UnreachableServerIsUnavailableAndPasswordNeverShown) {
    const int port = unused_port();
    PoolOptions o;
    o.url = "postgresql://agenthost:s3cret@127.0.0.1:" + std::to_string(port) + "/agenthost";
    o.acquire_timeout = 500ms;
    Pool pool(o);
    auto st = pool.with_connection([](pqxx::connection&) -> Status { return {}; });
    EXPECT_EQ(st.code(), Errc::unavailable);
    EXPECT_EQ(st.message().find("s3cret"), std::string::npos) << st.message();
    // Within reconnect_backoff the next caller fails fast instead of connecting again.
    auto again = pool.with_connection([](pqxx::connection&) -> Status { return {}; });
    EXPECT_EQ(again.code(), Errc::unavailable);
    EXPECT_NE(again.message().find("next connect attempt"), std::string::npos) << again.message();
    EXPECT_FALSE(pool.ping());
    EXPECT_FALSE(pool.healthy());
    EXPECT_EQ(pool.open_connections(), 0u);
    EXPECT_EQ(pool.redacted_url().find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::pg
