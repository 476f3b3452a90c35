// See fd_tls_stream.hpp. The non-template half: the SSL object on the descriptor, one
// non-blocking step per operation and the mapping of OpenSSL's results to the error
// codes Asio's ssl::stream reports (so Beast and the callers see the same ones).
#include "kernel/net/fd_tls_stream.hpp"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace agenthost::net::detail {

namespace asio = boost::asio;
using Step = FdTlsStream::Step;
using Want = FdTlsStream::Want;

namespace {

// OpenSSL's socket BIO writes with write(2): a peer that reset the connection would
// raise SIGPIPE in any process that does not ignore it (test binaries, embedders). Same
// BIO, but writes go through send(MSG_NOSIGNAL), as Asio's own sockets do.
int send_nosignal(BIO* bio, const char* data, int len) {
    int fd = -1;
    BIO_get_fd(bio, &fd);
    errno = 0;
    const ssize_t n = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    BIO_clear_retry_flags(bio);
    if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n)) != 0) {
        BIO_set_retry_write(bio);
    }
    return static_cast<int>(n);
}

BIO_METHOD* socket_method() {
    static BIO_METHOD* const method = [] {
        const BIO_METHOD* base = BIO_s_socket();
        BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "agenthost socket");
        if (m == nullptr) {
            return m;
        }
        BIO_meth_set_write(m, send_nosignal);
        BIO_meth_set_read(m, BIO_meth_get_read(base));
        BIO_meth_set_puts(m, BIO_meth_get_puts(base));
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
        BIO_meth_set_create(m, BIO_meth_get_create(base));
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
        return m;
    }();
    return method;
}

// The result of an SSL_* call that did not succeed (`saved_errno` read right after it).
Step failed(SSL* ssl, int ret, int saved_errno) {
    Step st;
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        st.want = Want::read;
        break;
    case SSL_ERROR_WANT_WRITE:
        st.want = Want::write;
        break;
    case SSL_ERROR_ZERO_RETURN:
        st.ec = asio::error::eof;  // the peer's close_notify: a clean end
        break;
    case SSL_ERROR_SYSCALL: {
        const unsigned long e = ERR_get_error();
        if (e != 0) {
            st.ec = {static_cast<int>(e), asio::error::get_ssl_category()};
        } else if (saved_errno == 0) {
            st.ec = asio::ssl::error::stream_truncated;  // TCP EOF, no close_notify
        } else {
            st.ec = {saved_errno, boost::system::system_category()};
        }
        break;
    }
    case SSL_ERROR_SSL: {
        const unsigned long e = ERR_get_error();
        if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            st.ec = asio::ssl::error::stream_truncated;
        } else {
            st.ec = {static_cast<int>(e), asio::error::get_ssl_category()};
        }
        break;
    }
    default:
        st.ec = asio::ssl::error::unexpected_result;
        break;
    }
    // The error queue is per thread: leave nothing behind for another connection.
    ERR_clear_error();
    return st;
}

void throw_ssl_error(const char* what) {
    boost::system::error_code ec(static_cast<int>(ERR_get_error()),
                                 asio::error::get_ssl_category());
    asio::detail::throw_error(ec, what);
}

}  // namespace

FdTlsStream::FdTlsStream(socket_type socket, asio::ssl::context& ctx)
    : socket_(std::move(socket)), ssl_(SSL_new(ctx.native_handle())) {
    if (ssl_ == nullptr) {
        throw_ssl_error("SSL_new");
    }
    // Moving: a write retried after WANT_WRITE may be gathered into another thread's
    // scratch block (same bytes, other address). Partial: one record per SSL_write.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // One read(2) per record instead of two (header, then body); wait_before_read()
    // relies on it to know when the socket is empty.
    SSL_set_read_ahead(ssl_, 1);
    attach();
}

FdTlsStream::FdTlsStream(const executor_type& executor, asio::ssl::context& ctx)
    : FdTlsStream(socket_type(executor), ctx) {}

