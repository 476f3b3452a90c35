#pragma once
// Time formatting for the operator API: RFC 3339 UTC with milliseconds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agenthost::util {

std::int64_t now_unix_ms() noexcept;
std::string rfc3339_ms(std::int64_t unix_ms);  // 2026-11-27T08:00:00.000Z
// Accepts RFC 3339 with 'Z' or a numeric offset, optional fraction.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

}  // namespace agenthost::util
