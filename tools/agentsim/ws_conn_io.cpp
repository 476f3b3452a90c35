// See ws_conn.hpp. The byte paths of a connection: the BIO between OpenSSL and our
// buffers, the TLS handshake and decryption steps, and writing.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/write.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>

#include "tools/agentsim/ws_conn.hpp"

namespace agenthost::agentsim {

using error_code = boost::system::error_code;

// ---- the BIO: OpenSSL reads tin_, writes to out_ --------------------------------------

BIO_METHOD* WsConn::bio_method() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "agentsim");
        BIO_meth_set_read(m, &WsConn::bio_read);
        BIO_meth_set_write(m, &WsConn::bio_write);
        BIO_meth_set_ctrl(m, &WsConn::bio_ctrl);
        return m;
    }();
    return method;
}

int WsConn::bio_read(BIO* bio, char* out, int size) {
    auto* c = static_cast<WsConn*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    const std::size_t avail = c->tin_end_ - c->tin_pos_;
    if (avail == 0) {
        BIO_set_retry_read(bio);  // WANT_READ: Asio reads more
        return -1;
    }
    const std::size_t n = std::min(avail, static_cast<std::size_t>(size));
    std::memcpy(out, c->tin_.data() + c->tin_pos_, n);
    c->tin_pos_ += n;
    return static_cast<int>(n);
}

int WsConn::bio_write(BIO* bio, const char* data, int size) {
    auto* c = static_cast<WsConn*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    c->out_.append(data, static_cast<std::size_t>(size));
    return size;
}

long WsConn::bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

// ---- TLS steps --------------------------------------------------------------------------

bool WsConn::drive_handshake() {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl_);
    if (ret == 1) {
        w_.stats.tls_ok.inc();
        if (websocket_) {
            send_upgrade();  // also sends what the handshake wrote
        } else {
            stage_ = Stage::raw;
            on_tls_open();
            flush();
            if (ended_) {
                return false;
            }
        }
        return true;  // the caller (a read) decrypts what came with the last flight
    }
    const int err = SSL_get_error(ssl_, ret);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ) {
        send_out();  // our flight, if the step produced one
        return true;
    }
    send_out();  // the alert, if any
    stage_failed();
    return false;
}

bool WsConn::pump_tls() {
    // OpenSSL's error queue is kept empty (cleared after every failed call), so no
    // ERR_clear_error() before each call: it costs a thread-local lookup per call.
    for (;;) {
        reader_.reserve(kReadChunk);
        std::size_t got = 0;
        const int ret = SSL_read_ex(ssl_, reader_.write_ptr(), reader_.space(), &got);
        if (ret == 1) {
            reader_.commit(got);
            if (tin_pos_ == tin_end_ && SSL_has_pending(ssl_) == 0) {
                return true;  // all consumed: skip the call that would only say WANT_READ
            }
            continue;
        }
        const int err = SSL_get_error(ssl_, ret);
        ERR_clear_error();
        return err == SSL_ERROR_WANT_READ;  // else close_notify, TCP end or a TLS error
    }
}

// ---- writing ----------------------------------------------------------------------------

void WsConn::send_raw(std::string_view bytes) {
    if (ended_) {
        return;
    }
    (tls_ ? plain_out_ : out_).append(bytes);
    if (!in_read_) {
        flush();
    }
}

void WsConn::send_text(std::string_view payload) {
    if (!can_send()) {
        return;
    }
    ws::append_frame(tls_ ? plain_out_ : out_, ws::Opcode::text, payload, next_mask());
    if (!in_read_) {
        flush();
    }
}

void WsConn::flush() {
    if (tls_ && !plain_out_.empty()) {
        // Everything queued as one record (up to 16 KiB each), so one send below.
        std::size_t off = 0;
        while (off < plain_out_.size()) {
            const std::size_t chunk = std::min(kMaxPlainWrite, plain_out_.size() - off);
            std::size_t written = 0;
            if (SSL_write_ex(ssl_, plain_out_.data() + off, chunk, &written) != 1) {
                ERR_clear_error();
                break;  // the connection is failing; the read side reports it
            }
            off += written;
        }
        plain_out_.clear();
    }
    send_out();
}

void WsConn::send_out() {
    if (writing_ || out_.empty() || !socket_.is_open()) {
        return;
    }
    const ssize_t n =
        ::send(socket_.native_handle(), out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(out_.size())) {
        out_.clear();
        return;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        out_.clear();  // the read side reports the end
        return;
    }
    // The socket buffer is full: the rest goes out asynchronously; later frames wait
    // in out_ and follow in order.
    flight_.assign(out_, n > 0 ? static_cast<std::size_t>(n) : 0);
    out_.clear();
    writing_ = true;
    const std::uint32_t g = gen_;
    asio::async_write(socket_, asio::buffer(flight_), [this, g](const error_code& ec, std::size_t) {
        if (g == gen_) {
            on_written(ec);
        }
    });
}

void WsConn::on_written(const error_code& ec) {
    writing_ = false;
    flight_.clear();
    if (!ec && !ended_) {
        send_out();
    }
}

std::uint32_t WsConn::next_mask() noexcept {
    return static_cast<std::uint32_t>(splitmix(mask_state_));
}

}  // namespace agenthost::agentsim
