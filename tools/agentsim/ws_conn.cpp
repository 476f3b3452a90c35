// See ws_conn.hpp. The connection's life cycle, reading and the WebSocket layer; the
// byte paths (BIO, TLS steps, writing) are in ws_conn_io.cpp.
#include "tools/agentsim/ws_conn.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <random>

#include <openssl/bio.h>
#include <openssl/err.h>

namespace agenthost::agentsim {

using error_code = boost::system::error_code;

namespace {

constexpr auto kSetupTimeout = std::chrono::seconds(30);
constexpr std::string_view kSubprotocol = "agenthost.v1";

}  // namespace

// ---- life cycle -------------------------------------------------------------------------

WsConn::WsConn(Worker& w, Shared& sh, std::size_t index, bool tls, bool websocket)
    : w_(w),
      sh_(sh),
      index_(index),
      tls_(tls),
      websocket_(websocket),
      socket_(w.io),
      deadline_(w.io) {
    std::random_device rd;
    mask_state_ = (std::uint64_t{rd()} << 32) ^ rd() ^ (index * 0x9E3779B97F4A7C15ull);
}

WsConn::~WsConn() {
    if (ssl_ != nullptr) {
        SSL_free(ssl_);
    }
}

void WsConn::start() {
    setup_done_ = false;  // the launcher counted this start as pending
    begin();
}

void WsConn::again() {
    begin();
}

void WsConn::begin() {
    if (stopped_ || sh_.stopping.load()) {
        return end_setup();
    }
    ++gen_;
    stage_ = Stage::connect;
    ended_ = false;
    open_ = false;
    close_sent_ = false;
    writing_ = false;
    tin_pos_ = tin_end_ = 0;
    reader_.reset();
    plain_out_.clear();
    out_.clear();
    flight_.clear();
    if (tls_) {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
        }
        ssl_ = SSL_new(sh_.tls.native_handle());
        BIO* bio = ssl_ != nullptr ? BIO_new(bio_method()) : nullptr;
        if (bio == nullptr) {
            w_.stats.tls_errors.inc();
            return finish(kAbnormal);
        }
        BIO_set_data(bio, this);
        BIO_set_init(bio, 1);
        SSL_set_bio(ssl_, bio, bio);
        SSL_set_connect_state(ssl_);
        const auto& cred = sh_.agents[index_].credential;
        SSL_use_certificate(ssl_, cred->cert.get());
        SSL_use_PrivateKey(ssl_, cred->key.get());
        if (sh_.opt.echo > 0) {
            // Busy closed-loop connections keep their record buffers rather than
            // freeing and reallocating ~17 KiB twice per round trip (the context
            // releases them, for the 10,000 mostly idle connections of other runs).
            SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
        }
        tin_.resize(sh_.opt.tls_buffer_bytes != 0 ? sh_.opt.tls_buffer_bytes : 17 * 1024);
    }
    started_ = Clock::now();
    w_.stats.attempts.inc();
    sh_.open_socket(socket_, index_);
    const std::uint32_t g = gen_;
    deadline_.expires_after(kSetupTimeout);
    deadline_.async_wait([this, g](const error_code& ec) {
        if (!ec && g == gen_) {
            on_deadline();
        }
    });
    socket_.async_connect(sh_.target, [this, g](const error_code& ec) {
        if (g == gen_ && !ended_) {
            on_connect(ec);
        }
    });
}

void WsConn::stop() {
    stopped_ = true;
    on_stop();
    if (ended_) {
        return;
    }
    if (!open_ || !websocket_) {
        error_code ignored;
        socket_.close(ignored);  // the pending operation reports the end
        return;
    }
    if (!close_sent_) {
        close_sent_ = true;
        if (tls_) {
            ws::append_close(plain_out_, ws::kNormal, next_mask());
        } else {
            ws::append_close(out_, ws::kNormal, next_mask());
        }
        flush();
    }
}

void WsConn::end_setup() {
    if (!setup_done_) {
        setup_done_ = true;
        sh_.pending.fetch_sub(1);
    }
}

void WsConn::on_connect(const error_code& ec) {
    if (ec) {
        w_.stats.tcp_errors.inc();
        return finish(kAbnormal);
    }
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    socket_.non_blocking(true, ignored);  // our own send() never blocks
    if (tls_) {
        stage_ = Stage::tls;
        if (!drive_handshake()) {
            return;
        }
    } else {
        send_upgrade();
    }
    start_read();
}

void WsConn::on_deadline() {
    if (ended_ || open_) {
        return;
    }
    stage_failed();
}

void WsConn::stage_failed() {
    if (stage_ == Stage::raw && open_) {
        return finish(kAbnormal);  // a held connection ended
    }
    switch (stage_) {
    case Stage::connect:
        w_.stats.tcp_errors.inc();
        break;
    case Stage::tls:
        w_.stats.tls_errors.inc();
        break;
    case Stage::upgrade:
    case Stage::raw:
        w_.stats.upgrade_errors.inc();
        break;
    case Stage::open:
        break;
    }
    finish(kAbnormal);
}

void WsConn::fail_after_tls() {
    stage_failed();
}

void WsConn::mark_open() {
    if (!open_) {
        open_ = true;
        w_.stats.open.inc();
        deadline_.cancel();
    }
}

