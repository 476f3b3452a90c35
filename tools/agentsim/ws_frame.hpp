#pragma once
// agentsim's client side of RFC 6455, written by hand for the load generator's hot path:
// masked frames appended to an output buffer, an incremental reader over the bytes the
// transport delivers (fragments reassembled, control frames surfaced, size capped), and
// the HTTP upgrade request/response. No Asio, no allocation per message once the buffers
// have grown to the working size. Pure code: unit-tested in tests/agentsim.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace agenthost::agentsim::ws {

enum class Opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

inline constexpr std::uint16_t kNormal = 1000;
inline constexpr std::uint16_t kProtocolError = 1002;
inline constexpr std::uint16_t kNoStatus = 1005;  // a close frame without a code
inline constexpr std::uint16_t kTooBig = 1009;

// Appends one complete (FIN) client frame: header, the 4-byte masking key `mask` and the
// payload XORed with it (RFC 6455 §5.3: every client frame is masked).
void append_frame(std::string& out, Opcode op, std::string_view payload, std::uint32_t mask);
// A close frame carrying `code` (and no reason).
void append_close(std::string& out, std::uint16_t code, std::uint32_t mask);

// Reads server frames from the bytes the transport writes into it. Usage: write at most
// `space()` bytes at `write_ptr()` (after `reserve()`), `commit(n)`, then call `next()`
// until it returns `Event::none` (needs more bytes). Server frames must not be masked.
class FrameReader {
public:
    enum class Event : std::uint8_t {
        none,     // no complete frame/message buffered
        message,  // payload(): a whole text/binary message, fragments joined
        ping,     // payload(): answer with a pong carrying it
        pong,
        close,    // close_code() (kNoStatus when absent)
        error,    // close_code(): kProtocolError or kTooBig; the reader is then dead
    };

    explicit FrameReader(std::size_t max_message = 4u << 20) : max_message_(max_message) {}

    // Makes room for at least `n` more bytes (compacting consumed ones first).
    void reserve(std::size_t n);
    char* write_ptr() noexcept { return buf_.data() + end_; }
    std::size_t space() const noexcept { return buf_.size() - end_; }
    void commit(std::size_t n) noexcept { end_ += n; }
    std::size_t buffered() const noexcept { return end_ - pos_; }
    // The unconsumed bytes as they are (the HTTP response before the first frame).
    std::string_view data() const noexcept { return {buf_.data() + pos_, end_ - pos_}; }
    void consume(std::size_t n) noexcept { pos_ += std::min(n, end_ - pos_); }

    Event next();
    // Valid until the next call of next() / reserve().
    std::string_view payload() const noexcept { return payload_; }
    bool is_text() const noexcept { return text_; }
    std::uint16_t close_code() const noexcept { return close_code_; }
    // Drops everything buffered (a new connection on the same object).
    void reset() noexcept;

private:
    Event fail(std::uint16_t code);

    std::vector<char> buf_;
    std::size_t pos_ = 0;  // first unconsumed byte
    std::size_t end_ = 0;  // end of the bytes written
    std::size_t need_ = 0;  // whole size of the incomplete frame at pos_ (0: unknown)
    std::size_t max_message_;
    std::string fragments_;  // a fragmented message being joined
    bool in_fragments_ = false;
    bool fragments_text_ = false;
    bool dead_ = false;
    bool text_ = false;
    std::uint16_t close_code_ = 0;
    std::string_view payload_;
};

// The upgrade request for `path` on `host`, offering `protocol` (none when empty).
// `key` is the base64 of 16 random bytes (Sec-WebSocket-Key).
std::string upgrade_request(std::string_view host, std::string_view path, std::string_view key,
                            std::string_view protocol);
// base64(16 bytes of `random`).
std::string make_key(std::uint64_t random_a, std::uint64_t random_b);
// Sec-WebSocket-Accept for `key`: base64(SHA-1(key + GUID)).
std::string accept_for(std::string_view key);
// Length of the response head ending in CRLFCRLF, or 0 while incomplete.
std::size_t head_length(std::string_view bytes) noexcept;
// Checks a complete response head: 101, Upgrade/Connection, the accept value and (when
// `protocol` is not empty) the chosen subprotocol. Returns "" or what is wrong.
std::string check_upgrade_response(std::string_view head, std::string_view key,
                                   std::string_view protocol);

}  // namespace agenthost::agentsim::ws
