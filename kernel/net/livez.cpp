// The kernel's health surface (API.md health table): /livez from the event-loop
// heartbeat, the loop/memory/build gauges, minimal /readyz and /metrics when no health
// plugin serves them; and the small HTTP helpers that need no Asio.
#include <cstdio>

#include "kernel/net/http_server.hpp"
#include "kernel/runtime/process_probes.hpp"
#include "kernel/runtime/runtime.hpp"

#ifndef AGENTHOST_VERSION
#define AGENTHOST_VERSION "0.0.0"
#endif

namespace agenthost::net {

namespace {
// Above this the loop check warns; a stall (no beat at all) fails it.
constexpr double kLoopLagWarnMs = 500.0;

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}
}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            int hi = hex_value(text[i + 1]);
            int lo = hex_value(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += (plus_is_space && c == '+') ? ' ' : c;
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!query.empty()) {
        auto amp = query.find('&');
        auto part = query.substr(0, amp);
        if (!part.empty()) {
            auto eq = part.find('=');
            auto key = part.substr(0, eq);
            auto value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
            out.emplace_back(percent_decode(key, true), percent_decode(value, true));
        }
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    }
    return out;
}

std::string json_error(std::string_view code, std::string_view message) {
    std::string out = R"({"error":{"code":)";
    append_json_string(out, code);
    out += R"(,"message":)";
    append_json_string(out, message);
    out += "}}";
    return out;
}

namespace {

sdk::HttpResponse health_answer(int status, std::string body) {
    sdk::HttpResponse res;
    res.status = status;
    res.headers.emplace_back("cache-control", "no-store");
    res.body = std::move(body);
    return res;
}

}  // namespace

sdk::Status register_livez(runtime::Runtime& runtime) {
    auto monitor = std::make_shared<runtime::LoopMonitor>(runtime.scheduler());
    monitor->start();
    auto& m = runtime.metrics();
    m.callback_gauge("agenthost_loop_lag_ms", "Lateness of the last event-loop heartbeat (ms)",
                     {}, [monitor] { return monitor->lag_ms(); });
    m.callback_gauge("agenthost_loop_lag_max_ms",
                     "Largest event-loop heartbeat lateness since start (ms)", {},
                     [monitor] { return monitor->max_lag_ms(); });
    m.callback_gauge("agenthost_process_resident_bytes", "Resident set size of this process",
                     {}, [] { return static_cast<double>(runtime::resident_bytes()); });
    m.gauge("agenthost_build_info", "Build and role of this process (always 1)",
            {{"version", AGENTHOST_VERSION}, {"role", runtime.options().role}})
        .set(1);
    runtime.health().add_check("loop:lag", true, [monitor] {
        sdk::HealthReport r;
        r.component_type = "system";
        r.observed_value = monitor->lag_ms();
        r.observed_unit = "ms";
        if (monitor->stalled()) {
            r.state = sdk::HealthState::fail;
            r.output = "event loop stalled for " +
                       std::to_string(monitor->since_last_beat().count()) + " ms";
        } else if (monitor->lag_ms() > kLoopLagWarnMs) {
            r.state = sdk::HealthState::warn;
            r.output = "event loop lagging";
        }
        return r;
    });
    // Liveness is the heartbeat only: a dependency that is down never fails it.
    return runtime.routes().add(
        sdk::Listener::health, "GET", "/livez",
        [monitor](const sdk::HttpRequest&, sdk::HttpResponder respond) {
            if (monitor->stalled()) {
                respond(health_answer(503, R"({"status":"fail","output":"event loop stalled"})"));
                return;
            }
            respond(health_answer(200, R"({"status":"pass"})"));
        });
}

void register_health_fallback(runtime::Runtime& runtime) {
    runtime::Runtime* rt = &runtime;
    // Errors mean a health plugin already serves the path: it wins.
    (void)runtime.routes().add(
        sdk::Listener::health, "GET", "/readyz",
        [rt](const sdk::HttpRequest&, sdk::HttpResponder respond) {
            if (rt->health().ready()) {
                respond(health_answer(200, R"({"status":"pass"})"));
                return;
            }
            std::string failing;
            for (const auto& [name, report] : rt->health().evaluate()) {
                if (report.state == sdk::HealthState::fail) {
                    failing += failing.empty() ? name : ", " + name;
                }
            }
            std::string body = R"({"status":"fail","output":)";
            append_json_string(body, failing.empty() ? "not ready (draining)" : failing);
            respond(health_answer(503, body + "}"));
        });
    (void)runtime.routes().add(
        sdk::Listener::health, "GET", "/metrics",
        [rt](const sdk::HttpRequest&, sdk::HttpResponder respond) {
            update_health_gauges(rt->health(), rt->metrics());
            sdk::HttpResponse res = health_answer(200, rt->metrics().render_prometheus());
            res.content_type = "text/plain; version=0.0.4";
            respond(std::move(res));
        });
}

void update_health_gauges(sdk::HealthRegistry& health, sdk::Metrics& metrics) {
    for (const auto& [name, report] : health.evaluate()) {
        metrics
            .gauge("agenthost_health_check_status",
                   "Health checks by name: 0 pass, 1 warn, 2 fail", {{"check", name}})
            .set(static_cast<double>(report.state));
    }
    metrics.gauge("agenthost_ready", "1 when /readyz answers 200").set(health.ready() ? 1 : 0);
}

}  // namespace agenthost::net
