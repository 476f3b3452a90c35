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
    never,     // leave it to the OS (flush(), checkpoints and rotation still fsync)
};

struct AuditConfig {
    std::string path;  // empty: <state_dir>/audit.log
    FsyncPolicy fsync = FsyncPolicy::interval;
    std::int64_t fsync_interval_ms = 1000;
    // HMAC-SHA256 chain key (base64, >= 32 bytes, mode 0600). Empty: unkeyed chain
    // (detects damage, not deliberate edits); refused by the kernel with fail_closed.
    std::string key_file;
    std::string checkpoint_path;                 // empty: <path>.checkpoints
    bool checkpoint_syslog = false;              // also send checkpoints to syslog (LOG_AUTHPRIV)
    std::int64_t checkpoint_every = 1000;        // records between checkpoints
    std::int64_t checkpoint_interval_ms = 5000;  // longest time between checkpoints
    std::int64_t max_bytes = 64LL << 20;         // rotate before exceeding; 0: never
    std::int64_t max_queue = 10000;              // records waiting; more are refused
    std::int64_t write_timeout_ms = 2000;        // a write slower than this: not writable
    std::int64_t probe_interval_ms = 1000;       // retry period after a failure
};

sdk::Schema config_schema();
// `config` has passed the schema; missing keys fall back to the defaults.
AuditConfig parse_config(const sdk::json::object& config);
// Cross-field checks (descriptor `validate`): the key file decodes to >= 32 bytes.
void validate_config(const sdk::json::object& config, const std::string& path,
                     sdk::ConfigErrors& errors);
const char* to_string(FsyncPolicy p) noexcept;

}  // namespace agenthost::plugins::audit_file
