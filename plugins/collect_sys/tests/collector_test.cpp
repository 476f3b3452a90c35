// collect_sys unit tests: /proc parsers, cpu deltas over two samples, disk points,
// and an unreadable proc root.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "plugins/collect_sys/sys_collector.hpp"
#include "tests/gateway/support/fake_context.hpp"

namespace agenthost::plugins::collect_sys {
namespace {

namespace fs = std::filesystem;

const sdk::TelemetryPoint* find(const std::vector<sdk::TelemetryPoint>& pts,
                                std::string_view metric) {
    for (const auto& p : pts) {
        if (p.metric == metric) {
            return &p;
        }
    }
    return nullptr;
}

class FixtureProc {
public:
    FixtureProc() {
        std::string tmpl = (fs::temp_directory_path() / "ah-proc-XXXXXX").string();
        dir = mkdtemp(tmpl.data());
        write("meminfo", "MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable:    250 kB\n");
        write("loadavg", "0.50 0.25 0.10 1/123 4567\n");
        write("stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
    }
    ~FixtureProc() { fs::remove_all(dir); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(fs::path(dir) / name) << text;
    }
    std::string dir;
};

TEST(CollectSysParse, ProcStat) {
    auto t = parse_proc_stat("cpu  10 5 5 70 10 0 0 0 0 0\n");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->total, 100u);
    EXPECT_EQ(t->busy, 20u);  // idle and iowait are not busy
    EXPECT_FALSE(parse_proc_stat("intr 1 2 3"));
}

TEST(CollectSysParse, MeminfoAndLoadavg) {
    auto m = parse_meminfo("MemTotal: 2 kB\nMemAvailable: 1 kB\n");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->first, 2048u);
    EXPECT_EQ(m->second, 1024u);
    EXPECT_FALSE(parse_meminfo("MemTotal: 2 kB\n"));
    auto l = parse_loadavg("1.5 2.5 3.5 1/2 3");
    ASSERT_TRUE(l);
    EXPECT_DOUBLE_EQ((*l)[2], 3.5);
}

TEST(CollectSys, CpuNeedsTwoSamplesThenReportsDelta) {
    FixtureProc proc;
    testing::FakeContext ctx;
    CollectOptions o;
    o.proc_root = proc.dir;
    o.paths = {"/"};
    SysCollector c(ctx, o);
    auto first = c.sample();
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(find(*first, "sys.cpu_utilization"), nullptr);
    EXPECT_DOUBLE_EQ(find(*first, "sys.mem_total_bytes")->value, 1000.0 * 1024);
    EXPECT_DOUBLE_EQ(find(*first, "sys.mem_available_bytes")->value, 250.0 * 1024);
    EXPECT_DOUBLE_EQ(find(*first, "sys.load1")->value, 0.5);
    const auto* disk = find(*first, "sys.disk_available_bytes");
    ASSERT_NE(disk, nullptr);
    EXPECT_EQ(disk->labels, (sdk::LabelSet{{"path", "/"}}));
    EXPECT_GT(find(*first, "sys.disk_total_bytes")->value, 0.0);
    // 100 more busy jiffies out of 400 more in total.
    proc.write("stat", "cpu  150 0 150 1100 0 0 0 0 0 0\n");
    auto second = c.sample();
    ASSERT_TRUE(second.ok());
    const auto* cpu = find(*second, "sys.cpu_utilization");
    ASSERT_NE(cpu, nullptr);
    EXPECT_DOUBLE_EQ(cpu->value, 0.25);
}

TEST(CollectSys, CollectRunsOnThePoolAndCompletes) {
    testing::FakeContext ctx;
    SysCollector c(ctx, CollectOptions{});
    EXPECT_EQ(c.interval(), std::chrono::seconds(10));
    std::promise<sdk::Result<std::vector<sdk::TelemetryPoint>>> p;
    auto f = p.get_future();
    c.collect([&p](auto r) { p.set_value(std::move(r)); });
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto r = f.get();
    ASSERT_TRUE(r.ok());
    EXPECT_NE(find(*r, "sys.mem_total_bytes"), nullptr);
}

TEST(CollectSys, MissingSourcesAreAnError) {
    testing::FakeContext ctx;
    CollectOptions o;
    o.proc_root = "/nonexistent";
    o.paths = {"/nonexistent/path"};
    SysCollector c(ctx, o);
    EXPECT_FALSE(c.sample().ok());
}

TEST(CollectSys, ParsesConfig) {
    auto o = parse_options({{"interval_s", 3}, {"paths", {"/", "/tmp"}}});
    EXPECT_EQ(o.interval, std::chrono::seconds(3));
    EXPECT_EQ(o.paths, (std::vector<std::string>{"/", "/tmp"}));
}

}  // namespace
}  // namespace agenthost::plugins::collect_sys
