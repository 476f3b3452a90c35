#include "tests/guards/guard_support.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <sstream>

namespace agenthost::guards_test {

HttpAnswer http_get(std::uint16_t port, const std::string& path) {
    static std::atomic<int> n{0};
    const std::string out = "/tmp/agenthost-guards-" + std::to_string(::getpid()) + "-" +
                            std::to_string(n.fetch_add(1));
    std::string meta;
    run("curl -s --max-time 5 -o " + out +
            " -w '%{http_code} %{content_type}' "
            "http://127.0.0.1:" +
            std::to_string(port) + path,
        &meta);
    HttpAnswer a;
    std::istringstream in(meta);
    in >> a.status;
    std::getline(in >> std::ws, a.content_type);
    a.body = read_file(out);
    ::unlink(out.c_str());
    return a;
}

std::optional<double> metric(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
            line[series.size()] == ' ') {
            try {
                return std::stod(line.substr(series.size() + 1));
            } catch (...) {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

std::optional<double> scrape(std::uint16_t port, const std::string& series) {
    auto a = http_get(port, "/metrics");
    if (a.status != 200) {
        return std::nullopt;
    }
    return metric(a.body, series);
}

bool wait_metric(std::uint16_t port, const std::string& series, double at_least,
                 std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
            auto v = scrape(port, series);
            return v && *v >= at_least;
        },
        timeout, 100ms);
}

std::string test_plugin_dir() {
    return env_or("AGENTHOST_TEST_PLUGIN_DIR", "build/test_plugins");
}

Agent::Agent(Workspace& ws, std::string agent)
    : ws_(ws), agent_(std::move(agent)), key_(derive_key(read_file(ws.master_key()), agent_)) {}

bool Agent::connect(std::uint16_t port) {
    client_ =
        std::make_unique<RawAgentClient>(ws_.pki("ca.crt"), ws_.pki("agents/" + agent_ + ".crt"),
                                         ws_.pki("agents/" + agent_ + ".key"));
    try {
        client_->connect(port);
        return true;
    } catch (...) {
        return false;
    }
}

bool Agent::open(std::uint16_t port) {
    if (!connect(port)) {
        return false;
    }
    client_->send_text(hello());
    auto f = client_->read(10s);
    return f && !f->close_code &&
           json::value_to<std::string>(frame_payload(f->text).at("type")) == "welcome";
}

std::string Agent::hello() const {
    json::object body{{"agent_version", "raw-1.0"},
                      {"hostname", "raw"},
                      {"platform", "linux-x86_64"},
                      {"capabilities", json::array{"builtin.echo"}},
                      {"spool", json::object{{"results", 0}, {"telemetry", 0}}}};
    return sign_frame(key_, "k1", envelope("hello", agent_, body));
}

std::string Agent::telemetry(const std::string& batch_id) const {
    json::array points;
    points.push_back(json::object{{"metric", "cpu.usage"}, {"ts", 1764201600000}, {"value", 1}});
    return sign_frame(
        key_, "k1",
        envelope("telemetry", agent_, json::object{{"batch_id", batch_id}, {"points", points}}));
}

std::string Agent::result(const std::string& command_id) const {
    json::object body{{"command_id", command_id},
                      {"status", "succeeded"},
                      {"exit_code", 0},
                      {"output", "ok"},
                      {"truncated", false},
                      {"started_at", 1764201600000},
                      {"finished_at", 1764201600001}};
    return sign_frame(key_, "k1", envelope("result", agent_, body));
}

std::string uuid(int n) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
    return buf;
}

}  // namespace agenthost::guards_test
