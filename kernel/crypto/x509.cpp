#include "kernel/crypto/x509.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "kernel/util/encoding.hpp"

namespace agenthost::crypto {
namespace {

constexpr std::string_view kUriPrefix = "urn:agenthost:agent:";

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct NamesFree {
    void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};

// Never prompt on a terminal for a passphrase: an encrypted key simply fails to load.
int no_password(char*, int, int, void*) {
    return 0;
}

std::string pin_of_der(const unsigned char* der, int len) {
    std::string_view v(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    return "sha256/" + util::base64_encode(util::sha256(v));
}

std::string pin_of_pkey(EVP_PKEY* key) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key, &der);
    if (len <= 0) {
        return {};
    }
    std::string pin = pin_of_der(der, len);
    OPENSSL_free(der);
    return pin;
}

std::unique_ptr<BIO, BioFree> open_file(const std::string& path) {
    return std::unique_ptr<BIO, BioFree>(BIO_new_file(path.c_str(), "r"));
}

// ASN.1 string → UTF-8, refusing embedded NULs (a classic CN spoofing trick).
std::optional<std::string> to_utf8(const ASN1_STRING* s) {
    unsigned char* out = nullptr;
    int len = ASN1_STRING_to_UTF8(&out, s);
    if (len < 0) {
        return std::nullopt;
    }
    std::string text(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    if (text.find('\0') != std::string::npos) {
        return std::nullopt;
    }
    return text;
}

std::optional<std::string> identity_from_cn(X509* cert) {
    X509_NAME* name = X509_get_subject_name(cert);
    if (name == nullptr) {
        return std::nullopt;
    }
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
        return std::nullopt;  // none, or ambiguous
    }
    X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, idx);
    auto cn = to_utf8(X509_NAME_ENTRY_get_data(entry));
    if (!cn || !valid_agent_id(*cn)) {
        return std::nullopt;
    }
    return cn;
}

std::optional<std::string> identity_from_uri_san(X509* cert) {
    std::unique_ptr<GENERAL_NAMES, NamesFree> names(static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) {
        return std::nullopt;
    }
    std::optional<std::string> found;
    int matches = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        if (gn->type != GEN_URI) {
            continue;
        }
        auto uri = to_utf8(gn->d.uniformResourceIdentifier);
        if (!uri || uri->compare(0, kUriPrefix.size(), kUriPrefix) != 0) {
            continue;  // other URI SANs (e.g. SPIFFE) are not ours to judge
        }
        ++matches;
        found = uri->substr(kUriPrefix.size());
    }
    if (matches != 1 || !valid_agent_id(*found)) {
        return std::nullopt;
    }
    return found;
}

}  // namespace

bool valid_agent_id(std::string_view id) noexcept {
    if (id.empty() || id.size() > 63) {
        return false;
    }
    auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower_or_digit(id[0])) {
        return false;
    }
    for (char c : id.substr(1)) {
        if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') {
            return false;
        }
    }
    return true;
}

sdk::Result<std::string> spki_pin_from_file(const std::string& path) {
    auto bio = open_file(path);
    if (!bio) {
        return sdk::error(sdk::Errc::not_found, "cannot open '" + path + "'");
    }
    // Try each PEM kind in turn from the start of the file.
    if (std::unique_ptr<X509, X509Free> cert(
            PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
        cert) {
        std::string pin = spki_pin_of_cert(cert.get());
        if (pin.empty()) {
            return sdk::error(sdk::Errc::internal, "cannot encode the key of '" + path + "'");
        }
        return pin;
    }
    ERR_clear_error();  // a failed PEM attempt leaves errors that would mislead TLS code
    bio = open_file(path);
    if (std::unique_ptr<EVP_PKEY, PkeyFree> key(
            PEM_read_bio_PUBKEY(bio.get(), nullptr, no_password, nullptr));
        key) {
        return pin_of_pkey(key.get());
    }
    ERR_clear_error();  // a failed PEM attempt leaves errors that would mislead TLS code
    bio = open_file(path);
    if (std::unique_ptr<EVP_PKEY, PkeyFree> key(
            PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
        key) {
        return pin_of_pkey(key.get());
    }
    ERR_clear_error();
    return sdk::error(
        sdk::Errc::invalid_argument,
        "'" + path + "' holds no PEM certificate, public key or unencrypted private key");
}

std::string spki_pin_of_cert(X509* cert) {
    if (cert == nullptr) {
        return {};
    }
    // The SPKI exactly as encoded in the certificate.
    unsigned char* der = nullptr;
    int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (len <= 0) {
        return {};
    }
    std::string pin = pin_of_der(der, len);
    OPENSSL_free(der);
    return pin;
}

std::string cert_fingerprint_sha256(X509* cert) {
    if (cert == nullptr) {
        return {};
    }
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0) {
        return {};
    }
    std::string fp = util::sha256_hex(
        std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len)));
    OPENSSL_free(der);
    return fp;
}

std::optional<std::string> agent_identity(X509* cert, std::string_view binding) {
    if (cert == nullptr) {
        return std::nullopt;
    }
    if (binding == "cn") {
        return identity_from_cn(cert);
    }
    if (binding == "uri_san") {
        return identity_from_uri_san(cert);
    }
    return std::nullopt;
}

}  // namespace agenthost::crypto
