// telemetry_postgres through its factory with a fake context (real pool threads) and
// a real PostgreSQL: metrics, results, acks only after commit, the bounded queue
// refusing while the database is blocked, health checks.

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "plugins/telemetry_postgres/tests/pg_test_db.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::telemetry_postgres {
namespace {

using agenthost::testing::FakeBlockingPool;
using agenthost::testing::FakeContext;
using agenthost::testing::FakeContextOptions;

FakeContextOptions options() {
    FakeContextOptions o;
    o.plugin_name = "telemetry_postgres";
    o.blocking_mode = FakeBlockingPool::Mode::threaded;
    return o;
}

template <typename T, typename Call>
std::optional<T> call(Call&& c) {
    std::mutex mu;
    std::optional<T> out;
    c([&](T v) {
        std::lock_guard lk(mu);
        out.emplace(std::move(v));
    });
    agenthost::testing::wait_until([&] {
        std::lock_guard lk(mu);
        return out.has_value();
    });
    std::lock_guard lk(mu);
    std::optional<T> result = std::move(out);
    return result;
}

class TelemetryPluginPgTest : public ::testing::Test {
protected:
    void start(sdk::json::object config = {}) {
        config["url"] = url_;
        auto made = create(ctx_, config);
        ASSERT_TRUE(made) << made.status().message();
        plugin_ = std::move(made).value();
        auto st = plugin_->start();
        ASSERT_TRUE(st) << st.message();
        store_ = ctx_.services().find<sdk::TelemetryStore>();
        ASSERT_NE(store_, nullptr);
    }
    void TearDown() override {
        if (plugin_) {
            plugin_->stop();
        }
    }
    std::int64_t rows() { return testing::count_rows(url_, "telemetry"); }

    std::string url_ = testsvc::fresh_postgres_database();
    FakeContext ctx_{options()};
    std::unique_ptr<sdk::Plugin> plugin_;
    sdk::TelemetryStore* store_ = nullptr;
};

TEST_F(TelemetryPluginPgTest, MigratesCountsAcceptedAndDuplicatePoints) {
    start();
    sdk::TelemetryBatch b{
        "gw-01", "b1", {{"cpu", 1, 0.5, {}}, {"cpu", 1, 0.5, {}}, {"cpu", 2, 1, {}}}};
    auto first =
        call<sdk::Result<sdk::IngestOutcome>>([&](auto cb) { store_->store_batch(b, cb); });
    ASSERT_TRUE(first && *first) << first->status().message();
    EXPECT_EQ((*first)->accepted, 2u);
    EXPECT_EQ((*first)->duplicates, 1u);
    auto again =
        call<sdk::Result<sdk::IngestOutcome>>([&](auto cb) { store_->store_batch(b, cb); });
    ASSERT_TRUE(again && *again);
    EXPECT_EQ((*again)->duplicates, 3u);
    auto& m = ctx_.metrics_impl;
    EXPECT_EQ(m.counter_value("telemetry_points_total", {{"outcome", "accepted"}}), 2u);
    EXPECT_EQ(m.counter_value("telemetry_points_total", {{"outcome", "duplicate"}}), 4u);
    EXPECT_EQ(rows(), 2);

    // A second start on the same database finds the schema current.
    pqxx::connection c(url_);
    auto applied = pg::applied_migrations(c, kComponent);
    ASSERT_TRUE(applied);
    EXPECT_EQ(applied->size(), migrations().size());
}

TEST_F(TelemetryPluginPgTest, InvalidBatchRefusedBeforeTheQueue) {
    start();
    sdk::TelemetryBatch b{"gw-01", "b1", {{"cpu", 1, std::nan(""), {}}}};
    auto r = call<sdk::Result<sdk::IngestOutcome>>([&](auto cb) { store_->store_batch(b, cb); });
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status().code(), sdk::Errc::invalid_argument);
    EXPECT_EQ(rows(), 0);
}

