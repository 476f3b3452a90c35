// The WebSocket session shared by both roles (PROTOCOL.md §1, §3): read loop, bounded
// write queue, heartbeat pings, idle drop, write-stall policy and the one close path.
// Every step runs on the stream's strand; send()/close()/post() hop onto it.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kernel/crypto/x509.hpp"
#include "kernel/net/detail.hpp"

namespace agenthost::net::detail {

namespace {
std::atomic<std::uint64_t> g_next_id{1};

// The session whose handler callback this thread is running (on its strand), and the
// post()s it made meanwhile. A post() from inside a callback is run right after that
// callback returns, in the same strand turn, instead of going through the scheduler
// (a strand enqueue, a handler allocation and often a cross-thread wake-up per
// message); send() from inside one enqueues directly. Both still run after the code
// that called them, serialised with every other callback of the session, as a post
// would; only handlers other threads posted meanwhile may now run after them instead
// of before, which no caller can tell from a race it already had.
thread_local WsSession* t_running = nullptr;
thread_local std::vector<std::function<void()>> t_deferred;

template <class F>
void run_callback(WsSession* session, F&& fn) {
    if (t_running != nullptr) {  // nested (not expected): plain call, posts stay posts
        fn();
        return;
    }
    t_running = session;
    struct Reset {
        ~Reset() {
            t_running = nullptr;
            t_deferred.clear();
        }
    } reset;
    fn();
    // Deferred functions may defer more; run them all in order. Swapped out first
    // so that one appending to the queue never invalidates the one running.
    std::vector<std::function<void()>> batch;
    while (!t_deferred.empty()) {
        batch.swap(t_deferred);
        for (auto& f : batch) {
            f();
        }
        batch.clear();
    }
    t_deferred.swap(batch);  // keep the capacity: no allocation for the next message's
}
}  // namespace

// ---- metrics and TLS helpers ------------------------------------------------------

NetMetrics::NetMetrics(sdk::Metrics& m)
    : registry(m),
      connections(m.gauge("agenthost_connections", "Open WebSocket sessions")),
      frames_in(m.counter("agenthost_frames_in_total", "WebSocket messages received")),
      frames_out(m.counter("agenthost_frames_out_total", "WebSocket messages sent")),
      queued_bytes(m.gauge("agenthost_write_queue_bytes",
                           "Bytes queued for writing across all sessions")) {}

void NetMetrics::rejected(const char* reason) {
    registry
        .counter("agenthost_guard_rejections_total",
                 "Connections, sessions or messages refused by a resource guard, by reason",
                 {{"reason", reason}})
        .inc();
}

void NetMetrics::closed(std::uint16_t code) {
    registry
        .counter("agenthost_closes_total", "WebSocket sessions ended, by close code",
                 {{"code", std::to_string(code)}})
        .inc();
}

void NetMetrics::handshake(const char* result) {
    registry
        .counter("agenthost_handshakes_total", "Agent connection handshakes, by result",
                 {{"result", result}})
        .inc();
}

std::string remote_address(const tcp::socket& socket) {
    error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (ec) {
        return {};
    }
    auto addr = ep.address().to_string();
    if (ep.address().is_v6()) {
        addr = "[" + addr + "]";
    }
    return addr + ":" + std::to_string(ep.port());
}

PeerCert peer_cert(SSL* ssl, std::string_view binding) {
    PeerCert out;
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr) {
        return out;
    }
    out.present = true;
    out.fingerprint = crypto::cert_fingerprint_sha256(cert);
    if (!binding.empty()) {
        out.identity = crypto::agent_identity(cert, binding);
        return out;
    }
    char cn[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) >
        0) {
        out.identity = std::string(cn);
    }
    return out;
}

std::string check_pins(SSL* ssl, const std::vector<std::string>& pins) {
    // The verified chain, not the presented one: a peer could append any public
    // certificate (carrying a pinned key) to an otherwise unrelated chain.
    STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
    X509* leaf = SSL_get0_peer_certificate(ssl);
    if (chain != nullptr) {
        for (int i = 0; i < sk_X509_num(chain); ++i) {
            auto pin = crypto::spki_pin_of_cert(sk_X509_value(chain, i));
            for (const auto& p : pins) {
                if (!pin.empty() && pin == p) {
                    return {};
                }
            }
        }
    }
    std::string presented = leaf != nullptr ? crypto::spki_pin_of_cert(leaf) : "(none)";
    return "backend key pin mismatch: presented " + presented + " not in pin set";
}

