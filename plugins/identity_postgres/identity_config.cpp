#include "plugins/identity_postgres/identity_config.hpp"

#include <fstream>

namespace agenthost::identity_postgres {

namespace json = sdk::json;
using sdk::Errc;
using sdk::Status;

namespace {

std::int64_t get_int(const json::object& o, std::string_view key, std::int64_t fallback) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_int64()) {
        return v->get_int64();
    }
    if (v->is_uint64()) {
        return static_cast<std::int64_t>(v->get_uint64());
    }
    if (v->is_double()) {
        return static_cast<std::int64_t>(v->get_double());
    }
    return fallback;
}

double get_number(const json::object& o, std::string_view key, double fallback) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) {
        return fallback;
    }
    if (v->is_double()) {
        return v->get_double();
    }
    return static_cast<double>(get_int(o, key, static_cast<std::int64_t>(fallback)));
}

std::string get_string(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return (v != nullptr && v->is_string()) ? std::string(v->get_string()) : std::string();
}

std::string trim(std::string s) {
    const char* ws = " \t\r\n";
    s.erase(0, s.find_first_not_of(ws));
    s.erase(s.find_last_not_of(ws) + 1);
    return s;
}

}  // namespace

sdk::Schema config_schema() {
    using sdk::FileCheck;
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
            .check_file(FileCheck::private_file),
        integer_field("pool_size")
            .describe("Connections this host keeps at most (each call borrows one).")
            .range(1, 64)
            .fallback(json::value(4)),
        integer_field("acquire_timeout_ms")
            .describe("How long a call waits for a free connection before failing (ms).")
            .range(1, 600000)
            .fallback(json::value(2000)),
        integer_field("connect_timeout_ms")
            .describe("Connect timeout (ms; libpq rounds up to whole seconds, minimum 2 s).")
            .range(1000, 600000)
            .fallback(json::value(3000)),
        integer_field("statement_timeout_ms")
            .describe("Server-side statement_timeout of every session (ms).")
            .range(100, 3600000)
            .fallback(json::value(5000)),
        integer_field("health_interval_ms")
            .describe("How often the latency probe runs on the blocking pool (ms).")
            .range(100, 3600000)
            .fallback(json::value(5000)),
        number_field("latency_warn_ms")
            .describe("Probe latency above which the health check reports warn (ms).")
            .range(0, 600000)
            .fallback(json::value(100.0)),
        integer_field("start_timeout_ms")
            .describe("Upper bound for connecting and migrating at start (ms); longer → "
                      "start fails.")
            .range(100, 3600000)
            .fallback(json::value(30000)),
        integer_field("renew_batch_max")
            .describe("Lease renewals queued at one moment that share one UPDATE statement "
                      "(one round trip, one commit); 1 renews each on its own.")
            .range(1, 10000)
            .fallback(json::value(256)),
        integer_field("renew_queue_max")
            .describe("Lease renewals that may wait for the writer; past it a renewal is "
                      "refused as unavailable (retried at the next heartbeat).")
            .range(1, 1000000)
            .fallback(json::value(16384)),
    };
}

void validate_config(const json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const bool url = !get_string(config, "url").empty();
    const bool file = !get_string(config, "url_file").empty();
    if (url == file) {
        errors.push_back({path, url ? "set only one of url and url_file"
                                    : "one of url or url_file is required"});
    }
}

sdk::Result<IdentityConfig> parse_config(const json::object& config) {
    IdentityConfig c;
    c.pool.url = get_string(config, "url");
    c.url_file = get_string(config, "url_file");
    if (!c.url_file.empty()) {
        std::ifstream in(c.url_file);
        std::string line;
        while (in && line.empty()) {
            std::getline(in, line);
            line = trim(line);
        }
        if (line.empty()) {
            return Status(Errc::invalid_argument,
                          "url_file " + c.url_file + ": unreadable or holds no URL");
        }
        c.pool.url = line;
    }
    if (c.pool.url.empty()) {
        return Status(Errc::invalid_argument, "one of url or url_file is required");
    }
    c.pool.max_connections = static_cast<std::size_t>(get_int(config, "pool_size", 4));
    c.pool.acquire_timeout = std::chrono::milliseconds(get_int(config, "acquire_timeout_ms", 2000));
    c.pool.connect_timeout = std::chrono::milliseconds(get_int(config, "connect_timeout_ms", 3000));
    c.pool.statement_timeout =
        std::chrono::milliseconds(get_int(config, "statement_timeout_ms", 5000));
    c.pool.application_name = "agenthost-identity";
    c.health_interval = std::chrono::milliseconds(get_int(config, "health_interval_ms", 5000));
    c.latency_warn_ms = get_number(config, "latency_warn_ms", 100.0);
    c.start_timeout = std::chrono::milliseconds(get_int(config, "start_timeout_ms", 30000));
    c.renew_batch_max = static_cast<std::size_t>(get_int(config, "renew_batch_max", 256));
    c.renew_queue_max = static_cast<std::size_t>(get_int(config, "renew_queue_max", 16384));
    return c;
}

}  // namespace agenthost::identity_postgres