TEST_F(TelemetryPluginPgTest, ResultsCountedAndNotOverwritten) {
    start();
    sdk::CommandResult r;
    r.command_id = "c-1";
    r.agent_id = "gw-01";
    r.output = "one";
    EXPECT_TRUE(call<sdk::Result<bool>>([&](auto cb) { store_->store_result(r, cb); })->value());
    r.output = "two";
    EXPECT_FALSE(call<sdk::Result<bool>>([&](auto cb) { store_->store_result(r, cb); })->value());
    auto got = call<sdk::Result<std::optional<sdk::CommandResult>>>(
        [&](auto cb) { store_->get_result("c-1", cb); });
    ASSERT_TRUE(got && *got && (*got)->has_value());
    EXPECT_EQ((*got)->value().output, "one");
    EXPECT_EQ((*got)->value().received_ms, ctx_.clock().now_unix_ms());
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "stored"}}), 1u);
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "duplicate"}}), 1u);
}

// Every completion checks, from another connection, that its rows are visible: they
// can only be once the group's transaction committed. While a lock held elsewhere
// blocks the write, nothing completes; a full queue refuses with `exhausted`.
TEST_F(TelemetryPluginPgTest, AcksOnlyAfterCommitAndQueueIsBounded) {
    sdk::json::object cfg;
    cfg["ingest_queue_points"] = 1000;
    cfg["writers"] = 1;
    start(cfg);

    pqxx::connection blocker(url_);
    pqxx::work lock_tx(blocker);
    lock_tx.exec("LOCK TABLE telemetry IN EXCLUSIVE MODE");

    std::mutex mu;
    std::vector<sdk::Result<sdk::IngestOutcome>> done;
    std::vector<std::int64_t> visible_at_completion;
    const std::string url = url_;
    auto submit = [&](int i, int n) {
        sdk::TelemetryBatch b{"gw-" + std::to_string(i % 7), "b" + std::to_string(i), {}};
        for (int k = 0; k < n; ++k) {
            b.points.push_back({"m", i * 1000 + k, 1.0, {}});
        }
        const std::string agent = b.agent_id;
        const std::int64_t lo = i * 1000;
        store_->store_batch(b, [&, agent, lo](sdk::Result<sdk::IngestOutcome> r) {
            std::int64_t seen = -1;
            if (r) {
                pqxx::connection c(url);
                pqxx::nontransaction t(c);
                seen = t.exec_params(
                            "SELECT count(*) FROM telemetry WHERE agent_id = $1 AND"
                            " ts_ms >= $2 AND ts_ms < $3",
                            agent, lo, lo + 1000)[0][0]
                           .as<std::int64_t>();
            }
            std::lock_guard lk(mu);
            if (r) {
                visible_at_completion.push_back(seen - static_cast<std::int64_t>(r->accepted));
            }
            done.push_back(std::move(r));
        });
    };
    submit(0, 100);  // taken by the writer, which then waits for the lock
    ASSERT_TRUE(agenthost::testing::wait_until([&] {
        pqxx::connection c(url_);
        pqxx::nontransaction t(c);
        return t.exec(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND application_name = 'agenthost-telemetry'")[0][0]
                   .as<int>() > 0;
    }));
    for (int i = 1; i <= 15; ++i) {
        submit(i, 100);  // 10 fit in the queue (1000 points), 5 are refused inline
    }
    {
        std::lock_guard lk(mu);
        ASSERT_EQ(done.size(), 5u);  // only the refusals: nothing was committed
        for (const auto& r : done) {
            EXPECT_EQ(r.status().code(), sdk::Errc::exhausted);
        }
    }
    auto q = ctx_.health_impl.run("telemetry_postgres:ingest_queue");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->state, sdk::HealthState::fail);
    EXPECT_EQ(ctx_.metrics_impl.counter_value("telemetry_pg_refused_total"), 5u);

    lock_tx.commit();  // releases the lock: group 1, then the 10 queued in one group
    ASSERT_TRUE(agenthost::testing::wait_until([&] {
        std::lock_guard lk(mu);
        return done.size() == 16;
    }));
    std::lock_guard lk(mu);
    std::size_t ok = 0;
    for (const auto& r : done) {
        ok += r ? 1 : 0;
    }
    EXPECT_EQ(ok, 11u);
    for (auto extra : visible_at_completion) {
        EXPECT_EQ(extra, 0);  // every accepted row was visible when its ack fired
    }
    EXPECT_EQ(rows(), 1100);
}

