// Hand-rolled matchers for the patterns of PROTOCOL.md §8 (std::regex is far too slow
// for the per-frame path) and the message type table of §4.
#include "kernel/proto/messages.hpp"

namespace agenthost::proto {
namespace {

bool alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

bool known_type(std::string_view t, bool from_agent) noexcept {
    if (from_agent) {
        return t == type::hello || t == type::ack || t == type::result || t == type::telemetry;
    }
    return t == type::welcome || t == type::command || t == type::result_ack ||
           t == type::telemetry_ack || t == type::error;
}

bool valid_metric_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 128) {
        return false;
    }
    if (!alpha(s[0]) && s[0] != '_' && s[0] != ':') {
        return false;
    }
    for (char c : s.substr(1)) {
        if (!alpha(c) && !digit(c) && c != '_' && c != ':' && c != '.') {
            return false;
        }
    }
    return true;
}

bool valid_label_name(std::string_view s) noexcept {
    if (s.empty() || s.size() > 64) {
        return false;
    }
    if (!alpha(s[0]) && s[0] != '_') {
        return false;
    }
    for (char c : s.substr(1)) {
        if (!alpha(c) && !digit(c) && c != '_') {
            return false;
        }
    }
    return true;
}

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    const std::size_t n = s.size();
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto cont = [&](std::size_t k) { return k < n && (byte(k) & 0xC0) == 0x80; };
    while (i < n) {
        unsigned char c = byte(i);
        if (c < 0x80) {
            ++i;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (!cont(i + 1)) {
                return false;
            }
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (!cont(i + 1) || !cont(i + 2)) {
                return false;
            }
            unsigned char c1 = byte(i + 1);
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) {
                return false;  // overlong, or a UTF-16 surrogate
            }
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) {
                return false;
            }
            unsigned char c1 = byte(i + 1);
            if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) {
                return false;  // overlong, or beyond U+10FFFF
            }
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace agenthost::proto
