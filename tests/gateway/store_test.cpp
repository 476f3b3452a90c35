// GatewayStore: the executed record (at most once across a restart) and the spool
// (survives reopen, drops acked items, bounded for telemetry only).
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "kernel/gateway/store.hpp"
#include "tests/gateway/support/temp_dir.hpp"

namespace agenthost::gateway {
namespace {

namespace json = boost::json;

std::unique_ptr<GatewayStore> open_store(const std::string& path, std::uint64_t max_bytes = 1 << 20,
                                         std::int64_t now = 1'000'000) {
    StoreOptions o;
    o.spool_max_bytes = max_bytes;
    auto r = GatewayStore::open(path, o, now);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r.value()) : nullptr;
}

std::vector<SpoolItem> all_pending(GatewayStore& s) {
    auto r = s.pending(0, 1000);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : std::vector<SpoolItem>{};
}

TEST(GatewayStore, InterruptedCommandIsFinishedAsFailedNotRerun) {
    testing::TempDir dir;
    const auto db = dir.file("gw.db");
    {
        auto s = open_store(db);
        ASSERT_TRUE(s->mark_started("c1", "builtin.sleep", 10).ok());
        ASSERT_TRUE(s->mark_started("c2", "builtin.echo", 10).ok());
        ASSERT_TRUE(
            s->finish("c2", "builtin.echo", R"({"command_id":"c2","status":"succeeded"})", 20)
                .ok());
        EXPECT_EQ(s->lookup("c1"), RecordState::started);
        // "Crash": the store goes away with c1 still started.
    }
    auto s = open_store(db);
    EXPECT_EQ(s->interrupted(), std::vector<std::string>{"c1"});
    EXPECT_EQ(s->lookup("c1"), RecordState::finished);
    EXPECT_EQ(s->lookup("c2"), RecordState::finished);
    EXPECT_FALSE(s->lookup("c3").has_value());
    // Starting it again is refused: at most once.
    EXPECT_EQ(s->mark_started("c1", "builtin.sleep", 30).code(), sdk::Errc::conflict);
    auto body = json::parse(s->stored_result("c1").value()).as_object();
    EXPECT_EQ(body.at("status"), "failed");
    EXPECT_TRUE(body.at("exit_code").is_null());
    EXPECT_EQ(body.at("output"), "interrupted by gateway restart");
    // The interrupted result is spooled for the backend.
    auto items = all_pending(*s);
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[1].key, "c1");
    EXPECT_EQ(items[1].kind, SpoolKind::result);
}

TEST(GatewayStore, FirstResultWins) {
    testing::TempDir dir;
    auto s = open_store(dir.file("gw.db"));
    ASSERT_TRUE(s->finish("c1", "x", "{\"n\":1}", 1).ok());
    ASSERT_TRUE(s->finish("c1", "x", "{\"n\":2}", 2).ok());
    EXPECT_EQ(s->stored_result("c1").value(), "{\"n\":1}");
    EXPECT_EQ(s->counts().results, 1u);
}

TEST(GatewayStore, SpoolSurvivesReopenAndDropsAckedItems) {
    testing::TempDir dir;
    const auto db = dir.file("gw.db");
    {
        auto s = open_store(db);
        ASSERT_TRUE(s->finish("c1", "x", "{\"r\":1}", 1).ok());
        ASSERT_TRUE(s->spool_telemetry("b1", "{\"t\":1}").ok());
        ASSERT_TRUE(s->spool_telemetry("b2", "{\"t\":2}").ok());
        ASSERT_TRUE(s->finish("c2", "x", "{\"r\":2}", 1).ok());
        ASSERT_TRUE(s->ack(SpoolKind::telemetry, "b1").ok());
        ASSERT_TRUE(s->ack(SpoolKind::telemetry, "unknown").ok());  // duplicate ack: harmless
    }
    auto s = open_store(db);
    auto counts = s->counts();
    EXPECT_EQ(counts.results, 2u);
    EXPECT_EQ(counts.telemetry, 1u);
    EXPECT_EQ(counts.bytes, 3 * 7u);
    auto items = all_pending(*s);
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].key, "c1");
    EXPECT_EQ(items[1].key, "b2");
    EXPECT_EQ(items[1].body, "{\"t\":2}");
    EXPECT_EQ(items[2].key, "c2");
    // Paging by seq.
    auto after = s->pending(items[0].seq, 1);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), 1u);
    EXPECT_EQ(after->front().key, "b2");
    ASSERT_TRUE(s->ack(SpoolKind::result, "c1").ok());
    ASSERT_TRUE(s->ack(SpoolKind::telemetry, "b2").ok());
    ASSERT_TRUE(s->ack(SpoolKind::result, "c2").ok());
    EXPECT_TRUE(all_pending(*s).empty());
    EXPECT_EQ(s->counts().bytes, 0u);
    // The record keeps the result after the spool let go of it.
    EXPECT_EQ(s->stored_result("c2").value(), "{\"r\":2}");
    ASSERT_TRUE(s->respool_result("c2").ok());
    EXPECT_EQ(all_pending(*s).size(), 1u);
}

TEST(GatewayStore, TelemetryIsBoundedResultsAreNot) {
    testing::TempDir dir;
    auto s = open_store(dir.file("gw.db"), 20);
    EXPECT_TRUE(s->spool_telemetry("b1", std::string(15, 'x')).ok());
    auto full = s->spool_telemetry("b2", std::string(10, 'x'));
    EXPECT_EQ(full.code(), sdk::Errc::exhausted);
    EXPECT_TRUE(s->telemetry_full(10));
    // A result is never refused, even past the bound.
    EXPECT_TRUE(s->finish("c1", "x", std::string(50, 'r'), 1).ok());
    EXPECT_EQ(s->counts().bytes, 65u);
    ASSERT_TRUE(s->ack(SpoolKind::telemetry, "b1").ok());
    ASSERT_TRUE(s->ack(SpoolKind::result, "c1").ok());
    EXPECT_TRUE(s->spool_telemetry("b2", std::string(10, 'x')).ok());
}

TEST(GatewayStore, OldFinishedRecordsArePrunedAtOpen) {
    testing::TempDir dir;
    const auto db = dir.file("gw.db");
    {
        auto s = open_store(db);
        ASSERT_TRUE(s->finish("old", "x", "{}", 1000).ok());
    }
    StoreOptions o;
    o.record_retention_ms = 500;
    auto s = GatewayStore::open(db, o, 10'000);
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(s.value()->lookup("old").has_value());
}

TEST(GatewayStore, OpenFailsCleanlyOnABadPath) {
    auto r = GatewayStore::open("/nonexistent-dir/x/gw.db", StoreOptions{}, 0);
    EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace agenthost::gateway
