#include <gtest/gtest.h>

#include "plugins/telemetry_null/null_store.hpp"

namespace agenthost::telemetry_null {
namespace {

TEST(NullTelemetryStore, AcksEveryPointAsAccepted) {
    NullTelemetryStore store(10);
    sdk::TelemetryBatch batch;
    batch.agent_id = "a";
    batch.batch_id = "b";
    batch.points.resize(3);
    std::optional<sdk::IngestOutcome> got;
    store.store_batch(batch, [&](sdk::Result<sdk::IngestOutcome> r) { got = *r; });
    ASSERT_TRUE(got);
    EXPECT_EQ(got->accepted, 3u);
    EXPECT_EQ(got->duplicates, 0u);
}

TEST(NullTelemetryStore, KeepsResultsBounded) {
    NullTelemetryStore store(2);
    for (const char* id : {"c1", "c2", "c3"}) {
        sdk::CommandResult r;
        r.command_id = id;
        bool fresh = false;
        store.store_result(r, [&](sdk::Result<bool> ok) { fresh = *ok; });
        EXPECT_TRUE(fresh);
    }
    sdk::CommandResult again;
    again.command_id = "c3";
    bool fresh = true;
    store.store_result(again, [&](sdk::Result<bool> ok) { fresh = *ok; });
    EXPECT_FALSE(fresh);
    bool found_oldest = true;
    store.get_result("c1", [&](auto r) { found_oldest = r->has_value(); });
    EXPECT_FALSE(found_oldest);
    bool found_newest = false;
    store.get_result("c3", [&](auto r) { found_newest = r->has_value(); });
    EXPECT_TRUE(found_newest);
}

}  // namespace
}  // namespace agenthost::telemetry_null
