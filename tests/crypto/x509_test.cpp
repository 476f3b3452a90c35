#include "kernel/crypto/x509.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "kernel/util/encoding.hpp"

namespace fs = std::filesystem;
using namespace agenthost;

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

Pkey make_key() {
    return Pkey(EVP_EC_gen("P-256"));
}

// Self-signed certificate with the given subject CNs and URI SANs.
Cert make_cert(EVP_PKEY* key, const std::vector<std::string>& cns,
               const std::vector<std::string>& uris = {}) {
    Cert cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("agenthost"), -1, -1, 0);
    for (const auto& cn : cns) {
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()),
                                   static_cast<int>(cn.size()), -1, 0);
    }
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key);
    if (!uris.empty()) {
        std::string san;
        for (const auto& u : uris) {
            san += (san.empty() ? "URI:" : ",URI:") + u;
        }
        san += ",DNS:gw.example";
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
        EXPECT_NE(ext, nullptr);
        X509_add_ext(cert.get(), ext, -1);
        X509_EXTENSION_free(ext);
    }
    EXPECT_GT(X509_sign(cert.get(), key, EVP_sha256()), 0);
    return cert;
}

class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/ah-x509-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        path_ = ::mkdtemp(buf.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    fs::path path_;
};

template <typename Writer>
void write_pem(const std::string& path, Writer w) {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(w(f), 1);
    std::fclose(f);
}

}  // namespace

TEST(ValidAgentId, Pattern) {
    EXPECT_TRUE(crypto::valid_agent_id("gw-01"));
    EXPECT_TRUE(crypto::valid_agent_id("0"));
    EXPECT_TRUE(crypto::valid_agent_id("a.b_c-d"));
    EXPECT_TRUE(crypto::valid_agent_id(std::string(63, 'a')));
    EXPECT_FALSE(crypto::valid_agent_id(std::string(64, 'a')));
    EXPECT_FALSE(crypto::valid_agent_id(""));
    EXPECT_FALSE(crypto::valid_agent_id("-gw"));
    EXPECT_FALSE(crypto::valid_agent_id(".gw"));
    EXPECT_FALSE(crypto::valid_agent_id("Gw-01"));
    EXPECT_FALSE(crypto::valid_agent_id("gw 01"));
    EXPECT_FALSE(crypto::valid_agent_id("gw/01"));
    EXPECT_FALSE(crypto::valid_agent_id(std::string("gw\0x", 4)));
}

TEST(SpkiPin, CertKeyAndPublicKeyAgree) {
    TempDir dir;
    Pkey key = make_key();
    ASSERT_TRUE(key);
    Cert cert = make_cert(key.get(), {"gw-01"});
    write_pem(dir.file("cert.pem"), [&](FILE* f) { return PEM_write_X509(f, cert.get()); });
    write_pem(dir.file("key.pem"), [&](FILE* f) {
        return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    write_pem(dir.file("pub.pem"), [&](FILE* f) { return PEM_write_PUBKEY(f, key.get()); });

    auto from_cert = crypto::spki_pin_from_file(dir.file("cert.pem"));
    auto from_key = crypto::spki_pin_from_file(dir.file("key.pem"));
    auto from_pub = crypto::spki_pin_from_file(dir.file("pub.pem"));
    ASSERT_TRUE(from_cert.ok()) << from_cert.status().message();
    ASSERT_TRUE(from_key.ok()) << from_key.status().message();
    ASSERT_TRUE(from_pub.ok()) << from_pub.status().message();
    EXPECT_EQ(*from_cert, *from_key);
    EXPECT_EQ(*from_cert, *from_pub);
    EXPECT_EQ(*from_cert, crypto::spki_pin_of_cert(cert.get()));

    // Independently: sha256/ + base64(SHA-256(DER SPKI)), 44 base64 chars with padding.
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key.get(), &der);
    ASSERT_GT(len, 0);
    std::string expected =
        "sha256/" + util::base64_encode(util::sha256(std::string_view(
                        reinterpret_cast<const char*>(der), static_cast<std::size_t>(len))));
    OPENSSL_free(der);
    EXPECT_EQ(*from_cert, expected);
    EXPECT_EQ(from_cert->size(), 7u + 44u);
    EXPECT_EQ(from_cert->back(), '=');

    // A different key has a different pin.
    Pkey other = make_key();
    Cert other_cert = make_cert(other.get(), {"gw-01"});
    EXPECT_NE(crypto::spki_pin_of_cert(other_cert.get()), *from_cert);
}

TEST(SpkiPin, ClearErrors) {
    TempDir dir;
    std::ofstream(dir.file("junk.pem")) << "not a pem\n";
    auto junk = crypto::spki_pin_from_file(dir.file("junk.pem"));
    ASSERT_FALSE(junk.ok());
    EXPECT_EQ(junk.status().code(), sdk::Errc::invalid_argument);
    EXPECT_NE(junk.status().message().find("junk.pem"), std::string::npos);
    auto missing = crypto::spki_pin_from_file(dir.file("missing.pem"));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code(), sdk::Errc::not_found);
}

TEST(Fingerprint, Sha256OfDer) {
    Pkey key = make_key();
    Cert cert = make_cert(key.get(), {"gw-01"});
    unsigned char md[32];
    unsigned int n = 0;
    ASSERT_EQ(X509_digest(cert.get(), EVP_sha256(), md, &n), 1);
    std::string fp = crypto::cert_fingerprint_sha256(cert.get());
    EXPECT_EQ(fp, util::hex_encode(std::string_view(reinterpret_cast<char*>(md), n)));
    EXPECT_EQ(fp.size(), 64u);
}

TEST(AgentIdentity, CommonName) {
    Pkey key = make_key();
    EXPECT_EQ(crypto::agent_identity(make_cert(key.get(), {"gw-01"}).get(), "cn"), "gw-01");
    EXPECT_FALSE(crypto::agent_identity(make_cert(key.get(), {"GW-01"}).get(), "cn"));
    EXPECT_FALSE(crypto::agent_identity(make_cert(key.get(), {}).get(), "cn"));
    EXPECT_FALSE(crypto::agent_identity(make_cert(key.get(), {"gw-01", "gw-02"}).get(), "cn"));
    EXPECT_FALSE(crypto::agent_identity(make_cert(key.get(), {"gw-01"}).get(), "dns"));
    EXPECT_FALSE(crypto::agent_identity(nullptr, "cn"));
}

TEST(AgentIdentity, UriSan) {
    Pkey key = make_key();
    auto id = [&](const std::vector<std::string>& uris) {
        return crypto::agent_identity(make_cert(key.get(), {"ignored-cn"}, uris).get(), "uri_san");
    };
    EXPECT_EQ(id({"urn:agenthost:agent:gw-07"}), "gw-07");
    // Foreign URI SANs are ignored.
    EXPECT_EQ(id({"spiffe://example.org/gw", "urn:agenthost:agent:gw-07"}), "gw-07");
    EXPECT_FALSE(id({}));
    EXPECT_FALSE(id({"spiffe://example.org/gw"}));
    EXPECT_FALSE(id({"urn:agenthost:agent:gw-07", "urn:agenthost:agent:gw-08"}));
    EXPECT_FALSE(id({"urn:agenthost:agent:Bad_Id"}));
    EXPECT_FALSE(id({"urn:agenthost:agent:"}));
    // With uri_san, the CN does not count.
    EXPECT_FALSE(crypto::agent_identity(make_cert(key.get(), {"gw-01"}).get(), "uri_san"));
}