std::string tls_failure(SSL* ssl, const error_code& ec) {
    std::string msg = "TLS handshake failed: " + ec.message();
    if (ssl != nullptr) {
        long verify = SSL_get_verify_result(ssl);
        if (verify != X509_V_OK) {
            msg += " (certificate verify: ";
            msg += X509_verify_cert_error_string(verify);
            msg += ")";
        }
    }
    return msg;
}

// ---- session ----------------------------------------------------------------------

WsSession::WsSession(WsStream ws, PeerInfo peer, SessionLimits limits,
                     std::shared_ptr<TlsContext> tls, std::shared_ptr<NetMetrics> metrics,
                     EndHook on_end)
    : ws_(std::move(ws)),
      peer_(std::move(peer)),
      limits_(limits),
      tls_(std::move(tls)),
      metrics_(std::move(metrics)),
      on_end_(std::move(on_end)),
      id_(g_next_id.fetch_add(1)),
      timer_(ws_.get_executor()),
      rate_(limits_.message_rate, limits_.message_burst) {
    // Zero intervals would spin the timer (config validation requires >= 1 s anyway).
    limits_.heartbeat = std::max(limits_.heartbeat, std::chrono::seconds(1));
    limits_.idle_timeout = std::max(limits_.idle_timeout, std::chrono::seconds(1));
    limits_.write_stall_timeout = std::max(limits_.write_stall_timeout, std::chrono::seconds(1));
    limits_.handshake_timeout = std::max(limits_.handshake_timeout, std::chrono::seconds(1));
    limits_.max_write_queue = std::max<std::size_t>(limits_.max_write_queue, 1);
    limits_.max_write_queue_bytes = std::max<std::size_t>(limits_.max_write_queue_bytes, 1);
}

WsSession::~WsSession() = default;

void WsSession::start(std::unique_ptr<ConnectionHandler> handler) {
    asio::dispatch(ws_.get_executor(), [self = shared_from_this(),
                                        h = std::move(handler)]() mutable {
        self->handler_ = std::move(h);
        self->metrics_->connections.add(1);
        auto now = Clock::now();
        self->last_activity_ = now;
        self->next_ping_ = now + self->limits_.heartbeat;
        self->last_write_progress_ = now;
        // The peer's pings and pongs count as traffic (PROTOCOL.md §3); Beast answers
        // pings itself.
        self->ws_.control_callback([raw = self.get()](websocket::frame_type, beast::string_view) {
            raw->note_activity();
        });
        self->handler_->on_open(self);
        self->do_read();
        self->arm_timer();
    });
}

bool WsSession::send(std::string text) {
    if (closing_.load()) {
        return false;
    }
    const std::size_t bytes = text.size();
    const std::size_t before = queued_bytes_.fetch_add(bytes);
    // One message always fits an empty queue, however large (max_message_bytes bounds it).
    const bool over_bytes = before > 0 && before + bytes > limits_.max_write_queue_bytes;
    if (queued_.fetch_add(1) >= limits_.max_write_queue || over_bytes) {
        queued_.fetch_sub(1);
        queued_bytes_.fetch_sub(bytes);
        if (!refused_.exchange(true)) {
            metrics_->rejected("write_queue_full");
        }
        // Make sure the stall deadline is on the timer.
        asio::post(ws_.get_executor(), [self = shared_from_this()] { self->arm_timer(); });
        return false;
    }
    metrics_->queued_bytes.add(static_cast<double>(bytes));
    if (t_running == this) {  // already on the strand, inside a callback of ours
        enqueue(std::move(text));
        return true;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this(), t = std::move(text)]() mutable {
        self->enqueue(std::move(t));
    });
    return true;
}

void WsSession::close(std::uint16_t code, std::string reason) {
    if (closing_.exchange(true)) {
        return;
    }
    asio::post(ws_.get_executor(),
               [self = shared_from_this(), code, r = std::move(reason)]() mutable {
                   self->request_close(code, std::move(r));
               });
}

void WsSession::post(std::function<void()> fn) {
    if (t_running == this) {
        t_deferred.push_back(std::move(fn));
        return;
    }
    asio::post(ws_.get_executor(), [self = shared_from_this(), f = std::move(fn)] {
        run_callback(self.get(), f);
    });
}

void WsSession::abort(std::uint16_t code) {
    closing_.store(true);
    asio::post(ws_.get_executor(), [self = shared_from_this(), code] { self->drop(code); });
}

