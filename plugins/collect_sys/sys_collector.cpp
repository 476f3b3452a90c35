#include "sys_collector.hpp"

#include <sys/statvfs.h>

#include <fstream>
#include <sstream>

namespace agenthost::plugins::collect_sys {

namespace json = sdk::json;
using sdk::TelemetryPoint;

namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

CollectOptions parse_options(const json::object& config) {
    CollectOptions o;
    if (const auto* v = config.if_contains("interval_s"); v && v->is_int64()) {
        o.interval = std::chrono::seconds(v->as_int64());
    }
    if (const auto* v = config.if_contains("paths"); v && v->is_array()) {
        o.paths.clear();
        for (const auto& p : v->as_array()) {
            o.paths.emplace_back(p.as_string());
        }
    }
    if (const auto* v = config.if_contains("proc_root"); v && v->is_string()) {
        o.proc_root = std::string(v->as_string());
    }
    return o;
}

std::optional<CpuTimes> parse_proc_stat(const std::string& text) {
    std::istringstream in(text);
    std::string label;
    in >> label;
    if (label != "cpu") {
        return std::nullopt;
    }
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    std::uint64_t v[8] = {};
    int n = 0;
    for (; n < 8 && (in >> v[n]); ++n) {
    }
    if (n < 4) {
        return std::nullopt;
    }
    CpuTimes t;
    for (int i = 0; i < n; ++i) {
        t.total += v[i];
    }
    const std::uint64_t idle = v[3] + (n > 4 ? v[4] : 0);
    t.busy = t.total - idle;
    return t;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_meminfo(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    std::optional<std::uint64_t> total, avail;
    while (std::getline(in, line)) {
        std::istringstream l(line);
        std::string key;
        std::uint64_t kb = 0;
        if (!(l >> key >> kb)) {
            continue;
        }
        if (key == "MemTotal:") {
            total = kb * 1024;
        } else if (key == "MemAvailable:") {
            avail = kb * 1024;
        }
    }
    if (!total || !avail) {
        return std::nullopt;
    }
    return std::make_pair(*total, *avail);
}

std::optional<std::vector<double>> parse_loadavg(const std::string& text) {
    std::istringstream in(text);
    std::vector<double> out(3);
    if (!(in >> out[0] >> out[1] >> out[2])) {
        return std::nullopt;
    }
    return out;
}

void SysCollector::collect(sdk::Callback<sdk::Result<std::vector<TelemetryPoint>>> done) {
    ctx_.blocking().submit([s = sampler_, done = std::move(done)] { done(s->sample()); });
}

sdk::Result<std::vector<TelemetryPoint>> Sampler::sample() {
    const std::int64_t ts = ctx_.clock().now_unix_ms();
    std::vector<TelemetryPoint> points;
    auto add = [&](std::string metric, double value, sdk::LabelSet labels = {}) {
        points.push_back(TelemetryPoint{std::move(metric), ts, value, std::move(labels)});
    };
    std::vector<std::string> problems;
    if (auto stat = read_file(options_.proc_root + "/stat")) {
        if (auto cpu = parse_proc_stat(*stat)) {
            std::lock_guard lk(mu_);
            // Utilisation needs two samples; the first one only primes the baseline.
            if (last_cpu_ && cpu->total > last_cpu_->total) {
                const double busy = static_cast<double>(cpu->busy - last_cpu_->busy);
                const double total = static_cast<double>(cpu->total - last_cpu_->total);
                add("sys.cpu_utilization", busy / total);
            }
            last_cpu_ = *cpu;
        }
    } else {
        problems.push_back("stat");
    }
    if (auto text = read_file(options_.proc_root + "/meminfo"); text && parse_meminfo(*text)) {
        auto [total, avail] = *parse_meminfo(*text);
        add("sys.mem_total_bytes", static_cast<double>(total));
        add("sys.mem_available_bytes", static_cast<double>(avail));
    } else {
        problems.push_back("meminfo");
    }
    if (auto text = read_file(options_.proc_root + "/loadavg"); text && parse_loadavg(*text)) {
        auto l = *parse_loadavg(*text);
        add("sys.load1", l[0]);
        add("sys.load5", l[1]);
        add("sys.load15", l[2]);
    } else {
        problems.push_back("loadavg");
    }
    for (const auto& path : options_.paths) {
        struct statvfs s {};
        if (statvfs(path.c_str(), &s) != 0) {
            problems.push_back("statvfs " + path);
            continue;
        }
        const double total = static_cast<double>(s.f_blocks) * static_cast<double>(s.f_frsize);
        const double avail = static_cast<double>(s.f_bavail) * static_cast<double>(s.f_frsize);
        add("sys.disk_total_bytes", total, {{"path", path}});
        add("sys.disk_available_bytes", avail, {{"path", path}});
    }
    if (points.empty()) {
        return sdk::error(sdk::Errc::unavailable, "no system metric readable");
    }
    if (!problems.empty()) {
        std::string what;
        for (const auto& p : problems) {
            what += (what.empty() ? "" : ", ") + p;
        }
        ctx_.logger().warn("some system metrics unavailable", {{"sources", what}});
    }
    return points;
}

}  // namespace agenthost::plugins::collect_sys
