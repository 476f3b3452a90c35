#include "plugins/audit_file/audit_config.hpp"

namespace agenthost::plugins::audit_file {

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
    };
}

AuditConfig parse_config(const sdk::json::object& config) {
    AuditConfig c;
    if (const auto* v = config.if_contains("path"); v && v->is_string()) {
        c.path = std::string(v->get_string());
    }
    if (const auto* v = config.if_contains("fsync"); v && v->is_string()) {
        const auto s = v->get_string();
        c.fsync = s == "always"  ? FsyncPolicy::always
                  : s == "never" ? FsyncPolicy::never
                                 : FsyncPolicy::interval;
    }
    if (const auto* v = config.if_contains("fsync_interval_ms"); v && v->is_int64()) {
        c.fsync_interval_ms = v->get_int64();
    }
    return c;
}

}  // namespace agenthost::plugins::audit_file