// -- read loop. Messages are read in chunks so the size cap is ours: Beast's own
// read_message_max path fails the stream and reports the TLS teardown error instead
// of "too big", so the handler could not learn 1009. Memory stays within max + 1.
void WsSession::do_read() {
    std::size_t room =
        limits_.max_message_bytes + 1 - std::min(buffer_.size(), limits_.max_message_bytes);
    ws_.async_read_some(buffer_, std::min<std::size_t>(room, 64 * 1024),
                        beast::bind_front_handler(&WsSession::on_read, shared_from_this()));
}

void WsSession::on_read(error_code ec, std::size_t) {
    if (ec) {
        return fail(ec, "read");
    }
    note_activity();
    // Once closing, no new read: Beast's close operation reads and discards until the
    // peer's close frame, and a read of ours competing with it can stall the handshake.
    if (close_requested_ || finished_) {
        buffer_.consume(buffer_.size());
        return;
    }
    if (ws_.got_binary()) {
        buffer_.consume(buffer_.size());
        closing_.store(true);
        return request_close(close_code::unsupported_data, "text frames only");
    }
    if (buffer_.size() > limits_.max_message_bytes) {
        buffer_.consume(buffer_.size());
        closing_.store(true);
        metrics_->rejected("message_too_big");
        return request_close(close_code::too_big, "message too big");
    }
    if (!ws_.is_message_done()) {
        return do_read();
    }
    if (!rate_.take()) {
        buffer_.consume(buffer_.size());
        closing_.store(true);
        metrics_->rejected("message_rate");
        return request_close(close_code::rate_limited, "rate limit exceeded");
    }
    metrics_->frames_in.inc();
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    run_callback(this, [&] { handler_->on_message(std::move(text)); });
    if (!close_requested_) {
        do_read();
    }
}

// -- write queue
void WsSession::enqueue(std::string text) {
    if (finished_ || close_started_) {
        queued_.fetch_sub(1);
        queued_bytes_.fetch_sub(text.size());
        metrics_->queued_bytes.add(-static_cast<double>(text.size()));
        return;
    }
    queue_.push_back(std::move(text));
    if (!writing_) {
        last_write_progress_ = Clock::now();
        do_write();
    }
}

void WsSession::do_write() {
    writing_ = true;
    // Out of the queue while it is written: a push_back may move the queue's elements.
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
    ws_.text(true);
    ws_.async_write(asio::buffer(in_flight_),
                    beast::bind_front_handler(&WsSession::on_write, shared_from_this()));
}

void WsSession::on_write(error_code ec, std::size_t) {
    writing_ = false;
    const std::size_t bytes = in_flight_.size();
    in_flight_ = std::string();  // its buffer back to the allocator, as the queue did
    queued_.fetch_sub(1);
    queued_bytes_.fetch_sub(bytes);
    metrics_->queued_bytes.add(-static_cast<double>(bytes));
    if (ec) {
        return fail(ec, "write");
    }
    metrics_->frames_out.inc();
    last_write_progress_ = Clock::now();
    refused_.store(false);
    if (!queue_.empty()) {
        return do_write();
    }
    maybe_close();
}

// -- heartbeat
void WsSession::do_ping() {
    pinging_ = true;
    ws_.async_ping({}, beast::bind_front_handler(&WsSession::on_ping, shared_from_this()));
}

void WsSession::on_ping(error_code ec) {
    pinging_ = false;
    if (ec) {
        return fail(ec, "ping");
    }
    maybe_close();
}

// -- closing: after the queued writes and any ping in flight (Beast allows one
// control-frame operation at a time).
void WsSession::request_close(std::uint16_t code, std::string reason) {
    if (close_requested_ || finished_) {
        return;
    }
    close_requested_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    close_deadline_ = Clock::now() + limits_.handshake_timeout + limits_.handshake_timeout;
    maybe_close();
    arm_timer();
}

void WsSession::maybe_close() {
    if (!close_requested_ || close_started_ || finished_ || writing_ || pinging_ ||
        !queue_.empty()) {
        return;
    }
    close_started_ = true;
    websocket::close_reason cr(static_cast<websocket::close_code>(close_code_), close_reason_);
    ws_.async_close(cr, beast::bind_front_handler(&WsSession::on_close_sent, shared_from_this()));
}

void WsSession::on_close_sent(error_code ec) {
    // Both the close handshake and teardown are done (or failed): the session is over.
    (void)ec;
    finish(close_code_);
}

