// ah_redis against the shared Redis 7: commands, pipelining, scripts (EVALSHA with the
// NOSCRIPT fallback), pub/sub, health and latency, and fail-fast when not connected.
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/_common_redis/client.hpp"
#include "tests/support/fake_registries.hpp"
#include "tests/support/fake_context.hpp"
#include "tests/support/services.hpp"

namespace agenthost::redis {
namespace {

using namespace std::chrono_literals;
using testing::wait_until;

// Waits for one asynchronous answer.
template <typename T>
struct Waiter {
    std::mutex mu;
    std::optional<T> value;
    auto callback() {
        return [this](T v) {
            std::lock_guard lock(mu);
            value.emplace(std::move(v));
        };
    }
    T get() {
        EXPECT_TRUE(wait_until([&] {
            std::lock_guard lock(mu);
            return value.has_value();
        }));
        std::lock_guard lock(mu);
        return std::move(*value);
    }
};

class ClientTest : public ::testing::Test {
protected:
    testing::FakeLogger log;  // outlives the loop's threads
    LocalLoop loop{2};
    std::string prefix = testsvc::fresh_redis_prefix();

    std::shared_ptr<Client> make(std::string url = testsvc::shared_redis_url()) {
        auto ep = parse_url(url);
        EXPECT_TRUE(ep.ok());
        ClientOptions o;
        o.endpoint = *ep;
        o.ping_interval = 50ms;
        auto c = Client::create(loop.native_loop(), o, log);
        return c;
    }
    sdk::Result<Reply> run(Client& c, Argv argv) {
        Waiter<sdk::Result<Reply>> w;
        c.command(std::move(argv), w.callback());
        return w.get();
    }
};

TEST_F(ClientTest, RunsCommandsAndPipelines) {
    auto c = make();
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); })) << c->last_error();
    auto set = run(*c, {"SET", prefix + "k", std::string("v\0w", 3)});
    ASSERT_TRUE(set.ok()) << set.status().message();
    EXPECT_EQ(set->text(), "OK");
    auto get = run(*c, {"GET", prefix + "k"});
    ASSERT_TRUE(get.ok());
    EXPECT_EQ(get->text(), std::string("v\0w", 3)) << "binary safe";
    EXPECT_TRUE(run(*c, {"GET", prefix + "missing"})->is_nil());
    auto bad = run(*c, {"INCR", prefix + "k"});
    ASSERT_TRUE(bad.ok()) << "an error reply is a reply";
    EXPECT_TRUE(bad->is_error());

    std::vector<Argv> batch;
    for (int i = 0; i < 100; ++i) {
        batch.push_back({"RPUSH", prefix + "list", std::to_string(i)});
    }
    batch.push_back({"LRANGE", prefix + "list", "0", "-1"});
    Waiter<sdk::Result<std::vector<Reply>>> w;
    c->pipeline(batch, w.callback());
    auto replies = w.get();
    ASSERT_TRUE(replies.ok());
    ASSERT_EQ(replies->size(), 101u);
    EXPECT_EQ(replies->at(99).integer, 100);
    ASSERT_EQ(replies->back().size(), 100u);
    EXPECT_EQ(replies->back().at(42).text(), "42") << "sent and answered in order";

    ASSERT_TRUE(wait_until([&] { return c->ping_latency_ms().has_value(); }));
    EXPECT_GE(*c->ping_latency_ms(), 0.0);
    EXPECT_EQ(c->connects(), 1u);
    c->stop();
}

// Commands issued on callers' threads are written from there at once (no hand-off to
// the I/O thread) unless an earlier one still waits on the strand: each thread's
// commands reach Redis in the order it issued them, and no completion ever runs
// inside the caller's command() call or on the caller's thread.
TEST_F(ClientTest, CommandsFromManyThreadsKeepEachThreadsOrder) {
    auto c = make();
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }));
    constexpr int threads = 4;
    constexpr int per_thread = 500;
    std::atomic<int> answered{0};
    std::atomic<int> inline_completions{0};
    std::atomic<int> on_caller_thread{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < threads; ++t) {
        callers.emplace_back([&, t] {
            thread_local bool inside = false;
            const auto me = std::this_thread::get_id();
            for (int i = 0; i < per_thread; ++i) {
                inside = true;
                c->command({"RPUSH", prefix + "order:" + std::to_string(t), std::to_string(i)},
                           [&, me](sdk::Result<Reply> r) {
                               if (inside) {
                                   ++inline_completions;
                               }
                               if (std::this_thread::get_id() == me) {
                                   ++on_caller_thread;
                               }
                               if (r.ok() && !r->is_error()) {
                                   ++answered;
                               }
                           });
                inside = false;
            }
        });
    }
    for (auto& th : callers) {
        th.join();
    }
    ASSERT_TRUE(wait_until([&] { return answered.load() == threads * per_thread; }))
        << answered.load();
    EXPECT_EQ(inline_completions.load(), 0);
    EXPECT_EQ(on_caller_thread.load(), 0);
    for (int t = 0; t < threads; ++t) {
        auto list = run(*c, {"LRANGE", prefix + "order:" + std::to_string(t), "0", "-1"});
        ASSERT_TRUE(list.ok());
        ASSERT_EQ(list->size(), static_cast<std::size_t>(per_thread));
        for (int i = 0; i < per_thread; ++i) {
            ASSERT_EQ(list->at(static_cast<std::size_t>(i)).text(), std::to_string(i))
                << "thread " << t << " position " << i;
        }
    }
    c->stop();
}