// Results go through the group-commit queue: while a lock held elsewhere blocks the
// first write, later results accumulate (a full queue refuses with unavailable); once
// released they commit as one group. Every completion sees its row from another
// connection (acked only after commit); repeats of one command_id inside the group
// store the first terminal copy only and report duplicates.
TEST_F(TelemetryPluginPgTest, ResultsGroupCommittedDedupedAndBounded) {
    sdk::json::object cfg;
    cfg["result_queue"] = 20;
    cfg["writers"] = 1;
    start(cfg);

    pqxx::connection blocker(url_);
    pqxx::work lock_tx(blocker);
    lock_tx.exec("LOCK TABLE results IN EXCLUSIVE MODE");

    std::mutex mu;
    std::vector<std::pair<std::string, sdk::Result<bool>>> done;
    std::vector<std::string> invisible;
    const std::string url = url_;
    auto submit = [&](std::string id, std::string output, sdk::CommandState state,
                      std::int64_t finished_ms) {
        sdk::CommandResult r;
        r.command_id = id;
        r.agent_id = "gw-01";
        r.status = state;
        r.output = std::move(output);
        r.finished_ms = finished_ms;
        store_->store_result(r, [&, id](sdk::Result<bool> res) {
            bool visible = false;
            if (res) {
                pqxx::connection c(url);
                pqxx::nontransaction t(c);
                visible = t.exec_params("SELECT count(*) FROM results WHERE command_id = $1",
                                        id)[0][0]
                              .as<int>() == 1;
            }
            std::lock_guard lk(mu);
            if (res && !visible) {
                invisible.push_back(id);
            }
            done.emplace_back(id, std::move(res));
        });
    };
    using S = sdk::CommandState;
    submit("c-0", "zero", S::succeeded, 1);  // taken by the writer, which waits for the lock
    ASSERT_TRUE(agenthost::testing::wait_until([&] {
        pqxx::connection c(url_);
        pqxx::nontransaction t(c);
        return t.exec(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND application_name = 'agenthost-telemetry'")[0][0]
                   .as<int>() > 0;
    }));
    for (int i = 1; i <= 14; ++i) {
        submit("c-" + std::to_string(i), "out", S::succeeded, 1);
    }
    submit("dup", "first", S::succeeded, 200);
    submit("dup", "second", S::failed, 900);  // terminal first copy: never overwritten
    submit("dup", "third", S::succeeded, 200);
    submit("nt", "running", S::acked, 100);
    submit("nt", "finished", S::succeeded, 200);  // replaces the non-terminal copy
    submit("dup", "fourth", S::succeeded, 1000);  // the 20th queued
    submit("r-1", "refused", S::succeeded, 1);
    submit("r-2", "refused", S::succeeded, 1);
    {
        std::lock_guard lk(mu);
        ASSERT_EQ(done.size(), 2u);  // only the refusals: nothing was committed
        for (const auto& [id, r] : done) {
            EXPECT_EQ(r.status().code(), sdk::Errc::unavailable) << id;
        }
    }
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "stored"}}), 0u);

    lock_tx.commit();
    ASSERT_TRUE(agenthost::testing::wait_until([&] {
        std::lock_guard lk(mu);
        return done.size() == 23;
    }));
    std::lock_guard lk(mu);
    EXPECT_TRUE(invisible.empty());
    std::map<std::string, int> fresh;
    for (const auto& [id, r] : done) {
        if (id.rfind("r-", 0) == 0) {
            continue;
        }
        ASSERT_TRUE(r) << id << ": " << r.status().message();
        fresh[id] += *r ? 1 : 0;
    }
    EXPECT_EQ(fresh.size(), 17u);
    for (const auto& [id, n] : fresh) {
        EXPECT_EQ(n, 1) << id;  // exactly one fresh copy per command_id
    }
    EXPECT_EQ(testing::count_rows(url_, "results"), 17);
    auto dup = call<sdk::Result<std::optional<sdk::CommandResult>>>(
        [&](auto cb) { store_->get_result("dup", cb); });
    ASSERT_TRUE(dup && *dup && (*dup)->has_value());
    EXPECT_EQ((*dup)->value().output, "first");
    auto nt = call<sdk::Result<std::optional<sdk::CommandResult>>>(
        [&](auto cb) { store_->get_result("nt", cb); });
    ASSERT_TRUE(nt && *nt && (*nt)->has_value());
    EXPECT_EQ((*nt)->value().output, "finished");
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "stored"}}), 17u);
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "duplicate"}}), 4u);
    EXPECT_EQ(testing::count_rows(url_, "results"), 17);
}

