// TelemetryDb against a real SQLite file: idempotent results and points, in-batch
// repeats, canonical labels, query filters and ordering.

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "plugins/telemetry_sqlite/telemetry_db.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::telemetry_sqlite {
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

class TelemetryDbTest : public ::testing::Test {
protected:
    void SetUp() override {
        sqlite::Options o;
        o.path = dir_.file("telemetry.db");
        auto opened = TelemetryDb::open(o);
        ASSERT_TRUE(opened) << opened.status().message();
        db_ = std::move(opened).value();
    }

    testing::TempDir dir_{"telemetry-db"};
    std::unique_ptr<TelemetryDb> db_;
};

TEST_F(TelemetryDbTest, ResentBatchStoresNothingTwice) {
    sdk::TelemetryBatch b{"gw-01",
                          "b1",
                          {point("cpu.load", 1000, 0.5), point("cpu.load", 2000, 0.7),
                           point("mem.used", 1000, 42, {{"unit", "MiB"}})}};
    auto first = db_->store_batch(b);
    ASSERT_TRUE(first) << first.status().message();
    EXPECT_EQ(first->accepted, 3u);
    EXPECT_EQ(first->duplicates, 0u);

    // Same points under a new batch_id (a resend after reconnect): all duplicates.
    b.batch_id = "b2";
    auto again = db_->store_batch(b);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->accepted, 0u);
    EXPECT_EQ(again->duplicates, 3u);

    // One new point among old ones.
    b.points.push_back(point("cpu.load", 3000, 0.9));
    auto mixed = db_->store_batch(b);
    EXPECT_EQ(mixed->accepted, 1u);
    EXPECT_EQ(mixed->duplicates, 3u);

    auto all = db_->query({"gw-01", std::nullopt, std::nullopt, std::nullopt, 100});
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 4u);
}

TEST_F(TelemetryDbTest, RepeatInsideOneBatchCountsOnceAcceptedThenDuplicate) {
    sdk::TelemetryBatch b{"gw-01",
                          "b1",
                          {point("x", 1, 1.0, {{"a", "1"}, {"b", "2"}}),
                           point("x", 1, 1.0, {{"b", "2"}, {"a", "1"}}),  // same set, other order
                           point("x", 1, 1.0, {{"b", "2"}, {"a", "1"}}), point("x", 2, 1.0)}};
    auto out = db_->store_batch(b);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->accepted, 2u);
    EXPECT_EQ(out->duplicates, 2u);
    auto rows = db_->query({"gw-01", std::string("x"), std::nullopt, std::nullopt, 10});
    ASSERT_TRUE(rows);
    EXPECT_EQ(rows->size(), 2u);
}

TEST_F(TelemetryDbTest, FirstValueWinsAndAgentsAreSeparate) {
    ASSERT_TRUE(db_->store_batch({"gw-01", "b1", {point("x", 1, 1.0)}}));
    auto dup = db_->store_batch({"gw-01", "b2", {point("x", 1, 99.0)}});
    EXPECT_EQ(dup->duplicates, 1u);
    auto other = db_->store_batch({"gw-02", "b1", {point("x", 1, 5.0)}});
    EXPECT_EQ(other->accepted, 1u);  // the key includes the agent
    auto rows = db_->query({"gw-01", std::nullopt, std::nullopt, std::nullopt, 10});
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->front().value, 1.0);
}

TEST_F(TelemetryDbTest, LabelsAreCanonicalAndRoundTrip) {
    auto key = canonical_labels({{"zone", "eu \"west\""}, {"cpu", "0"}});
    ASSERT_TRUE(key);
    EXPECT_EQ(*key, R"({"cpu":"0","zone":"eu \"west\""})");
    EXPECT_EQ(*canonical_labels({}), "{}");
    EXPECT_EQ(canonical_labels({{"a", "1"}, {"a", "2"}}).status().code(), Errc::invalid_argument);

    ASSERT_TRUE(
        db_->store_batch({"gw-01", "b", {point("m", 5, 1, {{"zone", "z"}, {"cpu", "0"}})}}));
    auto rows = db_->query({"gw-01", std::string("m"), std::nullopt, std::nullopt, 10});
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ(rows->front().labels, (sdk::LabelSet{{"cpu", "0"}, {"zone", "z"}}));
}

TEST_F(TelemetryDbTest, InvalidBatchStoresNothing) {
    auto bad =
        db_->store_batch({"gw-01", "b", {point("ok", 1, 1.0), point("bad", 2, std::nan(""))}});
    EXPECT_EQ(bad.status().code(), Errc::invalid_argument);
    auto inf = db_->store_batch(
        {"gw-01", "b", {point("bad", 2, std::numeric_limits<double>::infinity())}});
    EXPECT_EQ(inf.status().code(), Errc::invalid_argument);
    EXPECT_TRUE(db_->query({"gw-01", std::nullopt, std::nullopt, std::nullopt, 10})->empty());
    auto empty = db_->store_batch({"gw-01", "b", {}});
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->accepted + empty->duplicates, 0u);
}

