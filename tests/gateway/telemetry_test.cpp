// TelemetryPump: collected points are checked, batched by max_batch_points, spooled
// with fresh batch ids, and dropped-and-counted when the spool is full.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "kernel/gateway/telemetry_pump.hpp"
#include "tests/gateway/support/fake_context.hpp"
#include "tests/gateway/support/temp_dir.hpp"

namespace agenthost::gateway {
namespace {

namespace json = boost::json;
using testing::wait_until;

class FakeCollector final : public sdk::TelemetryCollector {
public:
    std::chrono::milliseconds interval() const override { return std::chrono::milliseconds(20); }
    void collect(sdk::Callback<sdk::Result<std::vector<sdk::TelemetryPoint>>> done) override {
        ++calls;
        std::vector<sdk::TelemetryPoint> pts;
        for (int i = 0; i < 5; ++i) {
            pts.push_back({"sys.test", 1000 + i, static_cast<double>(i), {{"z", "1"}, {"a", "2"}}});
        }
        pts.push_back({"bad metric name", 1, 1.0, {}});  // would cost the session a 4400
        done(std::move(pts));
    }
    std::atomic<int> calls{0};
};

TEST(SanitizePoints, DropsWhatTheBackendWouldRefuse) {
    std::vector<sdk::TelemetryPoint> pts{
        {"ok.metric", 1, 1.0, {{"b", "x"}, {"a", "y"}}},
        {"9starts_with_digit", 1, 1.0, {}},
        {"nan", 1, std::nan(""), {}},
        {"badlabel", 1, 1.0, {{"bad-name", "x"}}},
        {"longlabel", 1, 1.0, {{"a", std::string(300, 'x')}}},
    };
    EXPECT_EQ(sanitize_points(pts), 4u);
    ASSERT_EQ(pts.size(), 1u);
    EXPECT_EQ(pts[0].labels.front().first, "a");  // sorted by name
}

class TelemetryPumpTest : public ::testing::Test {
protected:
    void make(std::uint64_t spool_max) {
        StoreOptions o;
        o.spool_max_bytes = spool_max;
        auto s = GatewayStore::open(dir_.file("gw.db"), o, 0);
        ASSERT_TRUE(s.ok());
        store_ = std::move(s.value());
        pump_ = std::make_unique<TelemetryPump>(
            TelemetryDeps{ctx_.sched, ctx_.pool, ctx_.log, ctx_.metric, *store_},
            std::vector<sdk::TelemetryCollector*>{&collector_}, [] { return std::size_t{2}; },
            [this] { ++spooled_; });
    }
    testing::TempDir dir_;
    testing::FakeContext ctx_;
    FakeCollector collector_;
    std::unique_ptr<GatewayStore> store_;
    std::unique_ptr<TelemetryPump> pump_;
    std::atomic<int> spooled_{0};
};

TEST_F(TelemetryPumpTest, BatchesAndSpoolsValidPoints) {
    make(1 << 20);
    pump_->collect_now(0);
    ASSERT_TRUE(wait_until([&] { return store_->counts().telemetry == 3; }));  // 5 points / 2
    auto items = store_->pending(0, 10).value();
    std::set<std::string> ids;
    std::size_t points = 0;
    for (const auto& item : items) {
        auto body = json::parse(item.body).as_object();
        EXPECT_EQ(body.at("batch_id"), item.key.c_str());
        ids.insert(item.key);
        points += body.at("points").as_array().size();
        EXPECT_LE(body.at("points").as_array().size(), 2u);
    }
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_EQ(points, 5u);
    EXPECT_EQ(ctx_.metric.counter_value("agenthost_gateway_telemetry_invalid_points_total"), 1u);
    EXPECT_TRUE(wait_until([&] { return spooled_ == 3; }));
}

TEST_F(TelemetryPumpTest, FullSpoolDropsAndCounts) {
    make(10);  // nothing fits
    pump_->collect_now(0);
    ASSERT_TRUE(wait_until([&] {
        return ctx_.metric.counter_value("agenthost_gateway_telemetry_dropped_points_total") == 5;
    }));
    EXPECT_EQ(store_->counts().telemetry, 0u);
    EXPECT_EQ(spooled_, 0);
}

TEST_F(TelemetryPumpTest, RunsOnTheCollectorsInterval) {
    make(1 << 20);
    pump_->start();
    ASSERT_TRUE(wait_until([&] { return collector_.calls >= 3; }));
    pump_->stop();
    const int calls = collector_.calls;
    // Stopped: no timer is left that could collect again.
    EXPECT_TRUE(wait_until([&] { return ctx_.sched.pending() == 0; }));
    EXPECT_EQ(collector_.calls, calls);
}

}  // namespace
}  // namespace agenthost::gateway
