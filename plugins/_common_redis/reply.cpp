// Redis values: reply helpers, redis:// URL parsing, script SHA-1.
#include "plugins/_common_redis/reply.hpp"

#include <openssl/evp.h>

#include <charconv>

#include "kernel/util/encoding.hpp"

namespace agenthost::redis {

namespace {

const Reply& nil_reply() {
    static const Reply nil;
    return nil;
}

const std::string& empty_string() {
    static const std::string empty;
    return empty;
}

// %XX decoding for the user-info part of a URL (passwords may hold '@' or ':').
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) {
            return std::nullopt;
        }
        unsigned v = 0;
        auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
        if (r.ec != std::errc() || r.ptr != s.data() + i + 3) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(v));
        i += 2;
    }
    return out;
}

}  // namespace

std::optional<long long> Reply::as_integer() const noexcept {
    if (type == Type::integer) {
        return integer;
    }
    if (type == Type::string || type == Type::status) {
        long long v = 0;
        auto r = std::from_chars(str.data(), str.data() + str.size(), v);
        if (r.ec == std::errc() && r.ptr == str.data() + str.size() && !str.empty()) {
            return v;
        }
    }
    return std::nullopt;
}

const std::string& Reply::text() const noexcept {
    return (type == Type::string || type == Type::status || type == Type::error) ? str
                                                                                 : empty_string();
}

const Reply& Reply::at(std::size_t i) const noexcept {
    return (type == Type::array && i < elements.size()) ? elements[i] : nil_reply();
}

std::string Reply::debug() const {
    switch (type) {
        case Type::nil: return "(nil)";
        case Type::string: return "\"" + str + "\"";
        case Type::status: return str;
        case Type::error: return "(error) " + str;
        case Type::integer: return std::to_string(integer);
        case Type::array: {
            std::string out = "[";
            for (std::size_t i = 0; i < elements.size(); ++i) {
                out += (i ? ", " : "") + elements[i].debug();
            }
            return out + "]";
        }
    }
    return "?";
}

sdk::Status reply_status(const Reply& r) {
    if (r.is_error()) {
        return sdk::error(sdk::Errc::internal, "redis: " + r.str);
    }
    return {};
}

std::string Endpoint::display() const {
    return host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

sdk::Result<Endpoint> parse_url(std::string_view url) {
    using sdk::Errc;
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, 8) == "rediss:/") {
        return sdk::error(Errc::invalid_argument, "rediss:// (TLS) is not supported by hiredis 0.14");
    }
    if (url.substr(0, scheme.size()) != scheme) {
        return sdk::error(Errc::invalid_argument, "redis URL must start with redis://");
    }
    std::string_view rest = url.substr(scheme.size());
    Endpoint ep;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view info = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = info.find(':');
        auto user = percent_decode(info.substr(0, colon));
        auto pass = colon == std::string_view::npos ? std::optional<std::string>("")
                                                    : percent_decode(info.substr(colon + 1));
        if (!user || !pass) {
            return sdk::error(Errc::invalid_argument, "redis URL: bad %-escape in credentials");
        }
        if (colon == std::string_view::npos) {
            // redis://secret@host: a lone user-info is the password (as redis-cli reads it).
            ep.password = *user;
        } else {
            ep.username = *user;
            ep.password = *pass;
        }
    }
    std::string_view hostport = rest.substr(0, rest.find('/'));
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view db = rest.substr(slash + 1);
        if (!db.empty()) {
            auto r = std::from_chars(db.data(), db.data() + db.size(), ep.db);
            if (r.ec != std::errc() || r.ptr != db.data() + db.size() || ep.db < 0 ||
                ep.db > 15) {
                return sdk::error(Errc::invalid_argument, "redis URL: db must be 0-15");
            }
        }
    }
    if (!hostport.empty() && hostport.front() == '[') {
        auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            return sdk::error(Errc::invalid_argument, "redis URL: unterminated [IPv6] host");
        }
        ep.host = std::string(hostport.substr(1, close - 1));
        hostport = hostport.substr(close + 1);
        if (!hostport.empty() && hostport.front() != ':') {
            return sdk::error(Errc::invalid_argument, "redis URL: junk after [IPv6] host");
        }
    } else {
        auto colon = hostport.find(':');
        ep.host = std::string(hostport.substr(0, colon));
        hostport = colon == std::string_view::npos ? std::string_view() : hostport.substr(colon);
    }
    if (!hostport.empty()) {
        std::string_view port = hostport.substr(1);
        unsigned v = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), v);
        if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || v == 0 ||
            v > 65535) {
            return sdk::error(Errc::invalid_argument, "redis URL: port must be 1-65535");
        }
        ep.port = static_cast<std::uint16_t>(v);
    }
    if (ep.host.empty()) {
        return sdk::error(Errc::invalid_argument, "redis URL: host is empty");
    }
    return ep;
}

Script::Script(std::string source) : source_(std::move(source)) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(source_.data(), source_.size(), md, &len, EVP_sha1(), nullptr);
    sha1_ = util::hex_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace agenthost::redis
