// The PostgreSQL logic against a real server: the telemetry_sqlite behaviour (resent
// batches, in-batch repeats, first value wins, canonical labels, results never
// overwritten, query order), both write modes, groups with shared keys, and
// overlapping groups from concurrent threads (no deadlock, exactly-once rows).

#include <atomic>
#include <cmath>
#include <thread>

#include <gtest/gtest.h>

#include "plugins/telemetry_postgres/tests/pg_test_db.hpp"

namespace agenthost::telemetry_postgres {
namespace {

using sdk::Errc;

sdk::TelemetryPoint point(std::string metric, std::int64_t ts, double value,
                          sdk::LabelSet labels = {}) {
    return sdk::TelemetryPoint{std::move(metric), ts, value, std::move(labels)};
}

sdk::CommandResult result(std::string command_id, std::string output) {
    sdk::CommandResult r;
    r.command_id = std::move(command_id);
    r.agent_id = "gw-01";
    r.status = sdk::CommandState::succeeded;
    r.exit_code = 0;
    r.output = std::move(output);
    r.started_ms = 100;
    r.finished_ms = 200;
    r.received_ms = 300;
    return r;
}

class TelemetryPgTest : public ::testing::TestWithParam<WriteMode> {
protected:
    sdk::IngestOutcome store(const sdk::TelemetryBatch& b) {
        auto p = prepare_batch(b);
        EXPECT_TRUE(p) << p.status().message();
        std::vector<PreparedBatch> group{std::move(p).value()};
        auto out = write_group(conn_, group, GetParam(), 3, nullptr);
        return out.at(0);
    }
    std::vector<sdk::TelemetryPoint> q(std::string agent, std::optional<std::string> metric,
                                       std::optional<std::int64_t> since = std::nullopt,
                                       std::optional<std::int64_t> until = std::nullopt,
                                       std::size_t limit = 100) {
        return query(conn_, {std::move(agent), std::move(metric), since, until, limit});
    }

    std::string url_ = testing::migrated_database();
    pqxx::connection conn_{url_};
};

TEST_P(TelemetryPgTest, ResentBatchStoresNothingTwice) {
    sdk::TelemetryBatch b{"gw-01",
                          "b1",
                          {point("cpu.load", 1000, 0.5), point("cpu.load", 2000, 0.7),
                           point("mem.used", 1000, 42, {{"unit", "MiB"}})}};
    auto first = store(b);
    EXPECT_EQ(first.accepted, 3u);
    EXPECT_EQ(first.duplicates, 0u);
    b.batch_id = "b2";
    auto again = store(b);
    EXPECT_EQ(again.accepted, 0u);
    EXPECT_EQ(again.duplicates, 3u);
    b.points.push_back(point("cpu.load", 3000, 0.9));
    auto mixed = store(b);
    EXPECT_EQ(mixed.accepted, 1u);
    EXPECT_EQ(mixed.duplicates, 3u);
    EXPECT_EQ(q("gw-01", std::nullopt).size(), 4u);
    EXPECT_EQ(testing::count_rows(url_, "telemetry"), 4);
}

TEST_P(TelemetryPgTest, RepeatInsideOneBatchCountsOnceAcceptedThenDuplicate) {
    auto out = store({"gw-01",
                      "b1",
                      {point("x", 1, 1.0, {{"a", "1"}, {"b", "2"}}),
                       point("x", 1, 1.0, {{"b", "2"}, {"a", "1"}}),
                       point("x", 1, 1.0, {{"b", "2"}, {"a", "1"}}), point("x", 2, 1.0)}});
    EXPECT_EQ(out.accepted, 2u);
    EXPECT_EQ(out.duplicates, 2u);
    EXPECT_EQ(q("gw-01", std::string("x")).size(), 2u);
}

TEST_P(TelemetryPgTest, FirstValueWinsAndAgentsAreSeparate) {
    store({"gw-01", "b1", {point("x", 1, 1.0)}});
    EXPECT_EQ(store({"gw-01", "b2", {point("x", 1, 99.0)}}).duplicates, 1u);
    EXPECT_EQ(store({"gw-02", "b1", {point("x", 1, 5.0)}}).accepted, 1u);
    auto rows = q("gw-01", std::nullopt);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows.front().value, 1.0);
}

TEST_P(TelemetryPgTest, LabelsRoundTripAndAwkwardTextSurvives) {
    store({"gw-01",
           "b",
           {point("m", 5, 1, {{"zone", "z"}, {"cpu", "0"}}),
            point("we\"ird,{m}\\", 6, 0.1, {{"k", "v\"\\,{}"}})}});
    auto rows = q("gw-01", std::string("m"));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows.front().labels, (sdk::LabelSet{{"cpu", "0"}, {"zone", "z"}}));
    auto weird = q("gw-01", std::string("we\"ird,{m}\\"));
    ASSERT_EQ(weird.size(), 1u);
    EXPECT_EQ(weird.front().value, 0.1);
    EXPECT_EQ(weird.front().labels, (sdk::LabelSet{{"k", "v\"\\,{}"}}));
}

