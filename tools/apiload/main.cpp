// apiload: the operator-API load driver of the command benchmarks (see README.md).
// Exit status 0 after a run (even one with unfinished commands: the report says so),
// 1 when it could not start, 2 on a usage error.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <boost/json.hpp>

#include "tools/apiload/driver.hpp"

namespace {

using agenthost::apiload::Options;
using agenthost::apiload::Report;
namespace json = boost::json;

const char* kUsage =
    "usage: apiload --port PORT --trust CA --token-file FILE [options]\n"
    "  --host ADDR           API address (IP), default 127.0.0.1\n"
    "  --agents N            agents the commands go to, round-robin (default 1)\n"
    "  --prefix P, --first I agent ids P + six digits of I + n (default sim-, 0)\n"
    "  --command NAME        command name (default builtin.echo)\n"
    "  --count N             commands to enqueue (default 1000)\n"
    "  --warmup N            first N commands left out of the figures (default 0)\n"
    "  --rate R              commands/s over all connections; 0 = as fast as possible\n"
    "  --connections C       keep-alive HTTPS connections (default 4)\n"
    "  --threads T           I/O threads (default 1)\n"
    "  --poll-ms MS          re-poll a non-terminal command after MS (default 20)\n"
    "  --timeout S           whole run bound in seconds (default 120)\n"
    "  --json FILE           write the report as JSON\n"
    "  --quiet               no progress lines\n";

bool parse(int argc, char** argv, Options& o, std::string& err) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--quiet") {
            o.quiet = true;
            continue;
        }
        if (i + 1 >= argc) {
            err = "missing value for " + a;
            return false;
        }
        const std::string v = argv[++i];
        try {
            if (a == "--host") {
                o.host = v;
            } else if (a == "--port") {
                o.port = static_cast<std::uint16_t>(std::stoul(v));
            } else if (a == "--trust") {
                o.trust = v;
            } else if (a == "--token-file") {
                o.token_file = v;
            } else if (a == "--agents") {
                o.agents = std::stoul(v);
            } else if (a == "--prefix") {
                o.prefix = v;
            } else if (a == "--first") {
                o.first = std::stoul(v);
            } else if (a == "--command") {
                o.command = v;
            } else if (a == "--count") {
                o.count = std::stoul(v);
            } else if (a == "--warmup") {
                o.warmup = std::stoul(v);
            } else if (a == "--rate") {
                o.rate = std::stod(v);
            } else if (a == "--connections") {
                o.connections = std::stoul(v);
            } else if (a == "--threads") {
                o.threads = static_cast<unsigned>(std::stoul(v));
            } else if (a == "--poll-ms") {
                o.poll_ms = std::stod(v);
            } else if (a == "--timeout") {
                o.timeout_s = std::stod(v);
            } else if (a == "--json") {
                o.json_file = v;
            } else {
                err = "unknown option " + a;
                return false;
            }
        } catch (const std::exception&) {
            err = "bad value for " + a + ": " + v;
            return false;
        }
    }
    if (o.port == 0 || o.trust.empty() || o.token_file.empty()) {
        err = "--port, --trust and --token-file are required";
        return false;
    }
    if (o.agents == 0 || o.connections == 0 || o.count == 0 || o.warmup >= o.count || o.rate < 0 ||
        o.poll_ms < 1 || o.timeout_s <= 0) {
        err = "--agents, --connections, --count must be > 0, --warmup < --count, --poll-ms >= 1";
        return false;
    }
    return true;
}

double ms(std::uint64_t us) {
    return static_cast<double>(us) / 1000.0;
}

json::object percentiles(const agenthost::agentsim::Histogram& h) {
    return {{"count", h.count()},
            {"p50_ms", ms(h.percentile(50))},
            {"p90_ms", ms(h.percentile(90))},
            {"p99_ms", ms(h.percentile(99))},
            {"p999_ms", ms(h.percentile(99.9))},
            {"max_ms", ms(h.max())}};
}

json::object to_json(const Options& o, const Report& r) {
    json::object states;
    for (const auto& [k, v] : r.states) {
        states[k] = v;
    }
    const double measured = static_cast<double>(r.measured);
    return {
        {"options",
         {{"count", o.count},
          {"warmup", o.warmup},
          {"rate", o.rate},
          {"connections", o.connections},
          {"agents", o.agents}}},
        {"totals",
         {{"enqueued", r.enqueued},
          {"retried_429", r.retried},
          {"rejected", r.rejected},
          {"io_errors", r.io_errors},
          {"polls", r.polls},
          {"unfinished", r.unfinished},
          {"measured", r.measured}}},
        {"states", states},
        {"seconds",
         {{"enqueue", r.enqueue_s}, {"total", r.total_s}, {"server_window", r.server_window_s}}},
        {"rates",
         {{"enqueue_per_s", r.enqueue_s > 0 ? r.enqueued / r.enqueue_s : 0.0},
          {"completed_per_s", r.server_window_s > 0 ? measured / r.server_window_s : 0.0}}},
        {"enqueue_latency", percentiles(r.post_us)},
        {"round_trip", percentiles(r.round_us)},
    };
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::string err;
    if (argc == 2 && std::string(argv[1]) == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (!parse(argc, argv, o, err)) {
        std::fprintf(stderr, "apiload: %s\n\n%s", err.c_str(), kUsage);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    Report r;
    if (std::string e = agenthost::apiload::run(o, r); !e.empty()) {
        std::fprintf(stderr, "apiload: %s\n", e.c_str());
        return 1;
    }
    const json::object j = to_json(o, r);
    const auto& rt = j.at("round_trip").as_object();
    const auto& pq = j.at("enqueue_latency").as_object();
    std::printf(
        "apiload: %zu enqueued (%zu × 429 retried, %zu rejected, %zu I/O errors), %zu "
        "unfinished\n  enqueue %.2f s (%.0f/s), POST p50/p99 %.2f/%.2f ms\n"
        "  completed %.0f/s over the server window %.2f s\n"
        "  round trip (created → result stored) p50 %.1f p90 %.1f p99 %.1f max %.1f ms\n",
        r.enqueued, r.retried, r.rejected, r.io_errors, r.unfinished, r.enqueue_s,
        j.at("rates").at("enqueue_per_s").as_double(), pq.at("p50_ms").as_double(),
        pq.at("p99_ms").as_double(), j.at("rates").at("completed_per_s").as_double(),
        r.server_window_s, rt.at("p50_ms").as_double(), rt.at("p90_ms").as_double(),
        rt.at("p99_ms").as_double(), rt.at("max_ms").as_double());
    if (!o.json_file.empty()) {
        std::ofstream f(o.json_file, std::ios::trunc);
        f << json::serialize(j) << "\n";
        if (!f) {
            std::fprintf(stderr, "apiload: cannot write %s\n", o.json_file.c_str());
            return 1;
        }
    }
    return 0;
}
