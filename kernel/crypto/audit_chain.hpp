#pragma once
// The audit trail's keyed hash chain: the one definition shared by the writer
// (plugins/audit_file) and the verifier (`agenthost audit verify`).
//
// A record is one JSON line whose members appear in this order:
//   {"seq":N,"ts":"...","actor":"...","action":"...","target":"...","outcome":"...",
//    "details":{...},"prev":"<64 hex>","mac":"<64 hex>"}
// `body` is the line without its `,"mac":"..."` member (so it ends in `"prev":"..."}`);
//   mac  = hex(HMAC-SHA256(key, "agenthost.audit.record.v1\n" + body))
//   prev = the mac of the record before it (across rotated files), or 64 zeros for the
//          first record of a chain (genesis).
// A checkpoint line (the second sink) is
//   {"seq":N,"ts":"...","file":"audit.log","head":"<mac of record N>","mac":"<64 hex>"}
// with mac = hex(HMAC-SHA256(key, "agenthost.audit.checkpoint.v1\n" + body)); the
// distinct prefixes keep a record MAC from ever passing as a checkpoint MAC.
// The MAC covers the exact bytes written, so verification never re-serialises JSON.
//
// Without a configured key the chain uses `unkeyed_key` (public): it still detects
// accidental damage, but anyone can recompute it. Production runs keyed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agenthost::crypto::audit_chain {

inline constexpr std::string_view genesis =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::string_view unkeyed_key = "agenthost.audit.unkeyed";
inline constexpr std::size_t mac_hex_chars = 64;

enum class LineKind { record, checkpoint };

// hex MAC of `body` (a serialised JSON object, ending in '}').
std::string mac_of(std::string_view key, LineKind kind, std::string_view body);

// `body` + the mac member, newline-terminated.
std::string seal(std::string_view key, LineKind kind, const std::string& body);

struct Opened {
    std::string body;  // the line without the mac member
    std::string mac;   // the claimed mac (64 hex)
};
// Splits a line (without its newline) into body and mac; nullopt when the line does
// not end in a well-formed `,"mac":"<64 hex>"}`.
std::optional<Opened> open(std::string_view line);

// True when `line` ends in a mac that matches its body under `key`.
bool verify_line(std::string_view key, LineKind kind, std::string_view line);

}  // namespace agenthost::crypto::audit_chain