void WsConn::end_quietly() {
    finish(kAbnormal, /*counted=*/false);
}

// ---- reading ----------------------------------------------------------------------------

void WsConn::start_read() {
    const std::uint32_t g = gen_;
    auto handler = [this, g](const error_code& ec, std::size_t n) {
        if (g == gen_ && !ended_) {
            on_read(ec, n);
        }
    };
    if (tls_) {
        // OpenSSL has consumed all of it (pump_tls reads until WANT_READ).
        tin_pos_ = tin_end_ = 0;
        socket_.async_read_some(asio::buffer(tin_.data(), tin_.size()), std::move(handler));
        return;
    }
    reader_.reserve(kReadChunk);
    socket_.async_read_some(asio::buffer(reader_.write_ptr(), reader_.space()),
                            std::move(handler));
}

void WsConn::on_read(const error_code& ec, std::size_t n) {
    if (ec) {
        if (stage_ != Stage::open) {
            return stage_failed();
        }
        return finish(kAbnormal);  // the transport ended without a close frame
    }
    in_read_ = true;
    bool alive = true;
    if (tls_) {
        tin_end_ += n;
        if (stage_ == Stage::tls && !drive_handshake()) {
            in_read_ = false;
            return;
        }
        if (stage_ != Stage::tls) {
            alive = pump_tls();  // false: close_notify or a TLS error after this data
        }
    } else {
        reader_.commit(n);
    }
    if (stage_ != Stage::connect && stage_ != Stage::tls) {
        process();  // what arrived before the end, too
    }
    in_read_ = false;
    if (ended_) {
        return;
    }
    if (!alive) {
        return stage_ == Stage::open ? finish(kAbnormal) : stage_failed();
    }
    flush();
    if (!ended_) {
        start_read();
    }
}

void WsConn::send_upgrade() {
    stage_ = Stage::upgrade;
    key_ = ws::make_key(splitmix(mask_state_), splitmix(mask_state_));
    const std::string request = ws::upgrade_request(
        sh_.opt.host, sh_.opt.path, key_, tls_ ? kSubprotocol : std::string_view{});
    if (tls_) {
        plain_out_.append(request);
    } else {
        out_.append(request);
    }
    flush();
}

void WsConn::process() {
    if (stage_ == Stage::raw) {
        return on_raw(reader_);
    }
    if (stage_ == Stage::upgrade) {
        const std::size_t head = ws::head_length(reader_.data());
        if (head == 0) {
            if (reader_.buffered() > 64 * 1024) {
                stage_failed();  // no end of headers in 64 KiB
            }
            return;
        }
        const std::string problem = ws::check_upgrade_response(
            reader_.data().substr(0, head), key_, tls_ ? kSubprotocol : std::string_view{});
        reader_.consume(head);
        if (!problem.empty()) {
            return stage_failed();
        }
        stage_ = Stage::open;
        open_ = true;
        deadline_.cancel();
        w_.stats.upgraded.inc();
        w_.stats.open.inc();
        on_open();
    }
    while (!ended_) {
        switch (reader_.next()) {
        case ws::FrameReader::Event::none:
            return;
        case ws::FrameReader::Event::message:
            on_message(reader_.payload());
            break;
        case ws::FrameReader::Event::ping:
            if (!close_sent_) {
                ws::append_frame(tls_ ? plain_out_ : out_, ws::Opcode::pong, reader_.payload(),
                                 next_mask());
            }
            break;
        case ws::FrameReader::Event::pong:
            break;
        case ws::FrameReader::Event::close:
            return handle_close(reader_.close_code());
        case ws::FrameReader::Event::error:
            // Tell the server why (1002 / 1009), then drop the connection.
            if (!close_sent_) {
                close_sent_ = true;
                ws::append_close(tls_ ? plain_out_ : out_, reader_.close_code(), next_mask());
                flush();
            }
            return finish(reader_.close_code());
        }
    }
}

void WsConn::handle_close(std::uint16_t code) {
    if (!close_sent_) {
        // The server's close: answer it (same code), as a client must.
        close_sent_ = true;
        const std::uint16_t echo = code == ws::kNoStatus ? ws::kNormal : code;
        ws::append_close(tls_ ? plain_out_ : out_, echo, next_mask());
    }
    if (tls_) {
        flush();
        SSL_shutdown(ssl_);  // close_notify into out_
        ERR_clear_error();
    }
    send_out();
    // A close frame without a status reads as 1006, as Beast's reason() did before.
    finish(code == ws::kNoStatus ? kAbnormal : code);
}

// ---- the end ----------------------------------------------------------------------------

void WsConn::finish(std::uint16_t code, bool counted) {
    if (ended_) {
        return;
    }
    ended_ = true;
    if (open_) {
        open_ = false;
        w_.stats.open.dec();
    }
    if (counted && !stopped_) {  // our own close at the end of the run is no error
        w_.stats.add_close(code);
    }
    end_setup();
    deadline_.cancel();
    error_code ignored;
    if (socket_.is_open()) {
        ::shutdown(socket_.native_handle(), SHUT_RDWR);
    }
    socket_.close(ignored);
    on_ended();
}

}  // namespace agenthost::agentsim
