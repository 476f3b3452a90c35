#pragma once
// Mints per-agent client certificates in-process (ECDSA P-256 keys, X.509 signed by a
// given CA with SHA-256), thousands per second, so a 10,000-agent fleet needs no
// openssl CLI per agent. The certificate carries CN = agent_id and the URI SAN
// urn:agenthost:agent:<id>, like deploy/pki/dev-pki.sh writes them.

#include <memory>
#include <string>

#include <agenthost/status.hpp>

typedef struct x509_st X509;             // NOLINT(modernize-use-using)
typedef struct evp_pkey_st EVP_PKEY;     // NOLINT(modernize-use-using)

namespace agenthost::agentsim {

struct X509Free {
    void operator()(X509* x) const noexcept;
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const noexcept;
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A minted credential; shared by the connections of one agent.
struct AgentCredential {
    X509Ptr cert;
    PkeyPtr key;
};

class CertMinter {
public:
    // Loads the CA certificate and key (PEM). `shared_key`: every agent gets the
    // same EC key (minting then costs one signature).
    static sdk::Result<std::unique_ptr<CertMinter>> load(const std::string& ca_cert,
                                                         const std::string& ca_key,
                                                         bool shared_key);
    ~CertMinter();

    // Thread-safe. Fails only when OpenSSL does.
    sdk::Result<std::shared_ptr<AgentCredential>> mint(const std::string& agent_id) const;

private:
    CertMinter() = default;
    X509Ptr ca_cert_;
    PkeyPtr ca_key_;
    PkeyPtr shared_;  // set with shared_key
};

// A fresh P-256 key.
PkeyPtr generate_p256();

}  // namespace agenthost::agentsim
