// Which certificate chain a TlsContext sends, for every way an operator may lay out
// the files: a leaf signed by the root, a full chain in the certificate file, and a
// leaf whose intermediate is only in the trust file. The handshakes run in memory
// (two BIO pairs), so the test needs no sockets and checks exactly what went on the
// wire: the chain the peer received and whether it verified.
#include <gtest/gtest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "kernel/net/tls.hpp"

namespace agenthost::net {
namespace {

namespace fs = std::filesystem;

void run(const std::string& cmd) {
    if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {  // NOLINT(cert-env33-c)
        throw std::runtime_error("failed: " + cmd);
    }
}

// root → intermediate → {server, client}, and a server leaf signed by the root itself.
class ChainPki {
public:
    ChainPki() {
        char tmpl[] = "/tmp/ah-chain-XXXXXX";
        const char* base = ::mkdtemp(tmpl);
        if (base == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = base;
        const std::string ext = path("ext.cnf");
        std::ofstream(ext) << "[ca]\nbasicConstraints=critical,CA:true\n"
                              "keyUsage=critical,keyCertSign,cRLSign\n"
                              "[leaf]\nbasicConstraints=CA:false\n"
                              "subjectAltName=DNS:localhost\n";
        key("root");
        run("openssl req -x509 -new -key " + path("root.key") + " -subj /CN=chain-root -days 2" +
            " -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign" +
            " -out " + path("root.crt"));
        sign("inter", "root", "ca", ext);
        sign("server", "inter", "leaf", ext);
        sign("client", "inter", "leaf", ext);
        sign("direct", "root", "leaf", ext);
        cat({"server.crt", "inter.crt"}, "server-full.crt");
        cat({"client.crt", "inter.crt"}, "client-full.crt");
        cat({"root.crt", "inter.crt"}, "root-and-inter.crt");
    }
    ~ChainPki() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

private:
    void key(const std::string& name) {
        run("openssl ecparam -name prime256v1 -genkey -noout -out " + path(name + ".key"));
    }
    void sign(const std::string& name, const std::string& issuer, const std::string& section,
              const std::string& ext) {
        key(name);
        run("openssl req -new -key " + path(name + ".key") + " -subj /CN=" + name + " -out " +
            path(name + ".csr"));
        run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + path(issuer + ".crt") +
            " -CAkey " + path(issuer + ".key") + " -CAcreateserial -days 2 -extfile " + ext +
            " -extensions " + section + " -out " + path(name + ".crt"));
    }
    void cat(std::initializer_list<std::string> parts, const std::string& out) {
        std::ofstream o(path(out));
        for (const auto& p : parts) {
            o << std::ifstream(path(p)).rdbuf();
        }
    }
    std::string dir_;
};

const ChainPki& pki() {
    static ChainPki p;
    return p;
}

struct SslDeleter {
    void operator()(SSL* s) const { SSL_free(s); }
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using CtxPtr = std::unique_ptr<SSL_CTX, SslDeleter>;

// What one side saw of the other after an in-memory handshake.
struct Seen {
    bool handshake = false;
    int chain_length = 0;   // certificates the peer sent (leaf included)
    long verify = -1;       // X509_V_OK when the chain verified
    bool root_sent = false; // the self-signed root was among them
};

Seen inspect(SSL* ssl, bool handshake) {
    Seen s;
    s.handshake = handshake;
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); chain != nullptr) {
        // A server's view leaves the peer's own leaf out of this stack; a client's has it.
        s.chain_length = sk_X509_num(chain) + (SSL_is_server(ssl) != 0 ? 1 : 0);
        for (int i = 0; i < sk_X509_num(chain); ++i) {
            X509* c = sk_X509_value(chain, i);
            if (X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0) {
                s.root_sent = true;
            }
        }
    }
    s.verify = SSL_get_verify_result(ssl);
    return s;
}

// Runs a full handshake between `server_ctx` and `client_ctx` through memory BIOs.
// Returns what the client saw of the server and what the server saw of the client.
std::pair<Seen, Seen> handshake(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
    SslPtr server(SSL_new(server_ctx));
    SslPtr client(SSL_new(client_ctx));
    BIO* s_bio = nullptr;
    BIO* c_bio = nullptr;
    BIO_new_bio_pair(&s_bio, 0, &c_bio, 0);
    SSL_set_bio(server.get(), s_bio, s_bio);
    SSL_set_bio(client.get(), c_bio, c_bio);
    SSL_set_accept_state(server.get());
    SSL_set_connect_state(client.get());
    SSL_set_tlsext_host_name(client.get(), "localhost");
    bool s_done = false;
    bool c_done = false;
    for (int round = 0; round < 20 && !(s_done && c_done); ++round) {
        for (auto [ssl, done] : {std::pair{client.get(), &c_done}, {server.get(), &s_done}}) {
            if (*done) {
                continue;
            }
            const int r = SSL_do_handshake(ssl);
            if (r == 1) {
                *done = true;
            } else {
                const int e = SSL_get_error(ssl, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    ERR_clear_error();
                    return {inspect(client.get(), false), inspect(server.get(), false)};
                }
            }
        }
    }
    return {inspect(client.get(), s_done && c_done), inspect(server.get(), s_done && c_done)};
}

CtxPtr plain_client(const std::string& ca, const std::string& cert = "",
                    const std::string& key = "") {
    CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!cert.empty()) {
        SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str());
        SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM);
    }
    return ctx;
}