FdTlsStream::~FdTlsStream() {
    SSL_free(ssl_);  // the BIO does not own the descriptor: the socket closes it
}

void FdTlsStream::attach() {
    if (!socket_.is_open() || SSL_get_fd(ssl_) == socket_.native_handle()) {
        return;
    }
    error_code ignored;
    socket_.non_blocking(true, ignored);
    BIO* bio = BIO_new(socket_method());
    if (bio == nullptr) {
        throw_ssl_error("BIO_new");
    }
    BIO_set_fd(bio, socket_.native_handle(), BIO_NOCLOSE);
    SSL_set_bio(ssl_, bio, bio);
}

unsigned char* FdTlsStream::scratch() {
    // Per loop thread, allocated on first use (not in every thread's TLS block).
    thread_local std::unique_ptr<unsigned char[]> block;
    if (!block) {
        block = std::make_unique<unsigned char[]>(kMaxRecord);
    }
    return block.get();
}

bool FdTlsStream::wait_before_read() const noexcept {
    return read_drained_ && SSL_has_pending(ssl_) == 0;
}

Step FdTlsStream::read_step(void* data, std::size_t size) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    const int ret = SSL_read_ex(ssl_, data, size, &n);
    const int saved = errno;
    if (ret == 1) {
        // With read-ahead OpenSSL asked the socket for a whole buffer: a short record
        // with nothing left buffered means the socket had no more.
        read_drained_ = n < size && SSL_has_pending(ssl_) == 0;
        return {Want::nothing, {}, n};
    }
    read_drained_ = false;
    return failed(ssl_, ret, saved);
}

Step FdTlsStream::write_step(const void* data, std::size_t size) {
    ERR_clear_error();
    errno = 0;
    std::size_t n = 0;
    const int ret = SSL_write_ex(ssl_, data, size, &n);
    const int saved = errno;
    if (ret == 1) {
        return {Want::nothing, {}, n};
    }
    return failed(ssl_, ret, saved);
}

Step FdTlsStream::handshake_step(handshake_type type) {
    if (SSL_in_before(ssl_) != 0) {
        if (type == asio::ssl::stream_base::client) {
            SSL_set_connect_state(ssl_);
        } else {
            SSL_set_accept_state(ssl_);
        }
    }
    ERR_clear_error();
    errno = 0;
    const int ret = SSL_do_handshake(ssl_);
    const int saved = errno;
    if (ret == 1) {
        return {};
    }
    return failed(ssl_, ret, saved);
}

Step FdTlsStream::shutdown_step() {
    if ((SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) == 0 || SSL_want_write(ssl_) != 0) {
        ERR_clear_error();
        errno = 0;
        const int ret = SSL_shutdown(ssl_);
        const int saved = errno;
        if (ret == 1) {
            return {};  // both close_notify alerts exchanged
        }
        if (ret < 0) {
            return failed(ssl_, ret, saved);
        }
    }
    // Ours is out; read (and drop) whatever precedes the peer's close_notify.
    for (;;) {
        if ((SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0) {
            return {};
        }
        unsigned char discard[2048];
        Step st = read_step(discard, sizeof(discard));
        if (st.want != Want::nothing) {
            return st;
        }
        if (st.ec == asio::error::eof) {
            return {};  // the close_notify
        }
        if (st.ec == asio::ssl::error::stream_truncated) {
            st.ec = asio::error::eof;  // TCP closed without it, as Asio reports
            return st;
        }
        if (st.ec) {
            return st;
        }
    }
}

void teardown(boost::beast::role_type, FdTlsStream& stream, boost::system::error_code& ec) {
    ec = {};
    if (!stream.socket().is_open()) {
        return;
    }
    ERR_clear_error();
    SSL_shutdown(stream.native_handle());
    ERR_clear_error();
    stream.socket().close(ec);
}

}  // namespace agenthost::net::detail
