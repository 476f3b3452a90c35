// telemetry_postgres: config schema and its typed form.
#include <algorithm>
#include <fstream>

#include "plugins/telemetry_postgres/telemetry_plugin.hpp"

namespace agenthost::telemetry_postgres {

namespace json = sdk::json;

namespace {

std::int64_t get_int(const json::object& c, std::string_view key, std::int64_t fallback) {
    if (auto it = c.find(key); it != c.end()) {
        if (it->value().is_int64()) {
            return it->value().as_int64();
        }
        if (it->value().is_uint64()) {
            return static_cast<std::int64_t>(it->value().as_uint64());
        }
        if (it->value().is_double()) {
            return static_cast<std::int64_t>(it->value().as_double());
        }
    }
    return fallback;
}

double get_number(const json::object& c, std::string_view key, double fallback) {
    if (auto it = c.find(key); it != c.end()) {
        if (it->value().is_double()) {
            return it->value().as_double();
        }
        if (it->value().is_int64()) {
            return static_cast<double>(it->value().as_int64());
        }
    }
    return fallback;
}

std::string get_string(const json::object& c, std::string_view key, std::string fallback) {
    if (auto it = c.find(key); it != c.end() && it->value().is_string()) {
        return std::string(it->value().as_string());
    }
    return fallback;
}

}  // namespace

sdk::Schema config_schema() {
    using sdk::integer_field;
    using sdk::number_field;
    using sdk::string_field;
    return {
        string_field("url")
            .describe("libpq connection URL, e.g. postgresql://agenthost@db:5432/agenthost"
                      "?sslmode=verify-full. Prefer url_file when it carries a password.")
            .is_secret()
            .fallback(json::value("")),
        string_field("url_file")
            .describe("File holding the connection URL (first line); must not be group- or "
                      "world-readable. Exactly one of url and url_file is set.")
            .check_file(sdk::FileCheck::private_file),
        integer_field("pool_size")
            .describe("Connections in the pool (group writers + results + queries + probe).")
            .range(1, 256)
            .fallback(json::value(4)),
        integer_field("connect_timeout_ms")
            .describe("libpq connect timeout (ms; whole seconds, at least 2 s).")
            .range(100, 600000)
            .fallback(json::value(3000)),
        integer_field("acquire_timeout_ms")
            .describe("Wait for a free pooled connection before failing a call (ms).")
            .range(1, 600000)
            .fallback(json::value(2000)),
        integer_field("statement_timeout_ms")
            .describe("Server-side statement_timeout of each session (ms).")
            .range(100, 3600000)
            .fallback(json::value(15000)),
        string_field("write_mode")
            .describe("How a group is written: multirow (one INSERT … SELECT FROM unnest of "
                      "arrays) or copy (COPY into a temp staging table, then INSERT … "
                      "SELECT … ON CONFLICT).")
            .choices({"multirow", "copy"})
            .fallback(json::value("multirow")),
        integer_field("ingest_queue_points")
            .describe("Bound of the ingest queue in points; when full, batches are refused "
                      "(no ack: the gateways keep them spooled).")
            .range(1000, 100000000)
            .fallback(json::value(200000)),
        integer_field("group_max_points")
            .describe("Most points written in one group transaction.")
            .range(1, 10000000)
            .fallback(json::value(20000)),
        integer_field("result_queue")
            .describe("Bound of the result queue (results waiting for their group upsert); "
                      "when full, results are refused (no ack: the agent resends).")
            .range(1, 10000000)
            .fallback(json::value(10000)),
        integer_field("writers")
            .describe("Group transactions running at once (each holds a pool thread and a "
                      "connection while it writes).")
            .range(1, 64)
            .fallback(json::value(2)),
        integer_field("max_retries")
            .describe("Retries of a group after a deadlock (40P01) or serialization "
                      "failure (40001).")
            .range(0, 100)
            .fallback(json::value(5)),
        integer_field("health_interval_ms")
            .describe("How often the latency probe runs on the blocking pool (ms).")
            .range(100, 3600000)
            .fallback(json::value(2000)),
        number_field("latency_warn_ms")
            .describe("Probe latency above which the health check reports warn (ms).")
            .range(0, 600000)
            .fallback(json::value(100.0)),
        number_field("queue_warn_ratio")
            .describe("Ingest queue fill ratio above which its health check warns.")
            .range(0, 1)
            .fallback(json::value(0.8)),
        integer_field("start_timeout_ms")
            .describe("Upper bound for connecting and migrating at start (ms).")
            .range(100, 3600000)
            .fallback(json::value(30000)),
        integer_field("max_query_limit")
            .describe("Most points one query returns; larger limits are cut.")
            .range(1, 100000)
            .fallback(json::value(1000)),
    };
}

void validate_config(const json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const bool url = !get_string(config, "url", "").empty();
    const bool file = !get_string(config, "url_file", "").empty();
    if (url == file) {
        errors.push_back({path, url ? "set only one of url and url_file"
                                    : "one of url or url_file is required"});
    }
}

sdk::Result<std::string> read_url_file(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    while (in && line.empty()) {
        std::getline(in, line);
        const auto b = line.find_first_not_of(" \t\r");
        const auto e = line.find_last_not_of(" \t\r");
        line = b == std::string::npos ? std::string() : line.substr(b, e - b + 1);
    }
    if (line.empty()) {
        return sdk::Status(sdk::Errc::invalid_argument,
                           "url_file " + path + ": unreadable or holds no URL");
    }
    return line;
}

TelemetryPgConfig parse_config(const json::object& c) {
    using std::chrono::milliseconds;
    TelemetryPgConfig t;
    t.pool.url = get_string(c, "url", "");
    t.url_file = get_string(c, "url_file", "");
    t.pool.max_connections = static_cast<std::size_t>(get_int(c, "pool_size", 4));
    t.pool.connect_timeout = milliseconds(get_int(c, "connect_timeout_ms", 3000));
    t.pool.acquire_timeout = milliseconds(get_int(c, "acquire_timeout_ms", 2000));
    t.pool.statement_timeout = milliseconds(get_int(c, "statement_timeout_ms", 15000));
    t.pool.application_name = "agenthost-telemetry";
    t.write_mode =
        get_string(c, "write_mode", "multirow") == "copy" ? WriteMode::copy : WriteMode::multirow;
    t.ingest.max_queue_points = static_cast<std::size_t>(get_int(c, "ingest_queue_points", 200000));
    t.ingest.max_group_points = static_cast<std::size_t>(get_int(c, "group_max_points", 20000));
    t.ingest.workers = static_cast<unsigned>(std::max<std::int64_t>(1, get_int(c, "writers", 2)));
    // One result writer at a time (BatchQueue): group commit absorbs the load, and the
    // pool keeps connections for the point writers, get_result, queries and the probe.
    t.results.max_queued = static_cast<std::size_t>(get_int(c, "result_queue", 10000));
    t.max_retries = static_cast<unsigned>(get_int(c, "max_retries", 5));
    t.health_interval = milliseconds(get_int(c, "health_interval_ms", 2000));
    t.latency_warn_ms = get_number(c, "latency_warn_ms", 100.0);
    t.queue_warn_ratio = get_number(c, "queue_warn_ratio", 0.8);
    t.start_timeout = milliseconds(get_int(c, "start_timeout_ms", 30000));
    t.max_query_limit =
        static_cast<std::size_t>(std::max<std::int64_t>(1, get_int(c, "max_query_limit", 1000)));
    return t;
}

sdk::Result<std::unique_ptr<sdk::Plugin>> create(sdk::PluginContext& ctx,
                                                 const json::object& config) {
    TelemetryPgConfig typed = parse_config(config);
    if (!typed.url_file.empty()) {
        auto url = read_url_file(typed.url_file);
        if (!url) {
            return url.status();
        }
        typed.pool.url = std::move(url).value();
    }
    if (typed.pool.url.empty()) {
        return sdk::Status(sdk::Errc::invalid_argument,
                           "telemetry_postgres: one of url or url_file is required");
    }
    return std::unique_ptr<sdk::Plugin>(new TelemetryPostgresPlugin(ctx, std::move(typed)));
}

}  // namespace agenthost::telemetry_postgres
