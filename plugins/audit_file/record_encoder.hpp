#pragma once
// RecordEncoder: the one place an audit record becomes a line of the log.
//
//   {"seq":N,"ts":"2026-11-27T08:00:00.000Z","actor":..,"action":..,"target":..,
//    "outcome":..,"details":{..}}\n
//
// JSON encoding escapes control characters, so no field can forge a line break.
// Details members whose names look secret (token, key, secret, password, ...) are
// replaced by "[redacted]" at any depth.
// It is called in seq order by the single writer, so a later keyed HMAC chain
// (each line carrying a MAC over the previous MAC and this line) belongs here:
// the encoder is stateful for that reason. Not thread-safe (the writer serialises).

#include <cstdint>
#include <string>
#include <string_view>

#include <agenthost/audit.hpp>
#include <agenthost/json.hpp>

namespace agenthost::plugins::audit_file {

struct AuditRecord {
    std::uint64_t seq = 0;
    std::int64_t ts_ms = 0;
    sdk::AuditEvent event;
};

class RecordEncoder {
public:
    // One line, newline-terminated.
    std::string encode(const AuditRecord& record);

    // True when a member of this name must never be written in clear.
    static bool is_secret_name(std::string_view name);
    // Copy of `details` with secret-looking members redacted, recursively.
    static sdk::json::value redact(const sdk::json::value& details);
};

}  // namespace agenthost::plugins::audit_file
