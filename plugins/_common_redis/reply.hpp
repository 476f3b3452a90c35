#pragma once
// Redis values without hiredis or Asio: the typed reply, the parsed redis:// URL and
// a Lua script with its SHA-1 (for EVALSHA). Shared by queue_redis and replay_redis.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/status.hpp>

namespace agenthost::redis {

// One RESP2 reply, owned (converted from hiredis' redisReply on the client strand).
struct Reply {
    enum class Type { nil, string, integer, array, status, error };
    Type type = Type::nil;
    std::string str;  // string, status and error text
    long long integer = 0;
    std::vector<Reply> elements;

    bool is_nil() const noexcept { return type == Type::nil; }
    bool is_error() const noexcept { return type == Type::error; }
    bool is_array() const noexcept { return type == Type::array; }
    bool is_string() const noexcept { return type == Type::string || type == Type::status; }
    // The integer, or a string holding a decimal integer (Lua numbers arrive as both).
    std::optional<long long> as_integer() const noexcept;
    // Text of a string/status reply; empty for anything else.
    const std::string& text() const noexcept;
    // Element `i` of an array, or a shared nil reply when out of range / not an array.
    const Reply& at(std::size_t i) const noexcept;
    std::size_t size() const noexcept { return elements.size(); }
    // Human-readable rendering for logs and test failures.
    std::string debug() const;
};

// The Status of an error reply (Errc::internal with the server's text), ok otherwise.
sdk::Status reply_status(const Reply& r);

// redis://[[user]:password@]host[:port][/db]   (TLS, rediss://, is refused here).
struct Endpoint {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    int db = 0;
    std::string username;
    std::string password;  // secret: never logged

    // host:port/db without credentials, for logs.
    std::string display() const;
};
sdk::Result<Endpoint> parse_url(std::string_view url);

// A Lua script run with EVALSHA (falling back to EVAL once on NOSCRIPT).
class Script {
public:
    explicit Script(std::string source);
    const std::string& source() const noexcept { return source_; }
    const std::string& sha1() const noexcept { return sha1_; }

private:
    std::string source_;
    std::string sha1_;  // lowercase hex
};

}  // namespace agenthost::redis
