#pragma once
// Certificate helpers (PROTOCOL.md §1): SPKI pins ("sha256/" + padded base64 of
// SHA-256 over the DER SubjectPublicKeyInfo, as HPKP and OkHttp write it), the
// certificate fingerprint reported in net::PeerInfo, and the agent identity a
// client certificate carries (subject CN, or one `urn:agenthost:agent:<id>` URI SAN).

#include <optional>
#include <string>
#include <string_view>

#include <agenthost/status.hpp>

// Forward declaration keeps OpenSSL headers out of the includers.
typedef struct x509_st X509;  // NOLINT(modernize-use-using)

namespace agenthost::crypto {

// ^[a-z0-9][a-z0-9._-]{0,62}$ without std::regex.
bool valid_agent_id(std::string_view id) noexcept;

// Pin of the key in a PEM file holding a certificate, a public key or an
// (unencrypted) private key; the error message names the file and what was wrong.
sdk::Result<std::string> spki_pin_from_file(const std::string& path);
// Pin of the certificate's public key ("" only if OpenSSL cannot encode it).
std::string spki_pin_of_cert(X509* cert);
// Lower-case hex SHA-256 over the certificate DER ("" on encoding failure).
std::string cert_fingerprint_sha256(X509* cert);

// The agent_id a client certificate proves. `binding` is "cn" (exactly one subject
// CN) or "uri_san" (exactly one URI SAN with the urn:agenthost:agent: prefix); the
// id must be a valid_agent_id. nullopt otherwise (→ 403 before the upgrade).
std::optional<std::string> agent_identity(X509* cert, std::string_view binding);

}  // namespace agenthost::crypto
