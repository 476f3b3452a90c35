#include "tools/agentsim/certs.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>

namespace agenthost::agentsim {

void X509Free::operator()(X509* x) const noexcept {
    X509_free(x);
}
void PkeyFree::operator()(EVP_PKEY* k) const noexcept {
    EVP_PKEY_free(k);
}

namespace {

sdk::Status fail(const std::string& what) {
    return sdk::error(sdk::Errc::invalid_argument, what);
}

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) {
        return false;
    }
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

}  // namespace

PkeyPtr generate_p256() {
    return PkeyPtr(EVP_EC_gen("P-256"));
}

CertMinter::~CertMinter() = default;

sdk::Result<std::unique_ptr<CertMinter>> CertMinter::load(const std::string& ca_cert,
                                                          const std::string& ca_key,
                                                          bool shared_key) {
    std::unique_ptr<CertMinter> m(new CertMinter());
    if (FILE* f = std::fopen(ca_cert.c_str(), "r")) {
        m->ca_cert_.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
        std::fclose(f);
    }
    if (!m->ca_cert_) {
        return fail("cannot read a PEM certificate from '" + ca_cert + "'");
    }
    if (FILE* f = std::fopen(ca_key.c_str(), "r")) {
        m->ca_key_.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
        std::fclose(f);
    }
    if (!m->ca_key_) {
        return fail("cannot read an unencrypted PEM private key from '" + ca_key + "'");
    }
    if (X509_check_private_key(m->ca_cert_.get(), m->ca_key_.get()) != 1) {
        return fail("CA key '" + ca_key + "' does not match certificate '" + ca_cert + "'");
    }
    if (shared_key) {
        m->shared_ = generate_p256();
        if (!m->shared_) {
            return fail("cannot generate a P-256 key");
        }
    }
    return m;
}

sdk::Result<std::shared_ptr<AgentCredential>> CertMinter::mint(const std::string& agent_id) const {
    auto cred = std::make_shared<AgentCredential>();
    if (shared_) {
        EVP_PKEY_up_ref(shared_.get());
        cred->key.reset(shared_.get());
    } else {
        cred->key = generate_p256();
    }
    cred->cert.reset(X509_new());
    if (!cred->key || !cred->cert) {
        return sdk::error(sdk::Errc::internal, "out of memory minting a certificate");
    }
    X509* x = cred->cert.get();
    X509_set_version(x, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7f;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    // Valid from an hour ago (clock skew between hosts) for 30 days.
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(agent_id.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(x, X509_get_subject_name(ca_cert_.get()));
    X509_set_pubkey(x, cred->key.get());
    const std::string san = "URI:urn:agenthost:agent:" + agent_id;
    bool ok = add_ext(x, ca_cert_.get(), NID_basic_constraints, "critical,CA:FALSE") &&
              add_ext(x, ca_cert_.get(), NID_key_usage, "critical,digitalSignature") &&
              add_ext(x, ca_cert_.get(), NID_ext_key_usage, "clientAuth") &&
              add_ext(x, ca_cert_.get(), NID_subject_alt_name, san.c_str());
    if (!ok || X509_sign(x, ca_key_.get(), EVP_sha256()) == 0) {
        return sdk::error(sdk::Errc::internal, "cannot sign the certificate for " + agent_id);
    }
    return cred;
}

}  // namespace agenthost::agentsim