TEST_P(TelemetryPgTest, GroupWithSharedKeysAttributesToTheFirstBatch) {
    std::vector<PreparedBatch> group;
    group.push_back(prepare_batch({"gw-01", "a", {point("m", 1, 1), point("m", 2, 1)}}).value());
    group.push_back(prepare_batch({"gw-01", "b", {point("m", 2, 9), point("m", 3, 1)}}).value());
    group.push_back(prepare_batch({"gw-02", "c", {point("m", 1, 1)}}).value());
    auto out = write_group(conn_, group, GetParam(), 3, nullptr);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].accepted, 2u);
    EXPECT_EQ(out[1].accepted, 1u);
    EXPECT_EQ(out[1].duplicates, 1u);
    EXPECT_EQ(out[2].accepted, 1u);
    // The same group again: all duplicates.
    auto again = write_group(conn_, group, GetParam(), 3, nullptr);
    EXPECT_EQ(again[0].duplicates + again[1].duplicates + again[2].duplicates, 5u);
    EXPECT_EQ(again[0].accepted + again[1].accepted + again[2].accepted, 0u);
    EXPECT_EQ(testing::count_rows(url_, "telemetry"), 4);
}

TEST_P(TelemetryPgTest, OverlappingGroupsFromConcurrentThreadsStoreEachPointOnce) {
    // 4 threads × 30 groups of 3 batches; every batch overlaps its neighbours and the
    // other threads' batches, in shuffled orders: no deadlock escapes the retries and
    // accepted sums to the number of distinct points.
    constexpr int kThreads = 4;
    constexpr int kGroups = 30;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> total{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            pqxx::connection c(url_);
            for (int g = 0; g < kGroups; ++g) {
                std::vector<PreparedBatch> group;
                for (int b = 0; b < 3; ++b) {
                    sdk::TelemetryBatch tb{"gw-" + std::to_string((g + b + t) % 5), "x", {}};
                    for (int i = 0; i < 50; ++i) {
                        const int ts = (g * 37 + i * (t + 1) + b * 11) % 200;
                        tb.points.push_back(point("m", ts, 1));
                    }
                    group.push_back(prepare_batch(tb).value());
                }
                try {
                    std::uint64_t r = 0;
                    auto out = write_group(c, group, GetParam(), 10, &r);
                    retries += r;
                    for (std::size_t i = 0; i < out.size(); ++i) {
                        accepted += out[i].accepted;
                        total += out[i].accepted + out[i].duplicates;
                    }
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                    ++failures;
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(total.load(), static_cast<std::uint64_t>(kThreads * kGroups * 3 * 50));
    EXPECT_EQ(static_cast<std::int64_t>(accepted.load()), testing::count_rows(url_, "telemetry"));
}

TEST_P(TelemetryPgTest, QueryFiltersNewestFirst) {
    store({"gw-01",
           "b",
           {point("cpu", 100, 1), point("cpu", 200, 2), point("cpu", 300, 3), point("mem", 150, 10),
            point("mem", 250, 20)}});
    store({"gw-02", "b", {point("cpu", 999, 9)}});
    std::vector<std::int64_t> ts;
    for (const auto& p : q("gw-01", std::nullopt)) {
        ts.push_back(p.ts_ms);
    }
    EXPECT_EQ(ts, (std::vector<std::int64_t>{300, 250, 200, 150, 100}));
    auto cpu = q("gw-01", std::string("cpu"));
    ASSERT_EQ(cpu.size(), 3u);
    EXPECT_EQ(cpu.front().value, 3.0);
    ts.clear();
    for (const auto& p : q("gw-01", std::nullopt, 150, 300)) {
        ts.push_back(p.ts_ms);
    }
    EXPECT_EQ(ts, (std::vector<std::int64_t>{250, 200, 150}));
    auto limited = q("gw-01", std::string("cpu"), std::nullopt, std::nullopt, 2);
    ASSERT_EQ(limited.size(), 2u);
    EXPECT_EQ(limited[1].ts_ms, 200);
    EXPECT_TRUE(q("gw-01", std::nullopt, std::nullopt, std::nullopt, 0).empty());
    EXPECT_TRUE(q("nobody", std::nullopt).empty());
}

INSTANTIATE_TEST_SUITE_P(Modes, TelemetryPgTest,
                         ::testing::Values(WriteMode::multirow, WriteMode::copy),
                         [](const auto& info) { return std::string(to_string(info.param)); });

class ResultsPgTest : public ::testing::Test {
protected:
    std::string url_ = testing::migrated_database();
    pqxx::connection conn_{url_};
};

TEST_F(ResultsPgTest, TerminalResultNeverOverwrittenByALaterCopy) {
    EXPECT_TRUE(store_result(conn_, result("c-1", "first")));
    auto later = result("c-1", "second");
    later.status = sdk::CommandState::failed;
    later.exit_code = 3;
    later.finished_ms = 150;  // older data
    EXPECT_FALSE(store_result(conn_, later));
    later.finished_ms = 900;  // newer data: a terminal row still stays
    EXPECT_FALSE(store_result(conn_, later));
    auto stored = get_result(conn_, "c-1");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->output, "first");
    EXPECT_EQ(stored->status, sdk::CommandState::succeeded);
    EXPECT_EQ(stored->exit_code, 0);
    EXPECT_EQ(stored->output_encoding, "utf-8");
    EXPECT_EQ(stored->received_ms, 300);
}

TEST_F(ResultsPgTest, NonTerminalRowReplacedOnlyByANewerCopy) {
    auto running = result("c-9", "partial");
    running.status = sdk::CommandState::acked;
    running.finished_ms = 500;
    EXPECT_TRUE(store_result(conn_, running));
    auto older = result("c-9", "older");
    older.finished_ms = 400;
    EXPECT_FALSE(store_result(conn_, older));
    auto newer = result("c-9", "done");
    newer.finished_ms = 600;
    EXPECT_TRUE(store_result(conn_, newer));
    EXPECT_EQ(get_result(conn_, "c-9")->output, "done");
}

TEST_F(ResultsPgTest, NullExitCodeBase64AndErrors) {
    auto r = result("c-2", "AAEC");
    r.status = sdk::CommandState::timed_out;
    r.exit_code = std::nullopt;
    r.output_encoding = "base64";
    r.truncated = true;
    EXPECT_TRUE(store_result(conn_, r));
    auto stored = get_result(conn_, "c-2");
    ASSERT_TRUE(stored.has_value());
    EXPECT_FALSE(stored->exit_code.has_value());
    EXPECT_EQ(stored->output_encoding, "base64");
    EXPECT_TRUE(stored->truncated);
    EXPECT_EQ(stored->status, sdk::CommandState::timed_out);
    EXPECT_FALSE(get_result(conn_, "missing").has_value());
    r.output_encoding = "latin1";
    r.command_id = "c-3";
    EXPECT_THROW(store_result(conn_, r), std::invalid_argument);
}


TEST_F(ResultsPgTest, BatchKeepsOneWinnerPerCommandAndNeverOverwritesATerminalRow) {
    ASSERT_TRUE(store_result(conn_, result("old", "stored before")));
    auto running = result("nt", "running");
    running.status = sdk::CommandState::acked;
    running.finished_ms = 100;
    auto finished = result("nt", "finished");
    finished.finished_ms = 200;
    auto late = result("dup", "second");
    late.status = sdk::CommandState::failed;
    late.finished_ms = 900;  // newer, but the first copy is terminal
    auto again = result("old", "newer copy");
    again.finished_ms = 999;
    auto none = result("null", "x");
    none.exit_code = std::nullopt;
    none.output = "quote \" backslash \\ comma, {brace}";
    const std::vector<sdk::CommandResult> batch{result("dup", "first"), running, late, finished,
                                                again, result("dup", "third"), none};
    const std::vector<bool> flags = store_results(conn_, batch, 3, nullptr);
    EXPECT_EQ(flags, (std::vector<bool>{true, false, false, true, false, false, true}));
    EXPECT_EQ(get_result(conn_, "dup")->output, "first");
    EXPECT_EQ(get_result(conn_, "dup")->status, sdk::CommandState::succeeded);
    EXPECT_EQ(get_result(conn_, "nt")->output, "finished");
    EXPECT_EQ(get_result(conn_, "old")->output, "stored before");
    auto n = get_result(conn_, "null");
    ASSERT_TRUE(n.has_value());
    EXPECT_FALSE(n->exit_code.has_value());
    EXPECT_EQ(n->output, none.output);
    // Resent whole: every copy is now a duplicate.
    EXPECT_EQ(store_results(conn_, batch, 3, nullptr), std::vector<bool>(batch.size(), false));
    auto bad = result("", "x");
    EXPECT_THROW(store_results(conn_, std::vector<sdk::CommandResult>{bad}, 3, nullptr),
                 std::invalid_argument);
}

TEST_F(ResultsPgTest, OverlappingBatchesFromConcurrentThreadsStoreEachResultOnce) {
    constexpr int kThreads = 4;
    std::atomic<int> fresh{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                pqxx::connection c(url_);
                for (int round = 0; round < 10; ++round) {
                    std::vector<sdk::CommandResult> batch;
                    for (int i = 0; i < 30; ++i) {
                        // Overlapping ids across threads and rounds, in different orders.
                        const int id = (i * (t + 1) + round * 7) % 50;
                        batch.push_back(result("c-" + std::to_string(id), std::to_string(t)));
                    }
                    for (bool f : store_results(c, batch, 10, nullptr)) {
                        fresh += f ? 1 : 0;
                    }
                }
            } catch (const std::exception&) {
                ++failures;
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(failures.load(), 0);
    const std::int64_t stored = testing::count_rows(url_, "results");
    EXPECT_EQ(fresh.load(), stored);  // each stored row reported fresh exactly once
}

}  // namespace
}  // namespace agenthost::telemetry_postgres
