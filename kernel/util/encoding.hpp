#pragma once
// Encodings used on the wire and in storage: base64 (standard, padded), base64url
// (unpadded, canonical), hex, and SHA-256.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agenthost::util {

std::string base64_encode(std::string_view bytes);
// Standard alphabet, padding required; surrounding whitespace is NOT accepted.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);
// Unpadded and canonical (trailing bits zero); anything else is nullopt.
std::optional<std::string> base64url_decode(std::string_view text);
std::string hex_encode(std::string_view bytes);
std::string sha256(std::string_view bytes);      // raw 32 bytes
std::string sha256_hex(std::string_view bytes);  // lower-case hex

}  // namespace agenthost::util
