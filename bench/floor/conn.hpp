// One echo connection and its set-up: socket options, the TLS context, the blocking
// handshake over memory BIOs (see echo_floor.cpp).
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>

#include "bench/floor/options.hpp"

namespace echo_floor {

std::string errno_text(const std::string& what);
std::string ssl_errors();  // drains OpenSSL's error queue into one line

using SslCtx = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

// Mutual TLS 1.3 with o.cert / o.key, peers verified against o.ca. Throws on bad files.
SslCtx make_tls_context(const Options& o);

// One connection. In TLS mode the SSL object works on memory BIOs and the loop does the
// socket I/O itself: a read shorter than the buffer then proves the socket drained, so
// edge-triggered epoll needs no extra read ending in EAGAIN, exactly as in plain mode.
struct Conn {
    int fd = -1;
    SSL* ssl = nullptr;
    BIO* rbio = nullptr;  // owned by ssl: ciphertext read from the socket
    BIO* wbio = nullptr;  // owned by ssl: ciphertext for the socket
    std::string out;      // bytes not yet accepted by the socket
    std::size_t out_sent = 0;
    std::size_t reply_got = 0;  // client: bytes of the current echo received

    explicit Conn(int f) : fd(f) {}
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn();  // frees ssl (and its BIOs), closes fd
};

// TCP_NODELAY, and a receive timeout that bounds the blocking handshake.
void set_socket_options(int fd);
// Runs the handshake on the still-blocking socket through the memory BIOs. Bytes that
// arrive with the peer's last flight stay in rbio for the loop's first SSL_read.
void tls_handshake(SSL_CTX* ctx, Conn& c, const Options& o);
void set_nonblocking(int fd);

}  // namespace echo_floor