TEST_F(TelemetryDbTest, ResultNeverOverwritten) {
    auto first = db_->store_result(result("c-1", "first"));
    ASSERT_TRUE(first);
    EXPECT_TRUE(*first);
    auto later = result("c-1", "second");
    later.status = sdk::CommandState::failed;
    later.exit_code = 3;
    auto second = db_->store_result(later);
    ASSERT_TRUE(second);
    EXPECT_FALSE(*second);

    auto stored = db_->get_result("c-1");
    ASSERT_TRUE(stored);
    ASSERT_TRUE(stored->has_value());
    EXPECT_EQ((*stored)->output, "first");
    EXPECT_EQ((*stored)->status, sdk::CommandState::succeeded);
    EXPECT_EQ((*stored)->exit_code, 0);
    EXPECT_EQ((*stored)->output_encoding, "utf-8");  // default filled in
    EXPECT_EQ((*stored)->received_ms, 300);
}

TEST_F(TelemetryDbTest, ResultWithNullExitCodeAndBase64) {
    auto r = result("c-2", "AAEC");
    r.status = sdk::CommandState::timed_out;
    r.exit_code = std::nullopt;
    r.output_encoding = "base64";
    r.truncated = true;
    ASSERT_TRUE(db_->store_result(r));
    auto stored = db_->get_result("c-2");
    ASSERT_TRUE(stored && stored->has_value());
    EXPECT_FALSE((*stored)->exit_code.has_value());
    EXPECT_EQ((*stored)->output_encoding, "base64");
    EXPECT_TRUE((*stored)->truncated);
    EXPECT_EQ((*stored)->status, sdk::CommandState::timed_out);

    EXPECT_FALSE(db_->get_result("missing")->has_value());
    r.output_encoding = "latin1";
    r.command_id = "c-3";
    EXPECT_EQ(db_->store_result(r).status().code(), Errc::invalid_argument);
}

TEST_F(TelemetryDbTest, QueryFiltersNewestFirst) {
    ASSERT_TRUE(db_->store_batch({"gw-01",
                                  "b",
                                  {point("cpu", 100, 1), point("cpu", 200, 2), point("cpu", 300, 3),
                                   point("mem", 150, 10), point("mem", 250, 20)}}));
    ASSERT_TRUE(db_->store_batch({"gw-02", "b", {point("cpu", 999, 9)}}));

    auto all = db_->query({"gw-01", std::nullopt, std::nullopt, std::nullopt, 100});
    ASSERT_TRUE(all);
    std::vector<std::int64_t> ts;
    for (const auto& p : *all) {
        ts.push_back(p.ts_ms);
    }
    EXPECT_EQ(ts, (std::vector<std::int64_t>{300, 250, 200, 150, 100}));

    auto cpu = db_->query({"gw-01", std::string("cpu"), std::nullopt, std::nullopt, 100});
    ASSERT_EQ(cpu->size(), 3u);
    EXPECT_EQ(cpu->front().ts_ms, 300);
    EXPECT_EQ(cpu->front().value, 3.0);

    // since inclusive, until exclusive.
    auto window = db_->query({"gw-01", std::nullopt, 150, 300, 100});
    ts.clear();
    for (const auto& p : *window) {
        ts.push_back(p.ts_ms);
    }
    EXPECT_EQ(ts, (std::vector<std::int64_t>{250, 200, 150}));

    auto limited = db_->query({"gw-01", std::string("cpu"), std::nullopt, std::nullopt, 2});
    ASSERT_EQ(limited->size(), 2u);
    EXPECT_EQ((*limited)[0].ts_ms, 300);
    EXPECT_EQ((*limited)[1].ts_ms, 200);

    EXPECT_TRUE(db_->query({"gw-01", std::nullopt, std::nullopt, std::nullopt, 0})->empty());
    EXPECT_TRUE(db_->query({"nobody", std::nullopt, std::nullopt, std::nullopt, 10})->empty());
}

TEST_F(TelemetryDbTest, SynchronousSettingReachesTheWriter) {
    auto sync_of = [](TelemetryDb& db) {
        return db.database().write([](sqlite::Connection& c) -> std::int64_t {
            auto q = c.prepare("PRAGMA synchronous");
            return q && q->step() == 100 /* SQLITE_ROW */ ? q->int64(0) : -1;
        });
    };
    EXPECT_EQ(sync_of(*db_), 2);  // FULL: the default of sqlite::Options
    db_.reset();
    sqlite::Options o;
    o.path = dir_.file("telemetry.db");
    o.synchronous = sqlite::Synchronous::normal;
    auto normal = TelemetryDb::open(o);
    ASSERT_TRUE(normal);
    EXPECT_EQ(sync_of(**normal), 1);
}

}  // namespace
}  // namespace agenthost::telemetry_sqlite
