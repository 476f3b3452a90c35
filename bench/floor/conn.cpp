#include "bench/floor/conn.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace echo_floor {

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

std::string ssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += out.empty() ? "" : "; ";
        out += buf;
    }
    return out.empty() ? "no OpenSSL error queued" : out;
}

SslCtx make_tls_context(const Options& o) {
    SslCtx ctx(SSL_CTX_new(o.server ? TLS_server_method() : TLS_client_method()), &SSL_CTX_free);
    if (!ctx) {
        throw std::runtime_error("SSL_CTX_new: " + ssl_errors());
    }
    auto check = [](int ok, const std::string& what) {
        if (ok != 1) {
            throw std::runtime_error(what + ": " + ssl_errors());
        }
    };
    check(SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION), "TLS 1.3 only");
    check(SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert.c_str()),
          "cannot load certificate " + o.cert);
    check(SSL_CTX_use_PrivateKey_file(ctx.get(), o.key.c_str(), SSL_FILETYPE_PEM),
          "cannot load key " + o.key);
    check(SSL_CTX_check_private_key(ctx.get()), o.key + " does not match " + o.cert);
    check(SSL_CTX_load_verify_locations(ctx.get(), o.ca.c_str(), nullptr),
          "cannot load CA " + o.ca);
    // Both ends verify: the server requires a client certificate (mutual TLS).
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Nothing is resumed; tickets would only be stray bytes after the handshake.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    check(SSL_CTX_set_num_tickets(ctx.get(), 0), "no session tickets");
    return ctx;
}

Conn::~Conn() {
    SSL_free(ssl);
    ::close(fd);
}

void set_socket_options(int fd) {
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        throw std::runtime_error(errno_text("TCP_NODELAY"));
    }
    // Bounds the blocking handshake; the socket is non-blocking afterwards.
    timeval tv{10, 0};
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        throw std::runtime_error(errno_text("SO_RCVTIMEO"));
    }
}

namespace {

void send_all_blocking(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            throw std::runtime_error(errno_text("send"));
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

}  // namespace

void tls_handshake(SSL_CTX* ctx, Conn& c, const Options& o) {
    c.ssl = SSL_new(ctx);
    c.rbio = BIO_new(BIO_s_mem());
    c.wbio = BIO_new(BIO_s_mem());
    if (c.ssl == nullptr || c.rbio == nullptr || c.wbio == nullptr) {
        BIO_free(c.rbio);
        BIO_free(c.wbio);
        throw std::runtime_error("SSL_new: " + ssl_errors());
    }
    BIO_set_mem_eof_return(c.rbio, -1);  // empty means "want more", not end of stream
    SSL_set_bio(c.ssl, c.rbio, c.wbio);
    if (o.server) {
        SSL_set_accept_state(c.ssl);
    } else {
        SSL_set_connect_state(c.ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), o.host.c_str()) != 1) {
            throw std::runtime_error("--host " + o.host + " is not an IPv4 address");
        }
    }
    for (;;) {
        int r = SSL_do_handshake(c.ssl);
        std::vector<char> flight(BIO_ctrl_pending(c.wbio));
        if (!flight.empty()) {
            BIO_read(c.wbio, flight.data(), static_cast<int>(flight.size()));
            send_all_blocking(c.fd, flight.data(), flight.size());
        }
        if (r == 1) {
            return;
        }
        if (SSL_get_error(c.ssl, r) != SSL_ERROR_WANT_READ) {
            long v = SSL_get_verify_result(c.ssl);
            throw std::runtime_error("TLS handshake: " + ssl_errors() +
                                     (v != X509_V_OK ? std::string(" (") +
                                                           X509_verify_cert_error_string(v) + ")"
                                                     : std::string()));
        }
        char buf[4096];
        ssize_t n = ::read(c.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            throw std::runtime_error(n == 0 ? std::string("peer closed during the TLS handshake")
                                            : errno_text("read during the TLS handshake"));
        }
        BIO_write(c.rbio, buf, static_cast<int>(n));
    }
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        throw std::runtime_error(errno_text("O_NONBLOCK"));
    }
}

}  // namespace echo_floor
