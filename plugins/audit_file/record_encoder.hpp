#pragma once
// RecordEncoder: the one place an audit record becomes a line of the log.
//
//   {"seq":N,"ts":"2026-11-27T08:00:00.000Z","actor":..,"action":..,"target":..,
//    "outcome":..,"details":{..},"prev":"<64 hex>","mac":"<64 hex>"}\n
//
// The chain rule (prev/mac) is kernel/crypto/audit_chain.hpp, shared with
// `agenthost audit verify`. JSON encoding escapes control characters, so no field can
// forge a line break. Details members whose names look secret (token, key, secret,
// password, ...) are replaced by "[redacted]" at any depth. Stateless: the writer
// owns the chain head and commits it only once a line is on disk.

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

struct EncodedLine {
    std::string line;  // newline-terminated
    std::string mac;   // the new chain head
};

class RecordEncoder {
public:
    // One record sealed under `key` (empty: the public unkeyed key), linked to `prev`.
    static EncodedLine encode(const AuditRecord& record, std::string_view key,
                              std::string_view prev);
    // One checkpoint line for the chain head `head` at `seq`.
    static std::string checkpoint(std::uint64_t seq, std::int64_t ts_ms, std::string_view head,
                                  std::string_view key);

    // True when a member of this name must never be written in clear.
    static bool is_secret_name(std::string_view name);
    // Copy of `details` with secret-looking members redacted, recursively.
    static sdk::json::value redact(const sdk::json::value& details);
};

}  // namespace agenthost::plugins::audit_file
