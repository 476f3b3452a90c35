#include "plugins/audit_file/audit_config.hpp"

#include "kernel/crypto/keyring.hpp"

namespace agenthost::plugins::audit_file {

namespace {

std::int64_t int_or(const sdk::json::object& config, const char* key, std::int64_t fallback) {
    const auto* v = config.if_contains(key);
    return v && v->is_int64() ? v->get_int64() : fallback;
}

std::string string_or(const sdk::json::object& config, const char* key) {
    const auto* v = config.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

const char* to_string(FsyncPolicy p) noexcept {
    switch (p) {
        case FsyncPolicy::always:
            return "always";
        case FsyncPolicy::interval:
            return "interval";
        case FsyncPolicy::never:
            return "never";
    }
    return "interval";
}

sdk::Schema config_schema() {
    const AuditConfig d;
    return {
        sdk::string_field("path")
            .describe("Audit log file (JSON lines, created 0600); empty: <state_dir>/audit.log")
            .fallback(""),
        sdk::string_field("fsync")
            .describe("When records are fsynced: always, interval or never")
            .choices({"always", "interval", "never"})
            .fallback(to_string(d.fsync)),
        sdk::integer_field("fsync_interval_ms")
            .describe("Longest time a written record waits for fsync (fsync: interval)")
            .range(10, 60000)
            .fallback(d.fsync_interval_ms),
        sdk::string_field("key_file")
            .describe("HMAC-SHA256 chain key: base64 of >= 32 bytes, mode 0600 "
                      "(required when audit.fail_closed is true)")
            .check_file(sdk::FileCheck::private_file)
            .fallback(""),
        sdk::string_field("checkpoint_path")
            .describe("Second sink for checkpoints (seq + chain head); empty: <path>.checkpoints")
            .fallback(""),
        sdk::bool_field("checkpoint_syslog")
            .describe("Also send each checkpoint to syslog (facility authpriv)")
            .fallback(d.checkpoint_syslog),
        sdk::integer_field("checkpoint_every")
            .describe("Records between two checkpoints")
            .range(1, 1000000)
            .fallback(d.checkpoint_every),
        sdk::integer_field("checkpoint_interval_ms")
            .describe("Longest time between two checkpoints while records are written")
            .range(100, 3600000)
            .fallback(d.checkpoint_interval_ms),
        sdk::integer_field("max_bytes")
            .describe("Rotate the log before it exceeds this size (bytes); 0: never")
            .range(0, std::int64_t{1} << 40)
            .fallback(d.max_bytes),
        sdk::integer_field("max_queue")
            .describe("Records waiting to be written; more are refused (fail-closed refuses)")
            .range(1, 10000000)
            .fallback(d.max_queue),
        sdk::integer_field("write_timeout_ms")
            .describe("A write or queue wait longer than this makes the sink not writable")
            .range(10, 600000)
            .fallback(d.write_timeout_ms),
        sdk::integer_field("probe_interval_ms")
            .describe("After a failure, how often a probe write tries to recover")
            .range(10, 600000)
            .fallback(d.probe_interval_ms),
    };
}

AuditConfig parse_config(const sdk::json::object& config) {
    AuditConfig c;
    c.path = string_or(config, "path");
    if (const auto* v = config.if_contains("fsync"); v && v->is_string()) {
        const auto s = v->get_string();
        c.fsync = s == "always"  ? FsyncPolicy::always
                  : s == "never" ? FsyncPolicy::never
                                 : FsyncPolicy::interval;
    }
    c.fsync_interval_ms = int_or(config, "fsync_interval_ms", c.fsync_interval_ms);
    c.key_file = string_or(config, "key_file");
    c.checkpoint_path = string_or(config, "checkpoint_path");
    if (const auto* v = config.if_contains("checkpoint_syslog"); v && v->is_bool()) {
        c.checkpoint_syslog = v->get_bool();
    }
    c.checkpoint_every = int_or(config, "checkpoint_every", c.checkpoint_every);
    c.checkpoint_interval_ms = int_or(config, "checkpoint_interval_ms", c.checkpoint_interval_ms);
    c.max_bytes = int_or(config, "max_bytes", c.max_bytes);
    c.max_queue = int_or(config, "max_queue", c.max_queue);
    c.write_timeout_ms = int_or(config, "write_timeout_ms", c.write_timeout_ms);
    c.probe_interval_ms = int_or(config, "probe_interval_ms", c.probe_interval_ms);
    return c;
}

void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors) {
    const std::string key_file = string_or(config, "key_file");
    if (!key_file.empty()) {
        // The schema already checked the file (exists, 0600); the key must be strong.
        auto key = crypto::read_key_file(key_file, 32);
        if (!key.ok()) {
            errors.push_back({path + ".key_file", "audit key: " + key.status().message()});
        }
    }
    const auto max_bytes = int_or(config, "max_bytes", 0);
    if (max_bytes != 0 && max_bytes < 4096) {
        errors.push_back({path + ".max_bytes", "must be 0 (never rotate) or at least 4096"});
    }
}

}  // namespace agenthost::plugins::audit_file
