#pragma once
// audit_file's configuration: the schema the kernel validates, and the typed struct
// the writer runs with. Defaults live here once, for both.

#include <cstdint>
#include <string>

#include <agenthost/config_schema.hpp>
#include <agenthost/json.hpp>

namespace agenthost::plugins::audit_file {

enum class FsyncPolicy {
    always,    // fsync before reporting a record durable
    interval,  // fsync at most every fsync_interval_ms (default)
    never,     // leave it to the OS (flush() still fsyncs)
};

struct AuditConfig {
    std::string path;  // empty: <state_dir>/audit.log
    FsyncPolicy fsync = FsyncPolicy::interval;
    std::int64_t fsync_interval_ms = 1000;
};

sdk::Schema config_schema();
// `config` has passed the schema; missing keys fall back to the defaults.
AuditConfig parse_config(const sdk::json::object& config);
const char* to_string(FsyncPolicy p) noexcept;

}  // namespace agenthost::plugins::audit_file