// -- one timer for heartbeat, idle drop, write stall and close deadline
void WsSession::arm_timer() {
    if (finished_) {
        return;
    }
    auto wake = std::min(next_ping_, last_activity_ + limits_.idle_timeout);
    if (backlogged()) {
        wake = std::min(wake, last_write_progress_ + limits_.write_stall_timeout);
    }
    if (close_requested_) {
        wake = std::min(wake, close_deadline_);
    }
    // Rounded up to a 250 ms grid, shared by every session: a loop thread holding
    // thousands of sessions then wakes a few times a second for a batch of pings and
    // deadline checks instead of once per session (each wake-up is a context switch).
    // Every deadline here is seconds long; firing up to a quarter second late changes
    // nothing, and never early.
    constexpr Clock::duration kSlot = std::chrono::milliseconds(250);
    const auto slots = (wake.time_since_epoch() + kSlot - Clock::duration(1)) / kSlot;
    timer_.expires_at(Clock::time_point(slots * kSlot));
    timer_.async_wait(beast::bind_front_handler(&WsSession::on_timer, shared_from_this()));
}

void WsSession::on_timer(error_code ec) {
    if (ec == asio::error::operation_aborted || finished_) {
        return;  // re-armed elsewhere, or over
    }
    auto now = Clock::now();
    if (close_requested_ && now >= close_deadline_) {
        return drop(close_code_);  // the peer never completed the close handshake
    }
    if (now >= last_activity_ + limits_.idle_timeout) {
        return drop(kAbnormal);  // PROTOCOL.md §3: drop a silent peer
    }
    if (backlogged() && now >= last_write_progress_ + limits_.write_stall_timeout) {
        // A slow reader: its queue stayed full. A close frame could not get past the
        // stuck write, so the transport goes and the handler learns 1008.
        metrics_->rejected("slow_reader");
        return drop(close_code::policy);
    }
    if (now >= next_ping_) {
        next_ping_ = now + limits_.heartbeat;
        if (!pinging_ && !close_requested_) {
            do_ping();
        }
    }
    arm_timer();
}

void WsSession::note_activity() {
    last_activity_ = Clock::now();
    if (handler_ && !finished_) {
        handler_->on_activity();
    }
}

// The queue is at its cap, or a send() was refused since the last completed write.
bool WsSession::backlogged() const {
    return queued_.load() >= limits_.max_write_queue || refused_.load();
}

void WsSession::drop(std::uint16_t code) {
    error_code ignored;
    ws_.next_layer().socket().close(ignored);
    finish(code);
}

// One failure policy: an operation error ends the session. The code reported is the
// close we started, the peer's close code, 1009 for an oversize message, or 1006.
void WsSession::fail(error_code ec, const char* where) {
    (void)where;
    if (finished_) {
        return;
    }
    // The error code alone is not enough: after a close handshake Beast reports the
    // TLS teardown's error, so the close frames seen decide first.
    auto received = static_cast<std::uint16_t>(ws_.reason().code);
    std::uint16_t code = kAbnormal;
    if (close_started_) {
        code = close_code_;  // our close frame went first
    } else if (received != 0) {
        code = received;  // the peer closed
    } else if (ec == websocket::error::closed) {
        code = 1005;  // a close frame without a code
    } else if (close_requested_) {
        code = close_code_;
    } else if (ec.category() == websocket::make_error_code(websocket::error::closed).category()) {
        code = 1002;  // Beast failed the connection (protocol error)
    }
    drop(code);
}

void WsSession::finish(std::uint16_t code) {
    if (finished_) {
        return;
    }
    finished_ = true;
    closing_.store(true);
    timer_.cancel();
    // Release what will never be written (a write in flight accounts for itself).
    std::size_t dropped_bytes = 0;
    while (!queue_.empty()) {
        dropped_bytes += queue_.back().size();
        queue_.pop_back();
        queued_.fetch_sub(1);
    }
    queued_bytes_.fetch_sub(dropped_bytes);
    metrics_->queued_bytes.add(-static_cast<double>(dropped_bytes));
    metrics_->connections.add(-1);
    metrics_->closed(code);
    auto handler = std::move(handler_);
    if (handler) {
        handler->on_close(code);
    }
    handler.reset();  // breaks the handler → Connection cycle
    if (on_end_) {
        auto hook = std::move(on_end_);
        hook(id_, code);
    }
}

}  // namespace agenthost::net::detail
