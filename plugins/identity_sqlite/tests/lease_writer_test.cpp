// The group commit through the plugin (fake context, real SQLite file): 1,000
// concurrent hellos complete with the right outcomes in a handful of transactions,
// the queue is bounded, write_batch_max: 1 is one transaction per call, stop() drops
// queued writes without completing them, and a real thread pool keeps one winner per
// agent.

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "plugins/identity_sqlite/identity_plugin.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::identity_sqlite {
namespace {

using namespace std::chrono_literals;
using sdk::Errc;
using sdk::OpenOutcome;
using testing::FakeBlockingPool;
using testing::FakeContext;
using testing::FakeContextOptions;

FakeContextOptions options(FakeBlockingPool::Mode mode) {
    FakeContextOptions o;
    o.plugin_name = "identity_sqlite";
    o.blocking_mode = mode;
    return o;
}

sdk::AgentHello hello(std::string agent, std::string session, std::string host = "host-a") {
    sdk::AgentHello h;
    h.agent_id = std::move(agent);
    h.session_id = std::move(session);
    h.host_id = std::move(host);
    h.cert_fingerprint = "ff00";
    return h;
}

class LeaseWriterTest : public ::testing::Test {
protected:
    // Starts on an inline pool (start() waits on it), then switches to `mode`.
    void start(FakeBlockingPool::Mode mode, const sdk::json::object& config = {}) {
        auto made = create(ctx_, config);
        ASSERT_TRUE(made) << made.status().message();
        plugin_ = std::move(made).value();
        auto st = plugin_->start();
        ASSERT_TRUE(st) << st.message();
        store_ = ctx_.services().find<sdk::IdentityStore>();
        ASSERT_NE(store_, nullptr);
        ctx_.blocking_impl.set_mode(mode);
    }
    void TearDown() override {
        if (plugin_) {
            plugin_->stop();
        }
    }
    std::uint64_t counter(const char* name, const sdk::Labels& labels = {}) {
        return ctx_.metrics_impl.counter_value(name, labels).value_or(0);
    }

    FakeContext ctx_{options(FakeBlockingPool::Mode::inline_run)};
    std::unique_ptr<sdk::Plugin> plugin_;
    sdk::IdentityStore* store_ = nullptr;
};

TEST_F(LeaseWriterTest, ThousandConcurrentHellosInFewTransactions) {
    start(FakeBlockingPool::Mode::manual);
    // 1,000 hellos queued at once: 500 agents, two sessions each.
    std::vector<std::optional<sdk::Result<sdk::OpenSessionResult>>> got(1000);
    for (int i = 0; i < 1000; ++i) {
        const int agent = i % 500;
        store_->open_session(
            hello("gw-" + std::to_string(agent), "s" + std::to_string(i)), 30s,
            [&got, i](sdk::Result<sdk::OpenSessionResult> r) { got[i].emplace(std::move(r)); });
    }
    EXPECT_EQ(ctx_.blocking_impl.pending(), 1u);  // one drain task, not 1,000
    ctx_.run_until_idle();
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(got[i].has_value()) << i;
        ASSERT_TRUE(*got[i]) << got[i]->status().message();
        if (i < 500) {
            EXPECT_EQ((*got[i])->outcome, OpenOutcome::opened) << i;
        } else {
            EXPECT_EQ((*got[i])->outcome, OpenOutcome::duplicate) << i;
            EXPECT_EQ((*got[i])->existing_session_id, "s" + std::to_string(i - 500));
        }
    }
    EXPECT_EQ(counter("identity_sessions_total", {{"outcome", "opened"}}), 500u);
    EXPECT_EQ(counter("identity_sessions_total", {{"outcome", "duplicate"}}), 500u);
    EXPECT_EQ(counter("identity_sqlite_write_items_total"), 1000u);
    EXPECT_EQ(counter("identity_sqlite_write_batches_total"), 4u);  // ceil(1000 / 256)
}

TEST_F(LeaseWriterTest, RenewAfterCloseInTheSameBatchIsNotFound) {
    start(FakeBlockingPool::Mode::manual);
    std::optional<sdk::Result<sdk::OpenSessionResult>> opened;
    std::vector<std::optional<sdk::Status>> st(3);
    store_->open_session(hello("gw-1", "s1"), 30s, [&](auto r) { opened.emplace(std::move(r)); });
    store_->renew_session("gw-1", "s1", 30s, [&](sdk::Status s) { st[0] = s; });
    store_->close_session("gw-1", "s1", [&](sdk::Status s) { st[1] = s; });
    store_->renew_session("gw-1", "s1", 30s, [&](sdk::Status s) { st[2] = s; });
    ctx_.run_until_idle();
    ASSERT_TRUE(opened && *opened);
    EXPECT_EQ((*opened)->outcome, OpenOutcome::opened);
    ASSERT_TRUE(st[0] && st[1] && st[2]);
    EXPECT_TRUE(*st[0]);
    EXPECT_TRUE(*st[1]);
    EXPECT_EQ(st[2]->code(), Errc::not_found);
    EXPECT_EQ(counter("identity_sqlite_write_batches_total"), 1u);
}

