// Row logic without a server: validation, in-batch and cross-batch dedup, global key
// order, attribution of inserted keys, and the array-literal encoding.

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "plugins/telemetry_postgres/rows.hpp"
#include "plugins/telemetry_postgres/telemetry_pg.hpp"

namespace agenthost::telemetry_postgres {
namespace {

using sdk::Errc;

sdk::TelemetryPoint point(std::string metric, std::int64_t ts, double value,
                          sdk::LabelSet labels = {}) {
    return sdk::TelemetryPoint{std::move(metric), ts, value, std::move(labels)};
}

PreparedBatch prepared(const sdk::TelemetryBatch& b) {
    auto p = prepare_batch(b);
    EXPECT_TRUE(p) << p.status().message();
    return p ? std::move(p).value() : PreparedBatch{};
}

TEST(Rows, CanonicalLabelsAndHash) {
    auto a = canonical_labels({{"zone", "eu \"west\""}, {"cpu", "0"}});
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, R"({"cpu":"0","zone":"eu \"west\""})");
    EXPECT_EQ(*canonical_labels({}), "{}");
    EXPECT_EQ(canonical_labels({{"a", "1"}, {"a", "2"}}).status().code(), Errc::invalid_argument);
    EXPECT_EQ(parse_labels(*a), (sdk::LabelSet{{"cpu", "0"}, {"zone", "eu \"west\""}}));
    EXPECT_GE(labels_hash("{}"), 0);
    EXPECT_EQ(labels_hash(*a), labels_hash(R"({"cpu":"0","zone":"eu \"west\""})"));
    EXPECT_NE(labels_hash(R"({"cpu":"0"})"), labels_hash(R"({"cpu":"1"})"));
}

TEST(Rows, RepeatsInsideABatchKeptOnceFirstCopyWins) {
    auto b = prepared({"gw-01",
                       "b1",
                       {point("x", 1, 1.0, {{"a", "1"}, {"b", "2"}}),
                        point("x", 1, 7.0, {{"b", "2"}, {"a", "1"}}),  // same key
                        point("x", 2, 1.0), point("x", 1, 3.0, {{"b", "2"}, {"a", "1"}})}});
    EXPECT_EQ(b.points, 4u);
    ASSERT_EQ(b.rows.size(), 2u);
    for (const auto& r : b.rows) {
        if (r.ts_ms == 1) {
            EXPECT_EQ(r.value, 1.0);
            EXPECT_EQ(r.labels, R"({"a":"1","b":"2"})");
        }
    }
}

TEST(Rows, BadPointsRefuseTheWholeBatch) {
    EXPECT_EQ(prepare_batch({"gw", "b", {point("ok", 1, 1), point("bad", 2, std::nan(""))}})
                  .status()
                  .code(),
              Errc::invalid_argument);
    EXPECT_EQ(prepare_batch({"gw", "b", {point("x", 1, std::numeric_limits<double>::infinity())}})
                  .status()
                  .code(),
              Errc::invalid_argument);
    EXPECT_EQ(prepare_batch({"gw", "b", {point("", 1, 1)}}).status().code(),
              Errc::invalid_argument);
    EXPECT_EQ(prepare_batch({"", "b", {point("x", 1, 1)}}).status().code(), Errc::invalid_argument);
    EXPECT_EQ(prepare_batch({"gw", "b", {point(std::string("a\0b", 3), 1, 1)}}).status().code(),
              Errc::invalid_argument);
    EXPECT_EQ(prepare_batch({"gw", "b", {point("x", 1, 1, {{"k", std::string("\0", 1)}})}})
                  .status()
                  .code(),
              Errc::invalid_argument);
    auto empty = prepare_batch({"gw", "b", {}});
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->rows.empty());
}

TEST(Rows, GroupMergedInKeyOrderEarliestBatchOwnsSharedKeys) {
    std::vector<PreparedBatch> group;
    group.push_back(prepared({"gw-02", "a", {point("m", 3, 1), point("m", 1, 1)}}));
    group.push_back(prepared({"gw-01", "b", {point("m", 2, 1), point("m", 9, 1)}}));
    group.push_back(prepared({"gw-02", "c", {point("m", 1, 5), point("m", 4, 1)}}));  // m@1 shared
    auto rows = merge_group(group);
    ASSERT_EQ(rows.size(), 5u);
    for (std::size_t i = 1; i < rows.size(); ++i) {
        EXPECT_LT(rows[i - 1].key(), rows[i].key());
    }
    EXPECT_EQ(*rows.front().agent_id, "gw-01");
    for (const auto& r : rows) {
        if (*r.agent_id == "gw-02" && r.row->ts_ms == 1) {
            EXPECT_EQ(r.owner, 0u);
            EXPECT_EQ(r.row->value, 1.0);
        }
    }
}

TEST(Rows, AttributionCountsOwnedInsertedRows) {
    std::vector<PreparedBatch> group;
    group.push_back(prepared({"gw-02", "a", {point("m", 3, 1), point("m", 1, 1)}}));
    group.push_back(
        prepared({"gw-02", "c", {point("m", 1, 5), point("m", 4, 1), point("m", 4, 1)}}));
    auto rows = merge_group(group);
    ASSERT_EQ(rows.size(), 3u);
    // The database says m@1 and m@4 were new (m@3 was stored before).
    std::vector<KeyView> inserted;
    for (const auto& r : rows) {
        if (r.row->ts_ms != 3) {
            inserted.push_back(r.key());
        }
    }
    std::reverse(inserted.begin(), inserted.end());  // any order
    auto out = attribute(group, rows, inserted);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].accepted, 1u);  // m@1 (owner), m@3 duplicate
    EXPECT_EQ(out[0].duplicates, 1u);
    EXPECT_EQ(out[1].accepted, 1u);  // m@4; m@1 (shared) and the repeat of m@4 duplicates
    EXPECT_EQ(out[1].duplicates, 2u);
}

TEST(Rows, ArrayLiteralEncoding) {
    std::string s;
    append_text_element(s, R"(a"b\c,{})");
    EXPECT_EQ(s, R"("a\"b\\c,{}")");
    s.clear();
    append_double(s, 0.1);
    EXPECT_EQ(s, "0.1");
    s.clear();
    append_double(s, -1e300);
    EXPECT_EQ(std::stod(s), -1e300);
}

}  // namespace
}  // namespace agenthost::telemetry_postgres
