// TLS context construction: file loading with errors that name the file, protocol
// floor, peer verification mode. Handshake-time checks (pins, identity) live with
// the streams in stream_util.cpp.
#include "kernel/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <ctime>

#include <boost/asio/ssl.hpp>

#include "kernel/crypto/x509.hpp"

namespace agenthost::net {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2 is allowed only with forward secrecy and an AEAD (PROTOCOL.md §1).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

sdk::Status fail(const std::string& what, const std::string& file,
                 const boost::system::error_code& ec) {
    return sdk::error(sdk::Errc::invalid_argument, what + " '" + file + "': " + ec.message());
}

boost::system::error_code last_ssl_error() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    return {static_cast<int>(code), boost::asio::error::get_ssl_category()};
}

sdk::Status set_floor(ssl::context& ctx, const std::string& min_version) {
    SSL_CTX* native = ctx.native_handle();
    if (min_version == "1.3") {
        SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
    } else if (min_version == "1.2") {
        SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
        if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
            return sdk::error(sdk::Errc::internal, "cannot set the TLS 1.2 cipher list");
        }
    } else {
        return sdk::error(sdk::Errc::invalid_argument,
                          "tls min_version must be \"1.3\" or \"1.2\", got '" + min_version + "'");
    }
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // An idle session holds no record buffers: OpenSSL frees its read and write
    // buffers (~17 KiB each) once they are empty and allocates them again for the next
    // record, as nginx does. With thousands of mostly idle agents that is most of the
    // per-connection memory; the cost is one allocation per record on a busy link.
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    return {};
}

sdk::Status load_identity(ssl::context& ctx, const std::string& cert, const std::string& key) {
    // OpenSSL's own loader, not Asio's: it keeps the file's intermediates as the leaf's
    // chain (Asio adds them as context-wide "extra" certificates), which freeze_chain()
    // below builds on.
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx.native_handle(), cert.c_str()) != 1) {
        return fail("cannot load certificate", cert, last_ssl_error());
    }
    boost::system::error_code ec;
    ctx.use_private_key_file(key, ssl::context::pem, ec);
    if (ec) {
        return fail("cannot load private key", key, ec);
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "private key '" + key + "' does not match certificate '" + cert + "'");
    }
    return {};
}

// Fixes the certificate chain sent to peers once, at load, instead of on every
// handshake. With no chain configured, OpenSSL builds one per handshake by verifying
// the context's own certificate against its trust store ("auto chain"): a full
// X509_verify_cert (an ECDSA verification, the store's lock, a few hundred
// allocations) in each handshake, and the self-signed root went on the wire too.
// Here the chain is built once from the file's intermediates and the trust store, the
// root is left out (the peer has it; RFC 8446 §4.4.2), and auto chain is switched off.
// A build that fails (the issuer is in neither) keeps what the file gave.
void freeze_chain(ssl::context& ctx) {
    SSL_CTX* native = ctx.native_handle();
    SSL_CTX_set_mode(native, SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_get0_certificate(native) == nullptr) {
        return;
    }
    STACK_OF(X509)* from_file = nullptr;
    SSL_CTX_get0_chain_certs(native, &from_file);
    STACK_OF(X509)* kept = from_file != nullptr ? X509_chain_up_ref(from_file) : nullptr;
    const int built = SSL_CTX_build_cert_chain(
        native, SSL_BUILD_CHAIN_FLAG_UNTRUSTED | SSL_BUILD_CHAIN_FLAG_NO_ROOT |
                    SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR | SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR);
    STACK_OF(X509)* now = nullptr;
    SSL_CTX_get0_chain_certs(native, &now);
    if (built <= 0 || sk_X509_num(now) < sk_X509_num(kept)) {
        SSL_CTX_set1_chain(native, kept);
    }
    sk_X509_pop_free(kept, X509_free);
    ERR_clear_error();
}

}  // namespace

struct TlsContext::Impl {
    explicit Impl(ssl::context::method method) : ctx(method) {}
    ssl::context ctx;
    std::vector<std::string> pins;
    bool server = false;
    std::int64_t not_after = 0;
    std::string leaf_pin;
};