TEST_F(ClientTest, EvalFallsBackToTheScriptBodyOnNoscript) {
    auto c = make();
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }));
    static const Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    ASSERT_TRUE(run(*c, {"SCRIPT", "FLUSH"}).ok());
    Waiter<sdk::Result<Reply>> w1;
    c->eval(script, {prefix + "n"}, {"5"}, w1.callback());
    auto r1 = w1.get();
    ASSERT_TRUE(r1.ok());
    EXPECT_EQ(r1->as_integer(), 5) << r1->debug();
    Waiter<sdk::Result<Reply>> w2;
    c->eval(script, {prefix + "n"}, {"2"}, w2.callback());
    EXPECT_EQ(w2.get()->as_integer(), 7) << "cached now: EVALSHA answers directly";
    auto exists = run(*c, {"SCRIPT", "EXISTS", script.sha1()});
    EXPECT_EQ(exists->at(0).integer, 1);
    c->stop();
}

TEST_F(ClientTest, SubscriberReceivesMessages) {
    auto sub = make();
    std::mutex mu;
    std::vector<std::string> got;
    sub->subscribe({prefix + "chan"}, [&](const std::string& ch, const std::string& payload) {
        std::lock_guard lock(mu);
        got.push_back(ch + "=" + payload);
    });
    std::atomic<int> ready{0};
    sub->on_ready([&] { ++ready; });
    sub->start();
    auto pub = make();
    pub->start();
    ASSERT_TRUE(wait_until([&] { return sub->healthy() && pub->healthy() && ready == 1; }));
    // SUBSCRIBE is sent before the hook; publish until the subscription is live.
    ASSERT_TRUE(wait_until([&] {
        auto n = run(*pub, {"PUBLISH", prefix + "chan", "hello"});
        return n.ok() && n->integer == 1;
    }));
    ASSERT_TRUE(wait_until([&] {
        std::lock_guard lock(mu);
        return !got.empty();
    }));
    {
        std::lock_guard lock(mu);
        EXPECT_EQ(got.back(), prefix + "chan=hello");
    }
    auto refused = run(*sub, {"GET", "x"});
    EXPECT_EQ(refused.status().code(), sdk::Errc::unavailable) << "subscribers take no commands";
    sub->stop();
    pub->stop();
}

TEST_F(ClientTest, NotConnectedFailsFastWithUnavailable) {
    // Port 1 (tcpmux, privileged): nothing listens there on the test machines.
    auto c = make("redis://127.0.0.1:1");
    c->start();
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run(*c, {"PING"});
    EXPECT_EQ(r.status().code(), sdk::Errc::unavailable);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s) << "no waiting for a dead server";
    EXPECT_FALSE(c->healthy());
    ASSERT_TRUE(wait_until([&] { return !c->last_error().empty(); }));
    c->stop();
}

TEST_F(ClientTest, NoCompletionRunsAfterStop) {
    auto c = make();
    c->start();
    ASSERT_TRUE(wait_until([&] { return c->healthy(); }));
    std::atomic<int> calls{0};
    for (int i = 0; i < 1000; ++i) {
        c->command({"PING"}, [&](sdk::Result<Reply>) { ++calls; });
    }
    c->stop();
    const int at_stop = calls.load();
    // Let the loop drain whatever was in flight; nothing more may be delivered.
    Waiter<bool> w;
    auto other = make();
    other->start();
    ASSERT_TRUE(wait_until([&] { return other->healthy(); }));
    other->command({"PING"}, [&](sdk::Result<Reply>) { w.callback()(true); });
    EXPECT_TRUE(w.get());
    EXPECT_EQ(calls.load(), at_stop);
    other->stop();
}

}  // namespace
}  // namespace agenthost::redis
