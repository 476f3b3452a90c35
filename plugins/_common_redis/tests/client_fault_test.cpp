// ah_redis against a private Redis that the test stops and restarts: fail-fast while
// it is down, reconnect with backoff and the on_ready hooks when it is back, and the
// command timeout when the server stops answering (CLIENT PAUSE).
#include <atomic>
#include <mutex>
#include <optional>

#include <gtest/gtest.h>

#include "plugins/_common_redis/client.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::redis {
namespace {

using namespace std::chrono_literals;
using testing::wait_until;

sdk::Result<Reply> run(Client& c, Argv argv) {
    std::mutex mu;
    std::optional<sdk::Result<Reply>> out;
    c.command(std::move(argv), [&](sdk::Result<Reply> r) {
        std::lock_guard lock(mu);
        out.emplace(std::move(r));
    });
    EXPECT_TRUE(wait_until([&] {
        std::lock_guard lock(mu);
        return out.has_value();
    }, 20s));
    std::lock_guard lock(mu);
    return out ? std::move(*out) : sdk::Result<Reply>(sdk::error(sdk::Errc::timeout, "no answer"));
}

TEST(RedisClientFault, RecoversAfterTheServerRestarts) {
    testsvc::RedisServer server;
    testing::FakeLogger log;  // outlives the loop's threads
    LocalLoop loop(2);
    ClientOptions o;
    o.endpoint = *parse_url(server.url());
    o.ping_interval = 50ms;
    o.backoff_min = 20ms;
    o.backoff_max = 200ms;
    auto c = Client::create(loop.native_loop(), o, log);
    std::atomic<int> ready{0};
    c->on_ready([&] { ++ready; });
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy() && ready == 1; }));
    ASSERT_TRUE(run(*c, {"SET", "k", "before"}).ok());

    server.stop();
    ASSERT_TRUE(wait_until([&] { return !c->healthy(); })) << "the ping notices";
    auto down = run(*c, {"GET", "k"});
    EXPECT_EQ(down.status().code(), sdk::Errc::unavailable);

    server.start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }, 20s)) << c->last_error();
    EXPECT_EQ(ready.load(), 2) << "hooks run again on reconnect";
    EXPECT_GE(c->connects(), 2u);
    auto after = run(*c, {"GET", "k"});
    ASSERT_TRUE(after.ok()) << after.status().message();
    EXPECT_EQ(after->text(), "before") << "AOF kept the acknowledged write";
    c->stop();
}

TEST(RedisClientFault, ASilentServerTimesOutAndTheClientReconnects) {
    testsvc::RedisServer server;
    testing::FakeLogger log;  // outlives the loop's threads
    LocalLoop loop(2);
    ClientOptions o;
    o.endpoint = *parse_url(server.url());
    o.command_timeout = 300ms;
    o.ping_interval = 50ms;
    o.backoff_min = 20ms;
    auto c = Client::create(loop.native_loop(), o, log);
    auto admin = Client::create(loop.native_loop(), o, log);
    c->start();
    admin->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy() && admin->healthy(); }));

    // The server holds every client's commands for 1.5 s: ours must give up at ~300 ms.
    ASSERT_TRUE(run(*admin, {"CLIENT", "PAUSE", "1500", "ALL"}).ok());
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run(*c, {"GET", "k"});
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(r.status().code(), sdk::Errc::unavailable);
    EXPECT_LT(took, 1400ms);
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }, 20s)) << c->last_error();
    EXPECT_TRUE(run(*c, {"PING"}).ok());
    c->stop();
    admin->stop();
}

}  // namespace
}  // namespace agenthost::redis
