#pragma once
// HMAC key material (PROTOCOL.md §2): master keys by kid, and the per-agent key
// K = HKDF-SHA256(IKM = master[kid], salt = "agenthost.v1", info = agent_id, L = 32).
// A gateway holds only its own derived key; the backend holds master keys and
// derives (and caches) per-agent keys. Thread-safe for concurrent readers.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <agenthost/status.hpp>

namespace agenthost::crypto {

// HKDF-SHA256 as above; returns 32 raw bytes.
std::string derive_agent_key(std::string_view master_key, std::string_view agent_id);
// HMAC-SHA256, raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);
// The same into a caller's 32-byte buffer (the frame path: no allocation). Throws
// std::runtime_error when OpenSSL fails, as hmac_sha256() does.
void hmac_sha256_into(std::string_view key, std::string_view data, unsigned char (&out)[32]);
// Constant-time equality of two byte strings (length leak only).
bool equal_ct(std::string_view a, std::string_view b) noexcept;
// Reads a key file: one line of standard base64 (whitespace around ignored) of at
// least `min_bytes` bytes.
sdk::Result<std::string> read_key_file(const std::string& path, std::size_t min_bytes = 32);

class Keyring {
public:
    // Backend form: master keys by kid.
    static Keyring from_masters(std::map<std::string, std::string> masters);
    // Gateway form: one derived key for one agent under one kid.
    static Keyring from_agent_key(std::string kid, std::string agent_id, std::string key);

    bool knows(std::string_view kid) const;
    // The per-agent key for (kid, agent); nullopt when the kid is unknown or (gateway
    // form) the agent is not the one the key was derived for.
    std::optional<std::string> agent_key(std::string_view kid, std::string_view agent) const;

private:
    std::map<std::string, std::string, std::less<>> masters_;
    std::map<std::string, std::pair<std::string, std::string>, std::less<>>
        fixed_;  // kid → (agent, key)
    mutable std::shared_ptr<std::mutex> cache_mu_ = std::make_shared<std::mutex>();
    mutable std::shared_ptr<std::unordered_map<std::string, std::string>> cache_ =
        std::make_shared<std::unordered_map<std::string, std::string>>();
};

}  // namespace agenthost::crypto
