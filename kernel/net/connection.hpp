#pragma once
// The seam between the network core (kernel/net) and the protocol logic
// (kernel/backend, kernel/gateway). net/ owns sockets, TLS, the WebSocket state
// machine, heartbeats, timeouts and the bounded write queue; the logic above only
// sees text messages and a Connection to answer on. No Asio/Beast type crosses it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace agenthost::net {

// Who is on the other end, as established by the TLS handshake.
struct PeerInfo {
    std::string identity;          // agent_id from the client cert (backend) or the
                                   // server's CN (gateway); validated by net/
    std::string cert_fingerprint;  // SHA-256 of the peer certificate DER, lower-case hex
    std::string remote_address;    // "ip:port"
};

// Close codes of PROTOCOL.md §6.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t policy = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t malformed = 4400;
inline constexpr std::uint16_t auth_failed = 4401;
inline constexpr std::uint16_t forbidden = 4403;
inline constexpr std::uint16_t hello_timeout = 4408;
inline constexpr std::uint16_t duplicate_session = 4409;
inline constexpr std::uint16_t replayed = 4410;
inline constexpr std::uint16_t rate_limited = 4429;
}  // namespace close_code

// One established WebSocket session. Thread-safe: every method may be called from
// any thread; work is serialised on the session's strand internally.
class Connection {
public:
    virtual ~Connection() = default;
    virtual const PeerInfo& peer() const noexcept = 0;
    // Queues one text message. Returns false (and drops nothing already queued) when
    // the session is closing or its write queue is at its cap (messages or bytes); a
    // slow reader whose queue stays full is dropped by net/ (code 1008).
    virtual bool send(std::string text) = 0;
    // Sends a close frame with `code` after the queued messages, then shuts down.
    // Idempotent: the first call decides the code.
    virtual void close(std::uint16_t code, std::string reason) = 0;
    // Runs `fn` on this session's strand (serialised with the handler's callbacks).
    virtual void post(std::function<void()> fn) = 0;
    virtual std::uint64_t id() const noexcept = 0;  // process-unique connection number
};

// The protocol logic for one session, created per connection. All callbacks run on
// the session's strand, so a handler needs no locking for its own state.
class ConnectionHandler {
public:
    virtual ~ConnectionHandler() = default;
    // After the 101 (backend) or the successful upgrade (gateway).
    virtual void on_open(std::shared_ptr<Connection> connection) = 0;
    // One complete text message (size already checked against max_frame_bytes).
    virtual void on_message(std::string text) = 0;
    // Any traffic from the peer (message, ping or pong): used to renew leases.
    virtual void on_activity() {}
    // The session ended; `code` is the close code sent or received (1006 when the
    // transport dropped). Called exactly once; the Connection must not be used after.
    virtual void on_close(std::uint16_t code) = 0;
};

// Per-session limits applied by net/.
struct SessionLimits {
    std::size_t max_message_bytes = 1 << 20;     // > → close 1009
    std::size_t max_write_queue = 1024;          // messages queued for writing
    std::chrono::seconds heartbeat{30};          // ping interval
    std::chrono::seconds idle_timeout{90};       // nothing from the peer → close
    std::chrono::seconds handshake_timeout{10};  // TLS + HTTP upgrade (and closing)
    // Write queue at its cap with no write completing for this long → close 1008.
    std::chrono::seconds write_stall_timeout{30};
    // Bytes queued for writing; send() refuses beyond it (one message always fits an
    // empty queue), and the stall rule above applies as for max_write_queue.
    std::size_t max_write_queue_bytes = 16u << 20;
    // Messages per second from the peer (token bucket); above → close 4429. 0: off.
    double message_rate = 0;
    double message_burst = 0;
};

using HandlerFactory = std::function<std::unique_ptr<ConnectionHandler>(const PeerInfo&)>;

}  // namespace agenthost::net
