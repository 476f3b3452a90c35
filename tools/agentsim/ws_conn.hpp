#pragma once
// Internal to agentsim: one client WebSocket connection, plain (ws-echo) or over mutual
// TLS (agent mode), written for a load generator's hot path; without the WebSocket
// layer it is also the raw mutual-TLS connection of the tls-hold and handshake modes.
// TCP via Asio; TLS with an SSL object over a BIO of our own that reads the ciphertext
// Asio received and appends what OpenSSL writes to our output buffer; the WebSocket
// framing of ws_frame.hpp.
//
// Per message this costs one recv with data (Asio's reactor reads straight into our
// buffer; no epoll_ctl re-arm, though its next speculative read often finds nothing),
// one send (frames produced while handling a read go out together at its end, as one
// TLS record), no heap allocation and no composed operation. Derived classes
// (AgentConn, EchoConn) implement the hooks.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <openssl/ssl.h>

#include "tools/agentsim/sim_internal.hpp"
#include "tools/agentsim/ws_frame.hpp"

namespace agenthost::agentsim {

class WsConn : public Conn {
public:
    // `tls`: mutual TLS with the agent's minted certificate. `websocket` false: a raw TLS
    // connection (tls-hold, handshake modes): on_tls_open(), then on_raw() per read.
    WsConn(Worker& w, Shared& sh, std::size_t index, bool tls, bool websocket = true);
    ~WsConn() override;
    WsConn(const WsConn&) = delete;
    WsConn& operator=(const WsConn&) = delete;

    void start() override;  // connect → (TLS) → upgrade → on_open()
    void stop() override;   // close 1000 (after what is queued), no reconnect

protected:
    virtual void on_open() {}                           // upgraded
    virtual void on_message(std::string_view) {}        // a whole text/binary message
    virtual void on_tls_open() {}                       // raw: TLS established
    virtual void on_raw(ws::FrameReader&) {}            // raw: decrypted bytes (consume them)
    virtual void on_ended() {}  // the connection is gone (stats done); may start again
    virtual void on_stop() {}   // stop() was called

    // Queues one text message. Inside a hook called from a read it goes out with the
    // others at the end of that read; elsewhere at once. Ignored once closing.
    void send_text(std::string_view payload);
    bool can_send() const noexcept { return open_ && !close_sent_ && !ended_; }
    Clock::time_point started() const noexcept { return started_; }
    // Counts the set-up as finished for the launcher's --max-pending (once).
    void end_setup();
    // Raw mode: queues bytes for the peer (sent like send_text()).
    void send_raw(std::string_view bytes);
    // Raw mode: counts the connection as open (stats.open) until it ends.
    void mark_open();
    // Raw mode: the set-up failed after TLS (counted as an upgrade error, close 1006).
    void fail_after_tls();
    // Ends the connection without counting a close (a completed handshake cycle).
    void end_quietly();
    // Starts the next connection on this object; the launcher's pending count is not
    // touched (a handshake-mode cycle).
    void again();

    Worker& w_;
    Shared& sh_;
    const std::size_t index_;
    bool stopped_ = false;

private:
    enum class Stage : std::uint8_t { connect, tls, upgrade, open, raw };

    static constexpr std::uint16_t kAbnormal = 1006;
    static constexpr std::size_t kReadChunk = 4096;  // plaintext reserved per read
    static constexpr std::size_t kMaxPlainWrite = 16 * 1024;  // one record per SSL_write

    static std::uint64_t splitmix(std::uint64_t& s) noexcept {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    static BIO_METHOD* bio_method();
    static int bio_read(BIO* bio, char* out, int size);
    static int bio_write(BIO* bio, const char* data, int size);
    static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);

    void begin();
    void on_connect(const boost::system::error_code& ec);
    void on_deadline();
    void start_read();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    bool drive_handshake();  // false: failed (connection finished)
    bool pump_tls();         // decrypt what arrived into the reader; false: transport ended
    void send_upgrade();
    void process();          // upgrade response, then frames (or on_raw())
    void handle_close(std::uint16_t code);
    void flush();
    void send_out();
    void on_written(const boost::system::error_code& ec);
    void stage_failed();
    void finish(std::uint16_t code, bool counted = true);
    std::uint32_t next_mask() noexcept;

    const bool tls_;
    const bool websocket_;
    tcp::socket socket_;
    asio::steady_timer deadline_;
    SSL* ssl_ = nullptr;
    std::uint32_t gen_ = 0;  // connection generation: late handlers of an old one are ignored
    Stage stage_ = Stage::connect;
    Clock::time_point started_;
    std::vector<char> tin_;  // ciphertext received, [tin_pos_, tin_end_) not yet read by TLS
    std::size_t tin_pos_ = 0;
    std::size_t tin_end_ = 0;
    ws::FrameReader reader_;
    std::string plain_out_;  // TLS: frames not yet encrypted
    std::string out_;        // bytes for the socket (ciphertext, or frames when plain)
    std::string flight_;     // bytes of the async write in progress
    std::string key_;        // Sec-WebSocket-Key
    std::uint64_t mask_state_;
    bool in_read_ = false;
    bool writing_ = false;
    bool open_ = false;
    bool close_sent_ = false;
    bool ended_ = true;
    bool setup_done_ = true;
};

}  // namespace agenthost::agentsim