namespace {

// Records the leaf's validity end and pin. `require_valid`: refuse a leaf outside its
// validity (a server starting or reloading onto an expired certificate would lock every
// agent out; a client's own certificate is judged by the server instead).
sdk::Status inspect_leaf(ssl::context& ctx, const std::string& cert_file, bool require_valid,
                         std::int64_t& not_after, std::string& pin) {
    X509* leaf = SSL_CTX_get0_certificate(ctx.native_handle());
    if (leaf == nullptr) {
        return {};
    }
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1) {
        not_after = static_cast<std::int64_t>(timegm(&tm));
    }
    pin = crypto::spki_pin_of_cert(leaf);
    if (!require_valid) {
        return {};
    }
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "certificate '" + cert_file + "' has expired");
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
        return sdk::error(sdk::Errc::invalid_argument,
                          "certificate '" + cert_file + "' is not valid yet");
    }
    return {};
}

}  // namespace

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

ssl::context& TlsContext::native() {
    return impl_->ctx;
}
const std::vector<std::string>& TlsContext::pins() const noexcept {
    return impl_->pins;
}
bool TlsContext::is_server() const noexcept {
    return impl_->server;
}
std::int64_t TlsContext::not_after_unix() const noexcept {
    return impl_->not_after;
}
const std::string& TlsContext::leaf_pin() const noexcept {
    return impl_->leaf_pin;
}

sdk::Result<std::shared_ptr<TlsContext>> TlsContext::make_server(const TlsServerOptions& o) {
    auto impl = std::make_unique<Impl>(ssl::context::tls_server);
    impl->server = true;
    auto& ctx = impl->ctx;
    if (auto st = set_floor(ctx, o.min_version); !st) {
        return st;
    }
    if (auto st = load_identity(ctx, o.cert_file, o.key_file); !st) {
        return st;
    }
    if (auto st = inspect_leaf(ctx, o.cert_file, true, impl->not_after, impl->leaf_pin); !st) {
        return st;
    }
    if (!o.client_ca_file.empty()) {
        boost::system::error_code ec;
        ctx.load_verify_file(o.client_ca_file, ec);
        if (ec) {
            return fail("cannot load client CA", o.client_ca_file, ec);
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
        if (names == nullptr) {
            return sdk::error(sdk::Errc::invalid_argument,
                              "no CA certificate in '" + o.client_ca_file + "'");
        }
        SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
        ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        // Resumed sessions keep the verified peer; the id context is required with it.
        static const unsigned char kSid[] = "agenthost";
        SSL_CTX_set_session_id_context(ctx.native_handle(), kSid, sizeof(kSid) - 1);
    } else {
        ctx.set_verify_mode(ssl::verify_none);
    }
    // No session resumption: gateways never resume (every connect is a full mutual-TLS
    // handshake that re-checks the client certificate), so the server-side cache held
    // one SSL_SESSION (peer certificate included) per connection for nothing, and the
    // two TLS 1.3 tickets sent after each handshake cost two encryptions
    // (docs/PERFORMANCE.md: memory per connection, handshake CPU).
    SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx.native_handle(), 0);
    SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_TICKET);
    freeze_chain(ctx);
    return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

sdk::Result<std::shared_ptr<TlsContext>> TlsContext::make_client(const TlsClientOptions& o) {
    auto impl = std::make_unique<Impl>(ssl::context::tls_client);
    auto& ctx = impl->ctx;
    if (auto st = set_floor(ctx, o.min_version); !st) {
        return st;
    }
    boost::system::error_code ec;
    ctx.load_verify_file(o.ca_file, ec);
    if (ec) {
        return fail("cannot load CA", o.ca_file, ec);
    }
    if (!o.cert_file.empty() || !o.key_file.empty()) {
        if (auto st = load_identity(ctx, o.cert_file, o.key_file); !st) {
            return st;
        }
        if (auto st = inspect_leaf(ctx, o.cert_file, false, impl->not_after, impl->leaf_pin); !st) {
            return st;
        }
    }
    for (const auto& pin : o.pins) {
        if (pin.rfind("sha256/", 0) != 0 || pin.size() != 7 + 44) {
            return sdk::error(sdk::Errc::invalid_argument,
                              "pin '" + pin + "' is not sha256/<44 base64 characters>");
        }
    }
    ctx.set_verify_mode(ssl::verify_peer);
    freeze_chain(ctx);
    impl->pins = o.pins;
    return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

}  // namespace agenthost::net
