#include "tools/agentsim/stats.hpp"

#include <cstdio>

#include <boost/json.hpp>

namespace agenthost::agentsim {

namespace json = boost::json;

void ThreadStats::add_close(std::uint16_t code) {
    std::lock_guard lock(mu_);
    ++closes_[code];
}

std::map<std::uint16_t, std::uint64_t> ThreadStats::closes() const {
    std::lock_guard lock(mu_);
    return closes_;
}

Totals sum(const std::vector<const ThreadStats*>& stats) {
    Totals t;
    for (const ThreadStats* p : stats) {
        const ThreadStats& s = *p;
        t.attempts += s.attempts.get();
        t.tcp_errors += s.tcp_errors.get();
        t.tls_errors += s.tls_errors.get();
        t.upgrade_errors += s.upgrade_errors.get();
        t.tls_ok += s.tls_ok.get();
        t.upgraded += s.upgraded.get();
        t.welcomed += s.welcomed.get();
        t.open += s.open.get();
        t.handshakes += s.handshakes.get();
        t.telemetry_sent += s.telemetry_sent.get();
        t.telemetry_acks += s.telemetry_acks.get();
        t.points_sent += s.points_sent.get();
        t.points_accepted += s.points_accepted.get();
        t.points_duplicate += s.points_duplicate.get();
        t.telemetry_skipped += s.telemetry_skipped.get();
        t.echo_sent += s.echo_sent.get();
        t.echo_received += s.echo_received.get();
        t.commands += s.commands.get();
        t.commands_unique += s.commands_unique.get();
        t.commands_redelivered += s.commands_redelivered.get();
        t.results_sent += s.results_sent.get();
        t.result_acks += s.result_acks.get();
        t.error_frames += s.error_frames.get();
        t.verify_failures += s.verify_failures.get();
        for (auto [code, count] : s.closes()) {
            t.closes[code] += count;
        }
    }
    return t;
}

namespace {

json::object counters(const Totals& t) {
    json::object closes;
    for (auto [code, count] : t.closes) {
        closes[std::to_string(code)] = count;
    }
    return json::object{
        {"attempts", t.attempts},
        {"tls_ok", t.tls_ok},
        {"upgraded", t.upgraded},
        {"welcomed", t.welcomed},
        {"open", t.open},
        {"handshakes", t.handshakes},
        {"errors",
         json::object{{"tcp", t.tcp_errors},
                      {"tls", t.tls_errors},
                      {"upgrade", t.upgrade_errors},
                      {"error_frames", t.error_frames},
                      {"verify_failures", t.verify_failures}}},
        {"closes", std::move(closes)},
        {"telemetry",
         json::object{{"sent", t.telemetry_sent},
                      {"acks", t.telemetry_acks},
                      {"points_sent", t.points_sent},
                      {"points_accepted", t.points_accepted},
                      {"points_duplicate", t.points_duplicate},
                      {"skipped", t.telemetry_skipped}}},
        {"echo", json::object{{"sent", t.echo_sent}, {"received", t.echo_received}}},
        {"commands",
         json::object{{"received", t.commands},
                      {"unique", t.commands_unique},
                      {"redelivered", t.commands_redelivered},
                      {"results_sent", t.results_sent},
                      {"result_acks", t.result_acks}}},
    };
}

double ms(std::uint64_t us) {
    return static_cast<double>(us) / 1000.0;
}

json::object percentiles(const Histogram& h) {
    return json::object{{"count", h.count()},
                        {"min_ms", ms(h.min())},
                        {"p50_ms", ms(h.percentile(50))},
                        {"p90_ms", ms(h.percentile(90))},
                        {"p99_ms", ms(h.percentile(99))},
                        {"p999_ms", ms(h.percentile(99.9))},
                        {"max_ms", ms(h.max())}};
}

struct Rates {
    double window_s = 0;
    double connect_window_s = 0;
    double connects_per_s = 0;    // sessions / held connections established per second
    double handshakes_per_s = 0;  // handshake mode: completed cycles per second
    double telemetry_acks_per_s = 0;
    double points_accepted_per_s = 0;
    double echo_per_s = 0;
    double result_acks_per_s = 0;
};

Rates rates(const Report& r) {
    Rates out;
    const Totals& a = r.at_measure_start;
    const Totals& b = r.totals;
    out.window_s = r.timeline.end_s - r.timeline.measure_start_s;
    auto per_s = [&](std::uint64_t end, std::uint64_t start) {
        return out.window_s > 0 ? static_cast<double>(end - start) / out.window_s : 0.0;
    };
    std::uint64_t connected =
        r.options.mode == Mode::agent
            ? b.welcomed
            : (r.options.mode == Mode::ws_echo ? b.upgraded : b.tls_ok);
    out.connect_window_s = r.timeline.last_connect_s - r.timeline.first_connect_s;
    if (connected > 1 && out.connect_window_s > 0) {
        out.connects_per_s = static_cast<double>(connected - 1) / out.connect_window_s;
    }
    out.handshakes_per_s = per_s(b.handshakes, a.handshakes);
    out.telemetry_acks_per_s = per_s(b.telemetry_acks, a.telemetry_acks);
    out.points_accepted_per_s = per_s(b.points_accepted, a.points_accepted);
    out.echo_per_s = per_s(b.echo_received, a.echo_received);
    out.result_acks_per_s = per_s(b.result_acks, a.result_acks);
    return out;
}

}  // namespace

std::string status_json(const Totals& t, double elapsed_s) {
    json::object o = counters(t);
    o["elapsed_s"] = elapsed_s;
    return json::serialize(o);
}

std::string report_json(const Report& r) {
    Rates rt = rates(r);
    const Options& o = r.options;
    json::object out{
        {"tool", "agentsim"},
        {"mode", mode_name(o.mode)},
        {"agents", o.agents},
        {"threads", r.threads},
        {"target", o.host + ":" + std::to_string(o.port)},
        {"ramp_per_s", o.ramp},
        {"telemetry_rate_per_agent", o.telemetry_rate},
        {"points_per_batch", o.points},
        {"echo_in_flight", o.echo},
        {"certificates", json::object{{"mint_s", r.mint_s}, {"per_s", r.mint_per_s}}},
        {"timeline",
         json::object{{"ramp_end_s", r.timeline.ramp_end_s},
                      {"measure_start_s", r.timeline.measure_start_s},
                      {"end_s", r.timeline.end_s},
                      {"first_connect_s", r.timeline.first_connect_s},
                      {"last_connect_s", r.timeline.last_connect_s}}},
        {"rates",
         json::object{{"window_s", rt.window_s},
                      {"connects_per_s", rt.connects_per_s},
                      {"handshakes_per_s", rt.handshakes_per_s},
                      {"telemetry_acks_per_s", rt.telemetry_acks_per_s},
                      {"points_accepted_per_s", rt.points_accepted_per_s},
                      {"echo_round_trips_per_s", rt.echo_per_s},
                      {"result_acks_per_s", rt.result_acks_per_s}}},
        {"totals", counters(r.totals)},
        {"connect_latency", percentiles(r.connect_us)},
        {"round_trip", percentiles(r.measured_rtt)},
        {"round_trip_all", percentiles(r.rtt_us)},
    };
    return json::serialize(out);
}

std::string report_table(const Report& r) {
    Rates rt = rates(r);
    const Totals& t = r.totals;
    std::string out;
    char line[256];
    auto add = [&](const char* name, const std::string& value) {
        std::snprintf(line, sizeof(line), "  %-34s %s\n", name, value.c_str());
        out += line;
    };
    auto num = [](double v, const char* fmt = "%.1f") {
        char b[64];
        std::snprintf(b, sizeof(b), fmt, v);
        return std::string(b);
    };
    auto hist = [&](const Histogram& h) {
        char b[160];
        std::snprintf(b, sizeof(b),
                      "p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms (n=%llu)",
                      ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)),
                      ms(h.percentile(99.9)), ms(h.max()),
                      static_cast<unsigned long long>(h.count()));
        return std::string(b);
    };
    out += "agentsim report (" + std::string(mode_name(r.options.mode)) + ", " +
           std::to_string(r.options.agents) + " agents, " + std::to_string(r.threads) +
           " threads)\n";
    add("certificates minted/s", num(r.mint_per_s, "%.0f"));
    add("connection attempts", std::to_string(t.attempts));
    add("TLS handshakes ok", std::to_string(t.tls_ok));
    if (r.options.mode == Mode::agent || r.options.mode == Mode::ws_echo) {
        add("WebSocket upgrades", std::to_string(t.upgraded));
    }
    if (r.options.mode == Mode::agent) {
        add("welcomed", std::to_string(t.welcomed));
    }
    add("open at end", std::to_string(t.open));
    add("errors tcp / tls / upgrade", std::to_string(t.tcp_errors) + " / " +
                                          std::to_string(t.tls_errors) + " / " +
                                          std::to_string(t.upgrade_errors));
    std::string closes;
    for (auto [code, count] : t.closes) {
        closes += std::to_string(code) + ": " + std::to_string(count) + "  ";
    }
    add("closes by code", closes.empty() ? "none" : closes);
    add("connections established/s", num(rt.connects_per_s));
    add("connect latency", hist(r.connect_us));
    if (r.options.mode == Mode::handshake) {
        add("handshakes/s (measured window)", num(rt.handshakes_per_s));
    }
    if (t.telemetry_sent > 0) {
        add("telemetry batches sent / acked", std::to_string(t.telemetry_sent) + " / " +
                                                  std::to_string(t.telemetry_acks));
        add("telemetry acks/s", num(rt.telemetry_acks_per_s));
        add("points accepted/s", num(rt.points_accepted_per_s));
        add("points accepted / duplicate", std::to_string(t.points_accepted) + " / " +
                                               std::to_string(t.points_duplicate));
    }
    if (t.echo_sent > 0) {
        add("echo round trips/s", num(rt.echo_per_s));
    }
    if (r.rtt_us.count() > 0) {
        add("round trip (measured window)", hist(r.measured_rtt));
    }
    if (t.commands > 0) {
        add("commands received / unique", std::to_string(t.commands) + " / " +
                                              std::to_string(t.commands_unique));
        add("results sent / acked", std::to_string(t.results_sent) + " / " +
                                        std::to_string(t.result_acks));
    }
    add("error frames / verify failures",
        std::to_string(t.error_frames) + " / " + std::to_string(t.verify_failures));
    add("measurement window s", num(rt.window_s, "%.2f"));
    return out;
}

}  // namespace agenthost::agentsim