CtxPtr plain_server(const std::string& cert, const std::string& key,
                    const std::string& client_ca) {
    CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_load_verify_locations(ctx.get(), client_ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    return ctx;
}

std::shared_ptr<TlsContext> server(const std::string& cert, const std::string& key,
                                   const std::string& client_ca) {
    TlsServerOptions o;
    o.cert_file = pki().path(cert);
    o.key_file = pki().path(key);
    o.client_ca_file = pki().path(client_ca);
    auto r = TlsContext::make_server(o);
    if (!r) {
        throw std::runtime_error(r.status().message());
    }
    return *r;
}

// A handshake of our server context (certificate file, key, client-CA file) with a
// plain OpenSSL client trusting `client_trust` and presenting the full client chain.
std::pair<Seen, Seen> serve(const std::string& cert, const std::string& key,
                            const std::string& client_ca,
                            const std::string& client_trust = "root.crt") {
    auto ctx = server(cert, key, client_ca);
    auto client = plain_client(pki().path(client_trust), pki().path("client-full.crt"),
                               pki().path("client.key"));
    return handshake(ctx->native().native_handle(), client.get());
}

TEST(TlsChain, ALeafSignedByTheRootIsSentAloneWithoutTheRoot) {
    // The trust file (client CA) holds the root that signed the served leaf. OpenSSL's
    // per-handshake "auto chain" used to append that root to every Certificate message.
    auto [by_client, by_server] = serve("direct.crt", "direct.key", "root-and-inter.crt");
    ASSERT_TRUE(by_client.handshake);
    EXPECT_EQ(by_client.verify, X509_V_OK);
    EXPECT_EQ(by_client.chain_length, 1);
    EXPECT_FALSE(by_client.root_sent);
    EXPECT_EQ(by_server.verify, X509_V_OK);
}

TEST(TlsChain, AFullChainFileIsSentAsWritten) {
    auto [by_client, by_server] = serve("server-full.crt", "server.key", "root.crt");
    ASSERT_TRUE(by_client.handshake);
    EXPECT_EQ(by_client.verify, X509_V_OK);
    EXPECT_EQ(by_client.chain_length, 2);  // leaf + intermediate
    EXPECT_FALSE(by_client.root_sent);
    EXPECT_EQ(by_server.verify, X509_V_OK);
}

TEST(TlsChain, AnIntermediateOnlyInTheTrustFileIsStillSent) {
    // The leaf alone in the certificate file; its intermediate sits in the client-CA
    // file. The chain built at load carries it, so a client trusting only the root
    // still verifies the server.
    auto [by_client, by_server] = serve("server.crt", "server.key", "root-and-inter.crt");
    ASSERT_TRUE(by_client.handshake);
    EXPECT_EQ(by_client.verify, X509_V_OK);
    EXPECT_EQ(by_client.chain_length, 2);
    EXPECT_FALSE(by_client.root_sent);
}

TEST(TlsChain, AnIssuerFoundNowhereKeepsTheFileAsItIs) {
    // Neither file knows the intermediate: the build fails, the context still loads and
    // serves the leaf alone; a client that has the intermediate itself verifies it.
    auto [by_client, by_server] =
        serve("server.crt", "server.key", "root.crt", "root-and-inter.crt");
    ASSERT_TRUE(by_client.handshake);
    EXPECT_EQ(by_client.chain_length, 1);
    EXPECT_EQ(by_client.verify, X509_V_OK);
}

TEST(TlsChain, TheClientContextSendsItsChainWithoutTheRoot) {
    // The gateway side: its certificate file holds only the leaf, its trust file the
    // backend's root and the intermediate that issued the gateway's certificate.
    TlsClientOptions o;
    o.ca_file = pki().path("root-and-inter.crt");
    o.cert_file = pki().path("client.crt");
    o.key_file = pki().path("client.key");
    auto r = TlsContext::make_client(o);
    ASSERT_TRUE(r) << r.status().message();
    auto srv = plain_server(pki().path("server-full.crt"), pki().path("server.key"),
                            pki().path("root.crt"));
    auto [by_client, by_server] = handshake(srv.get(), (*r)->native().native_handle());
    ASSERT_TRUE(by_server.handshake);
    EXPECT_EQ(by_server.verify, X509_V_OK);
    EXPECT_EQ(by_server.chain_length, 2);  // client leaf + intermediate
    EXPECT_FALSE(by_server.root_sent);
    EXPECT_EQ(by_client.verify, X509_V_OK);
}

TEST(TlsChain, AMissingCertificateFileIsNamedInTheError) {
    TlsServerOptions o;
    o.cert_file = pki().path("absent.crt");
    o.key_file = pki().path("server.key");
    auto r = TlsContext::make_server(o);
    ASSERT_FALSE(r);
    EXPECT_NE(r.status().message().find("cannot load certificate"), std::string::npos);
    EXPECT_NE(r.status().message().find("absent.crt"), std::string::npos);
}

}  // namespace
}  // namespace agenthost::net