TEST_F(LeaseWriterTest, FullQueueRefusesAtOnceAndLosesNothingQueued) {
    sdk::json::object cfg;
    cfg["write_queue_max"] = 10;
    start(FakeBlockingPool::Mode::manual, cfg);
    int answered = 0;
    int refused = 0;
    for (int i = 0; i < 15; ++i) {
        store_->open_session(hello("gw-" + std::to_string(i), "s"), 30s, [&](auto r) {
            ++answered;
            if (!r) {
                EXPECT_EQ(r.status().code(), Errc::unavailable);
                ++refused;
            }
        });
    }
    EXPECT_EQ(refused, 5);  // answered inline, before the pool ran anything
    EXPECT_EQ(answered, 5);
    EXPECT_EQ(counter("identity_sqlite_write_refused_total"), 5u);
    ctx_.run_until_idle();
    EXPECT_EQ(answered, 15);
    EXPECT_EQ(counter("identity_sessions_total", {{"outcome", "opened"}}), 10u);
}

TEST_F(LeaseWriterTest, BatchMaxOneIsOneTransactionPerWrite) {
    sdk::json::object cfg;
    cfg["write_batch_max"] = 1;
    start(FakeBlockingPool::Mode::manual, cfg);
    int ok = 0;
    for (int i = 0; i < 20; ++i) {
        store_->open_session(hello("gw-" + std::to_string(i), "s"), 30s,
                             [&](auto r) { ok += r && r->outcome == OpenOutcome::opened ? 1 : 0; });
    }
    ctx_.run_until_idle();
    EXPECT_EQ(ok, 20);
    EXPECT_EQ(counter("identity_sqlite_write_batches_total"), 20u);
}

TEST_F(LeaseWriterTest, QueuedWritesNeverCompleteAfterStop) {
    start(FakeBlockingPool::Mode::manual);
    bool completed = false;
    store_->open_session(hello("gw-1", "s1"), 30s, [&](auto) { completed = true; });
    store_->renew_session("gw-1", "s1", 30s, [&](auto) { completed = true; });
    plugin_->stop();
    ctx_.run_until_idle();  // the drain task runs now and finds the gate closed
    EXPECT_FALSE(completed);
    std::optional<sdk::Status> late;
    store_->close_session("gw-1", "s1", [&](sdk::Status s) { late = s; });
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->code(), Errc::unavailable);
    EXPECT_EQ(ctx_.blocking_impl.pending(), 0u);
}

TEST_F(LeaseWriterTest, CompletionMayCallTheStoreAgain) {
    start(FakeBlockingPool::Mode::inline_run);
    std::optional<sdk::Status> renewed;
    store_->open_session(hello("gw-1", "s1"), 30s, [&](auto r) {
        ASSERT_TRUE(r);
        store_->renew_session("gw-1", "s1", 30s, [&](sdk::Status s) { renewed = s; });
    });
    ASSERT_TRUE(renewed.has_value());
    EXPECT_TRUE(*renewed) << renewed->message();
}

TEST(LeaseWriterThreaded, ConcurrentCallersOneWinnerPerAgent) {
    FakeContext ctx(options(FakeBlockingPool::Mode::inline_run));
    auto made = create(ctx, {});
    ASSERT_TRUE(made);
    auto plugin = std::move(made).value();
    ASSERT_TRUE(plugin->start());
    auto* store = ctx.services().find<sdk::IdentityStore>();
    ctx.blocking_impl.set_mode(FakeBlockingPool::Mode::threaded);

    // 4 threads × 250 hellos over 100 agents, then a renewal from every caller.
    constexpr int kThreads = 4;
    constexpr int kPerThread = 250;
    std::mutex mu;
    std::map<std::string, int> opened;  // agent → winners
    std::map<std::string, std::string> holder;
    std::atomic<int> done{0};
    std::atomic<int> renew_ok{0};
    std::atomic<int> renew_not_found{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                std::string agent = "gw-" + std::to_string(i % 100);
                std::string session = "t" + std::to_string(t) + "-" + std::to_string(i);
                store->open_session(hello(agent, session), 30s,
                                    [&, agent, session](sdk::Result<sdk::OpenSessionResult> r) {
                                        if (!r) {
                                            ++errors;
                                        } else if (r->outcome == OpenOutcome::opened) {
                                            std::lock_guard lock(mu);
                                            ++opened[agent];
                                            holder[agent] = session;
                                        }
                                        store->renew_session(
                                            agent, session, 30s, [&](sdk::Status s) {
                                                if (s) {
                                                    ++renew_ok;
                                                } else if (s.code() == Errc::not_found) {
                                                    ++renew_not_found;
                                                } else {
                                                    ++errors;
                                                }
                                                ++done;
                                            });
                                    });
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    ASSERT_TRUE(testing::wait_until([&] { return done.load() == kThreads * kPerThread; }, 60s));
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(opened.size(), 100u);
    for (const auto& [agent, n] : opened) {
        EXPECT_EQ(n, 1) << agent;
    }
    EXPECT_EQ(renew_ok.load(), 100);  // only the holders renew
    EXPECT_EQ(renew_not_found.load(), kThreads * kPerThread - 100);
    // Fewer transactions than writes: the writes were grouped.
    auto batches =
        ctx.metrics_impl.counter_value("identity_sqlite_write_batches_total", {}).value_or(0);
    auto items =
        ctx.metrics_impl.counter_value("identity_sqlite_write_items_total", {}).value_or(0);
    EXPECT_EQ(items, 2u * kThreads * kPerThread);
    EXPECT_LE(batches, items);
    plugin->stop();
}

}  // namespace
}  // namespace agenthost::identity_sqlite
