#include "plugins/audit_file/record_encoder.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <boost/json/serialize.hpp>

#include "kernel/crypto/audit_chain.hpp"
#include "kernel/util/time.hpp"

namespace agenthost::plugins::audit_file {

namespace chain = crypto::audit_chain;

bool RecordEncoder::is_secret_name(std::string_view name) {
    // Substrings, case-insensitive: over-redacting ("idempotency_key") is the safe error.
    static constexpr std::array<std::string_view, 9> markers = {
        "token",         "key",        "secret", "password", "passwd",
        "authorization", "credential", "cookie", "private"};
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return std::any_of(markers.begin(), markers.end(),
                       [&](std::string_view m) { return lower.find(m) != std::string::npos; });
}

sdk::json::value RecordEncoder::redact(const sdk::json::value& v) {
    if (const auto* obj = v.if_object()) {
        sdk::json::object out;
        for (const auto& [k, member] : *obj) {
            if (is_secret_name(k)) {
                out[k] = "[redacted]";
            } else {
                out[k] = redact(member);
            }
        }
        return out;
    }
    if (const auto* arr = v.if_array()) {
        sdk::json::array out;
        for (const auto& item : *arr) {
            out.push_back(redact(item));
        }
        return out;
    }
    return v;
}

EncodedLine RecordEncoder::encode(const AuditRecord& r, std::string_view key,
                                  std::string_view prev) {
    // Members in the fixed order of audit_chain.hpp; boost::json keeps insertion order.
    sdk::json::object line;
    line["seq"] = r.seq;
    line["ts"] = util::rfc3339_ms(r.ts_ms);
    line["actor"] = r.event.actor;
    line["action"] = r.event.action;
    line["target"] = r.event.target;
    line["outcome"] = r.event.outcome;
    line["details"] = redact(sdk::json::value(r.event.details));
    line["prev"] = prev;
    const std::string body = sdk::json::serialize(line);
    EncodedLine out;
    out.line = chain::seal(key, chain::LineKind::record, body);
    // The line ends in `"<mac>"}\n`.
    out.mac = out.line.substr(out.line.size() - 3 - chain::mac_hex_chars, chain::mac_hex_chars);
    return out;
}

std::string RecordEncoder::checkpoint(std::uint64_t seq, std::int64_t ts_ms, std::string_view head,
                                      std::string_view key) {
    sdk::json::object line;
    line["seq"] = seq;
    line["ts"] = util::rfc3339_ms(ts_ms);
    line["head"] = head;
    return chain::seal(key, chain::LineKind::checkpoint, sdk::json::serialize(line));
}

}  // namespace agenthost::plugins::audit_file
