// See ws_frame.hpp.
#include "tools/agentsim/ws_frame.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/evp.h>

namespace agenthost::agentsim::ws {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// XORs `n` bytes from `in` into `out` with the 4-byte key (byte i uses key byte i % 4),
// eight bytes at a time.
void mask_copy(char* out, const char* in, std::size_t n, std::uint32_t mask) {
    unsigned char key[4];
    std::memcpy(key, &mask, 4);
    std::uint64_t wide = 0;
    for (int i = 0; i < 8; ++i) {
        wide |= static_cast<std::uint64_t>(key[i % 4]) << (8 * i);
    }
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, in + i, 8);
        v ^= wide;  // little- or big-endian alike: byte j of `wide` is key[j % 4]
        std::memcpy(out + i, &v, 8);
    }
    for (; i < n; ++i) {
        out[i] = static_cast<char>(static_cast<unsigned char>(in[i]) ^ key[i % 4]);
    }
}

std::string base64(const unsigned char* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3), '\0');
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                    static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

// True when the comma-separated `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        if (iequals(trim(list.substr(0, comma)), token)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

void append_frame(std::string& out, Opcode op, std::string_view payload, std::uint32_t mask) {
    const std::size_t n = payload.size();
    unsigned char head[14];
    std::size_t h = 0;
    head[h++] = static_cast<unsigned char>(0x80 | static_cast<unsigned>(op));
    if (n < 126) {
        head[h++] = static_cast<unsigned char>(0x80 | n);
    } else if (n <= 0xFFFF) {
        head[h++] = 0x80 | 126;
        head[h++] = static_cast<unsigned char>(n >> 8);
        head[h++] = static_cast<unsigned char>(n);
    } else {
        head[h++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8) {
            head[h++] = static_cast<unsigned char>(static_cast<std::uint64_t>(n) >> shift);
        }
    }
    std::memcpy(head + h, &mask, 4);
    h += 4;
    const std::size_t at = out.size();
    out.resize(at + h + n);
    std::memcpy(out.data() + at, head, h);
    mask_copy(out.data() + at + h, payload.data(), n, mask);
}

void append_close(std::string& out, std::uint16_t code, std::uint32_t mask) {
    const char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    append_frame(out, Opcode::close, std::string_view(body, 2), mask);
}

void FrameReader::reserve(std::size_t n) {
    if (pos_ == end_) {
        pos_ = end_ = 0;
    }
    const std::size_t want = std::max(n, need_ > buffered() ? need_ - buffered() : 0);
    if (buf_.size() - end_ >= want) {
        return;
    }
    if (pos_ != 0) {
        std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
        end_ -= pos_;
        pos_ = 0;
    }
    if (buf_.size() - end_ < want) {
        buf_.resize(std::max(end_ + want, buf_.size() * 2));
    }
}

void FrameReader::reset() noexcept {
    pos_ = end_ = need_ = 0;
    fragments_.clear();
    in_fragments_ = false;
    dead_ = false;
    payload_ = {};
}

FrameReader::Event FrameReader::fail(std::uint16_t code) {
    dead_ = true;
    close_code_ = code;
    payload_ = {};
    return Event::error;
}

