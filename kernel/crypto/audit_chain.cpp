// The audit chain's MAC rule (see audit_chain.hpp); no JSON parsing here on purpose.
#include "kernel/crypto/audit_chain.hpp"

#include <algorithm>

#include "kernel/crypto/keyring.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::crypto::audit_chain {

namespace {

constexpr std::string_view record_domain = "agenthost.audit.record.v1\n";
constexpr std::string_view checkpoint_domain = "agenthost.audit.checkpoint.v1\n";
constexpr std::string_view mac_open = ",\"mac\":\"";
constexpr std::string_view mac_close = "\"}";

bool is_lower_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string mac_of(std::string_view key, LineKind kind, std::string_view body) {
    std::string data(kind == LineKind::record ? record_domain : checkpoint_domain);
    data.append(body);
    return util::hex_encode(hmac_sha256(key.empty() ? unkeyed_key : key, data));
}

std::string seal(std::string_view key, LineKind kind, const std::string& body) {
    const std::string mac = mac_of(key, kind, body);
    std::string line = body.substr(0, body.empty() ? 0 : body.size() - 1);  // drop '}'
    line.append(mac_open);
    line.append(mac);
    line.append(mac_close);
    line.push_back('\n');
    return line;
}

std::optional<Opened> open(std::string_view line) {
    const std::size_t tail = mac_open.size() + mac_hex_chars + mac_close.size();
    if (line.size() < tail + 2 || line.front() != '{') {
        return std::nullopt;
    }
    const std::string_view suffix = line.substr(line.size() - tail);
    if (suffix.substr(0, mac_open.size()) != mac_open ||
        suffix.substr(suffix.size() - mac_close.size()) != mac_close) {
        return std::nullopt;
    }
    const std::string_view mac = suffix.substr(mac_open.size(), mac_hex_chars);
    if (!is_lower_hex(mac)) {
        return std::nullopt;
    }
    Opened o;
    o.body = std::string(line.substr(0, line.size() - tail));
    o.body.push_back('}');
    o.mac = std::string(mac);
    return o;
}

bool verify_line(std::string_view key, LineKind kind, std::string_view line) {
    auto o = open(line);
    return o && equal_ct(mac_of(key, kind, o->body), o->mac);
}

}  // namespace agenthost::crypto::audit_chain
