#pragma once
// Internal to kernel/net: the Beast stream types, the WebSocket session shared by
// the agent server and the gateway client, and small TLS/peer helpers. Only net/
// .cpp files include this header (it pulls in Asio, Beast and OpenSSL).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/container/devector.hpp>

#include <agenthost/metrics.hpp>

#include "kernel/net/connection.hpp"
#include "kernel/net/fd_tls_stream.hpp"
#include "kernel/net/tls.hpp"
#include "kernel/net/token_bucket.hpp"

namespace agenthost::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
// The HTTPS listeners (operator API, admin) keep Asio's BIO-pair stream.
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
// Agent connections (both roles): TLS on the socket itself (fd_tls_stream.hpp).
// deflateSupported = false: permessage-deflate is never negotiated (PROTOCOL.md §8), and
// leaving it out drops the zlib code paths from every instantiation (compile time).
using WsStream = websocket::stream<FdTlsStream, false>;

inline constexpr const char* kSubprotocol = "agenthost.v1";
inline constexpr std::uint16_t kAbnormal = 1006;  // transport dropped, no close frame

// Counters shared by every session of one listener or client (handles stay valid for
// the process lifetime, see sdk::Metrics).
struct NetMetrics {
    explicit NetMetrics(sdk::Metrics& m);
    sdk::Metrics& registry;
    sdk::Gauge& connections;
    sdk::Counter& frames_in;
    sdk::Counter& frames_out;
    sdk::Gauge& queued_bytes;  // bytes waiting in every session's write queue
    void closed(std::uint16_t code);
    void handshake(const char* result);
    // A guard refused something: agenthost_guard_rejections_total{reason}.
    void rejected(const char* reason);
};

// "ip:port" of a connected socket ("" when unknown).
std::string remote_address(const tcp::socket& socket);
// SHA-256 of the peer's leaf certificate (hex) and, per `binding`, its agent identity
// (binding "" → the subject CN as is, used by the gateway for the backend).
struct PeerCert {
    bool present = false;
    std::string fingerprint;
    std::optional<std::string> identity;
};
PeerCert peer_cert(SSL* ssl, std::string_view binding);
// "" when some certificate of the verified chain carries a pin of `pins`; otherwise
// the message naming the leaf's pin.
std::string check_pins(SSL* ssl, const std::vector<std::string>& pins);
// A human-readable reason for a failed TLS handshake (verify result included).
std::string tls_failure(SSL* ssl, const error_code& ec);

// One established WebSocket session (both roles). Owns the stream, the write queue,
// the heartbeat/idle/stall timer and the handler. Lives while an operation is pending.
class WsSession final : public Connection, public std::enable_shared_from_this<WsSession> {
public:
    using EndHook = std::function<void(std::uint64_t id, std::uint16_t code)>;

    WsSession(WsStream ws, PeerInfo peer, SessionLimits limits, std::shared_ptr<TlsContext> tls,
              std::shared_ptr<NetMetrics> metrics, EndHook on_end);
    ~WsSession() override;

    // Posts to the strand: on_open, then the read loop and the timer.
    void start(std::unique_ptr<ConnectionHandler> handler);
    // Drops the transport now (server teardown); on_close gets `code`.
    void abort(std::uint16_t code);

    const PeerInfo& peer() const noexcept override { return peer_; }
    bool send(std::string text) override;
    void close(std::uint16_t code, std::string reason) override;
    void post(std::function<void()> fn) override;
    std::uint64_t id() const noexcept override { return id_; }

private:
    using Clock = std::chrono::steady_clock;

    void do_read();
    void on_read(error_code ec, std::size_t bytes);
    void enqueue(std::string text);
    void do_write();
    void on_write(error_code ec, std::size_t bytes);
    void do_ping();
    void on_ping(error_code ec);
    void request_close(std::uint16_t code, std::string reason);
    void maybe_close();
    void on_close_sent(error_code ec);
    void arm_timer();
    void on_timer(error_code ec);
    void note_activity();
    void drop(std::uint16_t code);
    bool backlogged() const;
    void fail(error_code ec, const char* where);
    void finish(std::uint16_t code);

    WsStream ws_;
    PeerInfo peer_;
    SessionLimits limits_;
    std::shared_ptr<TlsContext> tls_;  // keeps the SSL_CTX (and its callbacks) alive
    std::shared_ptr<NetMetrics> metrics_;
    EndHook on_end_;
    std::uint64_t id_;
    beast::flat_buffer buffer_;
    asio::steady_timer timer_;
    std::unique_ptr<ConnectionHandler> handler_;

    std::atomic<std::size_t> queued_{0};  // messages accepted by send() not yet written
    std::atomic<std::size_t> queued_bytes_{0};  // their bytes
    std::atomic<bool> refused_{false};  // send() refused since the last write progress
    TokenBucket rate_;                   // peer messages (strand-only)
    std::atomic<bool> closing_{false};    // no more send(); first close() wins

    // Strand-only state.
    // A devector, not a deque: libstdc++'s deque allocates ~600 bytes when it is
    // constructed, for each of 10,000 mostly idle sessions; this one only when used.
    boost::container::devector<std::string> queue_;
    std::string in_flight_;  // the message being written (not in queue_)
    bool writing_ = false;
    bool pinging_ = false;
    bool close_requested_ = false;
    bool close_started_ = false;
    bool finished_ = false;
    std::uint16_t close_code_ = 0;
    std::string close_reason_;
    Clock::time_point last_activity_;
    Clock::time_point next_ping_;
    Clock::time_point last_write_progress_;
    Clock::time_point close_deadline_;
};

}  // namespace agenthost::net::detail