// Many callers at once, with repeats: each command_id is reported fresh exactly once.
TEST_F(TelemetryPluginPgTest, ConcurrentResultsWithRepeatsStoredOnce) {
    start();
    constexpr int kThreads = 4;
    constexpr int kPerThread = 60;
    std::mutex mu;
    int completed = 0;
    int fresh = 0;
    int failed = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                sdk::CommandResult r;
                r.command_id = "c-" + std::to_string((i * (t + 1)) % 70);
                r.agent_id = "gw-" + std::to_string(t);
                r.output = std::to_string(t);
                store_->store_result(r, [&](sdk::Result<bool> res) {
                    std::lock_guard lk(mu);
                    ++completed;
                    fresh += (res && *res) ? 1 : 0;
                    failed += res ? 0 : 1;
                });
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    ASSERT_TRUE(agenthost::testing::wait_until([&] {
        std::lock_guard lk(mu);
        return completed == kThreads * kPerThread;
    }));
    std::lock_guard lk(mu);
    EXPECT_EQ(failed, 0);
    const std::int64_t rows_stored = testing::count_rows(url_, "results");
    EXPECT_EQ(fresh, rows_stored);
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "stored"}}),
              static_cast<std::uint64_t>(rows_stored));
}

TEST_F(TelemetryPluginPgTest, HealthChecksRegistered) {
    start();
    auto r = ctx_.health_impl.run("telemetry_postgres:latency");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state, sdk::HealthState::pass) << r->output;
    EXPECT_TRUE(r->observed_value.has_value());
    auto q = ctx_.health_impl.run("telemetry_postgres:ingest_queue");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->state, sdk::HealthState::pass);
    EXPECT_EQ(q->observed_value, 0.0);
}

TEST(TelemetryPluginPgStart, UnreachableDatabaseFailsStartWithoutThePassword) {
    FakeContextOptions o = options();
    FakeContext ctx(o);
    sdk::json::object cfg;
    cfg["url"] = "postgresql://agenthost:s3cret@127.0.0.1:1/agenthost";
    cfg["start_timeout_ms"] = 10000;
    auto made = create(ctx, cfg);
    ASSERT_TRUE(made);
    auto st = made.value()->start();
    EXPECT_FALSE(st);
    EXPECT_EQ(st.code(), sdk::Errc::unavailable) << st.message();
    EXPECT_EQ(st.message().find("s3cret"), std::string::npos) << st.message();
    made.value()->stop();
}

}  // namespace
}  // namespace agenthost::telemetry_postgres
