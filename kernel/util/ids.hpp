#pragma once
// Random identifiers: UUID v4 strings and nonces, from OpenSSL's CSPRNG.

#include <cstddef>
#include <string>
#include <string_view>

namespace agenthost::util {

std::string uuid_v4();                       // "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
bool is_uuid(std::string_view s) noexcept;   // any version, lower or upper case hex
std::string random_bytes(std::size_t n);
std::string nonce();                          // 16 random bytes, base64url (22 chars)

}  // namespace agenthost::util