FrameReader::Event FrameReader::next() {
    if (dead_) {
        return Event::error;
    }
    for (;;) {
        const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
        const std::size_t avail = end_ - pos_;
        need_ = 0;
        if (avail < 2) {
            return Event::none;
        }
        const bool fin = (p[0] & 0x80) != 0;
        const auto op = static_cast<Opcode>(p[0] & 0x0F);
        if ((p[0] & 0x70) != 0 || (p[1] & 0x80) != 0) {
            return fail(kProtocolError);  // no extension negotiated; servers never mask
        }
        std::size_t head = 2;
        std::uint64_t len = p[1] & 0x7F;
        if (len == 126) {
            if (avail < 4) {
                return Event::none;
            }
            len = (std::uint64_t{p[2]} << 8) | p[3];
            head = 4;
        } else if (len == 127) {
            if (avail < 10) {
                return Event::none;
            }
            len = 0;
            for (int i = 2; i < 10; ++i) {
                len = (len << 8) | p[i];
            }
            head = 10;
        }
        const bool control = (static_cast<unsigned>(op) & 0x8) != 0;
        switch (op) {
        case Opcode::continuation:
        case Opcode::text:
        case Opcode::binary:
        case Opcode::close:
        case Opcode::ping:
        case Opcode::pong:
            break;
        default:
            return fail(kProtocolError);
        }
        if (control && (!fin || len > 125)) {
            return fail(kProtocolError);
        }
        const std::size_t joined = in_fragments_ ? fragments_.size() : 0;
        if (!control && len > max_message_ - std::min<std::size_t>(joined, max_message_)) {
            return fail(kTooBig);  // before buffering it
        }
        if (avail - head < len) {
            need_ = head + static_cast<std::size_t>(len);
            return Event::none;
        }
        const std::string_view body(buf_.data() + pos_ + head, static_cast<std::size_t>(len));
        pos_ += head + static_cast<std::size_t>(len);
        switch (op) {
        case Opcode::ping:
            payload_ = body;
            return Event::ping;
        case Opcode::pong:
            payload_ = body;
            return Event::pong;
        case Opcode::close:
            if (body.size() == 1) {
                return fail(kProtocolError);
            }
            close_code_ = body.size() >= 2
                              ? static_cast<std::uint16_t>(
                                    (static_cast<unsigned char>(body[0]) << 8) |
                                    static_cast<unsigned char>(body[1]))
                              : kNoStatus;
            payload_ = body.size() >= 2 ? body.substr(2) : std::string_view{};
            return Event::close;
        case Opcode::continuation:
            if (!in_fragments_) {
                return fail(kProtocolError);
            }
            fragments_.append(body);
            if (!fin) {
                continue;
            }
            in_fragments_ = false;
            payload_ = fragments_;
            text_ = fragments_text_;
            return Event::message;
        default:  // text, binary
            if (in_fragments_) {
                return fail(kProtocolError);  // a new message inside a fragmented one
            }
            if (!fin) {
                in_fragments_ = true;
                fragments_text_ = op == Opcode::text;
                fragments_.assign(body);
                continue;
            }
            payload_ = body;
            text_ = op == Opcode::text;
            return Event::message;
        }
    }
}

std::string upgrade_request(std::string_view host, std::string_view path, std::string_view key,
                            std::string_view protocol) {
    std::string r;
    r.reserve(256);
    r.append("GET ").append(path).append(" HTTP/1.1\r\nHost: ").append(host);
    r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    r.append(key).append("\r\nSec-WebSocket-Version: 13\r\n");
    if (!protocol.empty()) {
        r.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
    }
    r.append("User-Agent: agentsim\r\n\r\n");
    return r;
}

std::string make_key(std::uint64_t random_a, std::uint64_t random_b) {
    unsigned char raw[16];
    std::memcpy(raw, &random_a, 8);
    std::memcpy(raw + 8, &random_b, 8);
    return base64(raw, sizeof raw);
}

std::string accept_for(std::string_view key) {
    std::string input(key);
    input.append(kGuid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
    return base64(digest, len);
}

std::size_t head_length(std::string_view bytes) noexcept {
    const std::size_t at = bytes.find("\r\n\r\n");
    return at == std::string_view::npos ? 0 : at + 4;
}

std::string check_upgrade_response(std::string_view head, std::string_view key,
                                   std::string_view protocol) {
    std::size_t eol = head.find("\r\n");
    const std::string_view status = head.substr(0, eol);
    if (status.size() < 12 || status.substr(0, 7) != "HTTP/1." || status.substr(8, 4) != " 101") {
        return "not a 101 response: " + std::string(status.substr(0, 64));
    }
    bool upgrade = false;
    bool connection = false;
    bool accept = false;
    std::string_view chosen;
    const std::string expected = accept_for(key);
    while (eol != std::string_view::npos) {
        head.remove_prefix(eol + 2);
        eol = head.find("\r\n");
        const std::string_view line = head.substr(0, eol);
        const std::size_t colon = line.find(':');
        if (line.empty() || colon == std::string_view::npos) {
            continue;
        }
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "upgrade")) {
            upgrade = iequals(value, "websocket");
        } else if (iequals(name, "connection")) {
            connection = has_token(value, "upgrade");
        } else if (iequals(name, "sec-websocket-accept")) {
            accept = value == expected;
        } else if (iequals(name, "sec-websocket-protocol")) {
            chosen = value;
        }
    }
    if (!upgrade || !connection) {
        return "missing Upgrade: websocket / Connection: upgrade";
    }
    if (!accept) {
        return "wrong Sec-WebSocket-Accept";
    }
    if (chosen != protocol) {
        return "subprotocol '" + std::string(chosen) + "' instead of '" + std::string(protocol) +
               "'";
    }
    return {};
}

}  // namespace agenthost::agentsim::ws
