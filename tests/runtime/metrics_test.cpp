// MetricsRegistry: handles, label escaping, Prometheus 0.0.4 text, callbacks.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "kernel/runtime/metrics_registry.hpp"

namespace agenthost::runtime {
namespace {

std::size_t count_of(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

TEST(Metrics, SameNameAndLabelsGiveTheSameHandle) {
    MetricsRegistry m;
    auto& a = m.counter("agenthost_frames_total", "Frames", {{"dir", "in"}, {"kind", "x"}});
    auto& b = m.counter("agenthost_frames_total", "Frames", {{"kind", "x"}, {"dir", "in"}});
    auto& c = m.counter("agenthost_frames_total", "Frames", {{"dir", "out"}, {"kind", "x"}});
    EXPECT_EQ(&a, &b);
    EXPECT_NE(&a, &c);
    a.inc();
    b.inc(2);
    EXPECT_EQ(a.value(), 3u);
}

TEST(Metrics, RendersHelpAndTypeOncePerFamily) {
    MetricsRegistry m;
    m.counter("reqs_total", "Requests", {{"code", "200"}}).inc(5);
    m.counter("reqs_total", "Requests", {{"code", "500"}}).inc();
    m.gauge("temp", "Temperature").set(-1.5);
    auto text = m.render_prometheus();
    EXPECT_EQ(count_of(text, "# HELP reqs_total Requests\n"), 1u) << text;
    EXPECT_EQ(count_of(text, "# TYPE reqs_total counter\n"), 1u) << text;
    EXPECT_NE(text.find("reqs_total{code=\"200\"} 5\n"), std::string::npos) << text;
    EXPECT_NE(text.find("reqs_total{code=\"500\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE temp gauge\ntemp -1.5\n"), std::string::npos) << text;
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
    MetricsRegistry m;
    m.counter("odd_total", "line one\nback\\slash", {{"path", "a\"b\\c\nd"}}).inc();
    auto text = m.render_prometheus();
    EXPECT_NE(text.find("# HELP odd_total line one\\nback\\\\slash\n"), std::string::npos) << text;
    EXPECT_NE(text.find("odd_total{path=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
    MetricsRegistry m;
    auto& h = m.histogram("lat_seconds", "Latency", {0.5, 0.1, 1.0, 0.1}, {{"op", "x"}});
    h.observe(0.0625);  // exactly representable, so the sum is exact
    h.observe(0.25);
    h.observe(0.75);
    h.observe(3.0);
    auto text = m.render_prometheus();
    EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_bucket{op=\"x\",le=\"0.1\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{op=\"x\",le=\"0.5\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_bucket{op=\"x\",le=\"1\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("lat_seconds_sum{op=\"x\"} 4.0625\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_count{op=\"x\"} 4\n"), std::string::npos);
    EXPECT_EQ(count_of(text, "le=\"0.1\""), 1u) << "duplicate bounds are merged";
}

TEST(Metrics, CallbackGaugesAreEvaluatedOnScrapeAndDroppedByOwner) {
    MetricsRegistry m;
    double v = 1;
    m.callback_gauge_owned("plugin_a", "depth", "Queue depth", {{"q", "main"}}, [&] { return v; });
    m.callback_gauge_owned("plugin_b", "other", "Other", {}, [] { return 7.0; });
    EXPECT_NE(m.render_prometheus().find("depth{q=\"main\"} 1\n"), std::string::npos);
    v = 2.5;
    EXPECT_NE(m.render_prometheus().find("depth{q=\"main\"} 2.5\n"), std::string::npos);
    m.drop_callbacks("plugin_a");
    auto text = m.render_prometheus();
    EXPECT_EQ(text.find("depth"), std::string::npos) << "no HELP for an empty family: " << text;
    EXPECT_NE(text.find("other 7\n"), std::string::npos);
}

TEST(Metrics, MisuseGivesAWorkingButUnrenderedHandle) {
    MetricsRegistry m;
    m.counter("clash", "A counter").inc();
    auto& g = m.gauge("clash", "Now a gauge");  // kind clash
    g.set(5);
    auto& bad = m.counter("9starts_with_digit", "bad name");
    bad.inc();
    auto& bad_label = m.counter("ok_total", "bad label", {{"le-x", "1"}});
    bad_label.inc();
    auto text = m.render_prometheus();
    EXPECT_NE(text.find("# TYPE clash counter\nclash 1\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("9starts"), std::string::npos);
    EXPECT_EQ(text.find("ok_total"), std::string::npos);
    EXPECT_DOUBLE_EQ(g.value(), 5);
}

TEST(Metrics, SpecialValuesUsePrometheusSpelling) {
    MetricsRegistry m;
    m.gauge("inf_gauge", "x").set(std::numeric_limits<double>::infinity());
    m.gauge("nan_gauge", "x").set(std::nan(""));
    auto text = m.render_prometheus();
    EXPECT_NE(text.find("inf_gauge +Inf\n"), std::string::npos) << text;
    EXPECT_NE(text.find("nan_gauge NaN\n"), std::string::npos) << text;
}

TEST(Metrics, NameValidation) {
    EXPECT_TRUE(MetricsRegistry::valid_metric_name("agenthost:x_total"));
    EXPECT_FALSE(MetricsRegistry::valid_metric_name(""));
    EXPECT_FALSE(MetricsRegistry::valid_metric_name("a-b"));
    EXPECT_TRUE(MetricsRegistry::valid_label_name("code"));
    EXPECT_FALSE(MetricsRegistry::valid_label_name("__name"));
    EXPECT_FALSE(MetricsRegistry::valid_label_name("a:b"));
}

}  // namespace
}  // namespace agenthost::runtime
