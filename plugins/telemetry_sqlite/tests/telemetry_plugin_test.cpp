// telemetry_sqlite through its factory with a fake context: service registration,
// metrics, durability settings, query limit cap, and completions from pool threads.

#include <atomic>
#include <optional>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "plugins/telemetry_sqlite/telemetry_plugin.hpp"
#include "tests/support/fake_context.hpp"

namespace agenthost::telemetry_sqlite {
namespace {

using testing::FakeBlockingPool;
using testing::FakeContext;
using testing::FakeContextOptions;

FakeContextOptions options(FakeBlockingPool::Mode mode = FakeBlockingPool::Mode::inline_run) {
    FakeContextOptions o;
    o.plugin_name = "telemetry_sqlite";
    o.blocking_mode = mode;
    return o;
}

template <typename T, typename Call>
std::optional<T> call(Call&& c) {
    std::optional<T> out;
    c([&out](T v) { out.emplace(std::move(v)); });
    return out;
}

// Reads one integer pragma through a separate connection to the same file.
std::int64_t pragma(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt* st = nullptr;
    std::int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

class TelemetryPluginTest : public ::testing::Test {
protected:
    void start(const sdk::json::object& config = {}) {
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

    FakeContext ctx_{options()};
    std::unique_ptr<sdk::Plugin> plugin_;
    sdk::TelemetryStore* store_ = nullptr;
};

TEST_F(TelemetryPluginTest, CountsAcceptedAndDuplicatePoints) {
    start();
    sdk::TelemetryBatch b{
        "gw-01", "b1", {{"cpu", 1, 0.5, {}}, {"cpu", 1, 0.5, {}}, {"cpu", 2, 1, {}}}};
    auto first =
        call<sdk::Result<sdk::IngestOutcome>>([&](auto cb) { store_->store_batch(b, cb); });
    ASSERT_TRUE(first && *first);
    EXPECT_EQ((*first)->accepted, 2u);
    EXPECT_EQ((*first)->duplicates, 1u);
    auto again =
        call<sdk::Result<sdk::IngestOutcome>>([&](auto cb) { store_->store_batch(b, cb); });
    EXPECT_EQ((*again)->duplicates, 3u);

    auto& m = ctx_.metrics_impl;
    EXPECT_EQ(m.counter_value("telemetry_points_total", {{"outcome", "accepted"}}), 2u);
    EXPECT_EQ(m.counter_value("telemetry_points_total", {{"outcome", "duplicate"}}), 4u);
}

TEST_F(TelemetryPluginTest, ResultsCountedAndNotOverwritten) {
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
    EXPECT_EQ((*got)->value().received_ms, ctx_.clock().now_unix_ms());  // filled in
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "stored"}}), 1u);
    EXPECT_EQ(ctx_.metrics_impl.counter_value("results_total", {{"outcome", "duplicate"}}), 1u);
}

TEST_F(TelemetryPluginTest, WalWithFullSyncByDefault) {
    start();
    const std::string path = ctx_.state_dir() + "/telemetry_sqlite.db";
    // journal_mode=WAL is stored in the file; synchronous is per connection (checked
    // in telemetry_db_test), so here the schema default is what must say "full".
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    EXPECT_EQ(pragma(path, "PRAGMA user_version"),
              static_cast<std::int64_t>(TelemetryDb::migrations().size()));

    bool found = false;
    for (const auto& f : config_schema()) {
        if (f.key == "synchronous") {
            found = true;
            EXPECT_EQ(f.default_value->as_string(), "full");
        }
    }
    EXPECT_TRUE(found);
}

TEST_F(TelemetryPluginTest, QueryLimitCapped) {
    sdk::json::object cfg;
    cfg["max_query_limit"] = 2;
    start(cfg);
    sdk::TelemetryBatch b{"gw-01", "b", {{"m", 1, 1, {}}, {"m", 2, 1, {}}, {"m", 3, 1, {}}}};
    ASSERT_TRUE(
        call<sdk::Result<sdk::IngestOutcome>>([&](auto cb) { store_->store_batch(b, cb); }));
    auto rows = call<sdk::Result<std::vector<sdk::TelemetryPoint>>>([&](auto cb) {
        store_->query({"gw-01", std::nullopt, std::nullopt, std::nullopt, 1000}, cb);
    });
    ASSERT_TRUE(rows && *rows);
    EXPECT_EQ((*rows)->size(), 2u);
}

TEST_F(TelemetryPluginTest, HealthCheckRegistered) {
    start();
    auto r = ctx_.health_impl.run("telemetry_sqlite:latency");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->state, sdk::HealthState::pass) << r->output;
    EXPECT_TRUE(r->observed_value.has_value());
}

TEST(TelemetryPluginThreads, ConcurrentBatchesFromPoolThreads) {
    FakeContext ctx(options(FakeBlockingPool::Mode::threaded));
    auto made = create(ctx, {});
    ASSERT_TRUE(made);
    auto plugin = std::move(made).value();
    ASSERT_TRUE(plugin->start());
    auto* store = ctx.services().find<sdk::TelemetryStore>();

    // 20 batches, each overlapping the next by one point: 21 distinct points in all.
    constexpr int kBatches = 20;
    std::atomic<int> completed{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> duplicates{0};
    for (int i = 0; i < kBatches; ++i) {
        sdk::TelemetryBatch b{
            "gw-01", "b" + std::to_string(i), {{"m", i, 1, {}}, {"m", i + 1, 1, {}}}};
        store->store_batch(b, [&](sdk::Result<sdk::IngestOutcome> r) {
            if (r) {
                accepted += r->accepted;
                duplicates += r->duplicates;
            }
            ++completed;
        });
    }
    ASSERT_TRUE(testing::wait_until([&] { return completed.load() == kBatches; }));
    EXPECT_EQ(accepted.load(), 21u);
    EXPECT_EQ(duplicates.load(), 19u);
    plugin->stop();
}

}  // namespace
}  // namespace agenthost::telemetry_sqlite
