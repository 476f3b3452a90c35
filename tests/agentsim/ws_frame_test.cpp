// agentsim's client WebSocket framing: masked client frames (RFC 6455 §5.2/§5.3, checked
// by unmasking), the incremental reader (byte-at-a-time and fragmented delivery, control
// frames, oversize, protocol errors) and the upgrade handshake (RFC 6455 §1.3 example).
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tools/agentsim/ws_frame.hpp"

namespace ws = agenthost::agentsim::ws;
using Event = ws::FrameReader::Event;

namespace {

// A server frame (unmasked) with an explicit FIN bit and opcode.
std::string server_frame(bool fin, unsigned opcode, const std::string& payload) {
    std::string f;
    f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(n));
    } else if (n <= 0xFFFF) {
        f.push_back(126);
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xFF));
    } else {
        f.push_back(127);
        for (int s = 56; s >= 0; s -= 8) {
            f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> s) & 0xFF));
        }
    }
    return f + payload;
}

void feed(ws::FrameReader& r, std::string_view bytes) {
    if (bytes.empty()) {
        return;
    }
    r.reserve(bytes.size());
    ASSERT_GE(r.space(), bytes.size());
    std::memcpy(r.write_ptr(), bytes.data(), bytes.size());
    r.commit(bytes.size());
}

// Decodes one masked client frame: fin, opcode, unmasked payload; consumed bytes.
struct Decoded {
    bool fin = false;
    unsigned opcode = 0;
    bool masked = false;
    std::string payload;
    std::size_t size = 0;
};

Decoded decode_client(std::string_view f) {
    Decoded d;
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(f[i]); };
    d.fin = (b(0) & 0x80) != 0;
    d.opcode = b(0) & 0x0F;
    d.masked = (b(1) & 0x80) != 0;
    std::uint64_t len = b(1) & 0x7F;
    std::size_t at = 2;
    if (len == 126) {
        len = (std::uint64_t{b(2)} << 8) | b(3);
        at = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; ++i) {
            len = (len << 8) | b(static_cast<std::size_t>(i));
        }
        at = 10;
    }
    unsigned char key[4] = {};
    if (d.masked) {
        std::memcpy(key, f.data() + at, 4);
        at += 4;
    }
    for (std::size_t i = 0; i < len; ++i) {
        d.payload.push_back(static_cast<char>(b(at + i) ^ key[i % 4]));
    }
    d.size = at + len;
    return d;
}

std::string text_of(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s.push_back(static_cast<char>('a' + (i * 7) % 26));
    }
    return s;
}

}  // namespace

TEST(AgentsimWsFrame, ClientFramesAreMaskedAndUnmaskToThePayload) {
    // Around every length-encoding boundary and the 8-byte masking stride.
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
        const std::string payload = text_of(n);
        std::string out = "prefix";
        ws::append_frame(out, ws::Opcode::text, payload, 0xA1B2C3D4u);
        ASSERT_EQ(out.substr(0, 6), "prefix");
        const Decoded d = decode_client(std::string_view(out).substr(6));
        EXPECT_TRUE(d.fin);
        EXPECT_EQ(d.opcode, 1u);
        EXPECT_TRUE(d.masked) << "RFC 6455 §5.3: a client masks every frame";
        EXPECT_EQ(d.size, out.size() - 6);
        EXPECT_EQ(d.payload, payload) << n;
        if (n >= 8) {
            // The wire bytes are not the payload (a non-zero key changes them).
            EXPECT_NE(out.substr(out.size() - n), payload);
        }
    }
}

TEST(AgentsimWsFrame, CloseFrameCarriesTheCode) {
    std::string out;
    ws::append_close(out, 1000, 0x01020304u);
    const Decoded d = decode_client(out);
    EXPECT_EQ(d.opcode, 8u);
    ASSERT_EQ(d.payload.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(d.payload[0]), 0x03);
    EXPECT_EQ(static_cast<unsigned char>(d.payload[1]), 0xE8);
}

TEST(AgentsimWsFrame, ReaderReturnsMessagesFedByteByByte) {
    const std::string a = text_of(5);
    const std::string b = text_of(300);     // 16-bit length
    const std::string c = text_of(70000);  // 64-bit length
    const std::string wire = server_frame(true, 1, a) + server_frame(true, 2, b) +
                             server_frame(true, 1, c);
    ws::FrameReader r;
    std::vector<std::string> got;
    for (char ch : wire) {
        feed(r, std::string_view(&ch, 1));
        for (Event e = r.next(); e != Event::none; e = r.next()) {
            ASSERT_EQ(e, Event::message);
            got.emplace_back(r.payload());
        }
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], a);
    EXPECT_EQ(got[1], b);
    EXPECT_EQ(got[2], c);
    EXPECT_EQ(r.buffered(), 0u);
}

TEST(AgentsimWsFrame, ReaderSplitsReadsAtEveryOffset) {
    const std::string wire = server_frame(true, 1, "hello") + server_frame(true, 9, "p") +
                             server_frame(true, 1, text_of(200));
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
        ws::FrameReader r;
        std::vector<Event> events;
        for (std::string_view part : {std::string_view(wire).substr(0, cut),
                                      std::string_view(wire).substr(cut)}) {
            feed(r, part);
            for (Event e = r.next(); e != Event::none; e = r.next()) {
                events.push_back(e);
            }
        }
        ASSERT_EQ(events, (std::vector<Event>{Event::message, Event::ping, Event::message}))
            << "cut at " << cut;
    }
}

TEST(AgentsimWsFrame, FragmentsAreJoinedAroundControlFrames) {
    ws::FrameReader r;
    feed(r, server_frame(false, 1, "hel") + server_frame(true, 9, "are you there") +
                server_frame(false, 0, "lo, ") + server_frame(true, 0, "world"));
    ASSERT_EQ(r.next(), Event::ping);  // a control frame may come between fragments
    EXPECT_EQ(r.payload(), "are you there");
    ASSERT_EQ(r.next(), Event::message);
    EXPECT_TRUE(r.is_text());
    EXPECT_EQ(r.payload(), "hello, world");
    EXPECT_EQ(r.next(), Event::none);
}

TEST(AgentsimWsFrame, CloseFrameCodeAndNoStatus) {
    ws::FrameReader r;
    feed(r, server_frame(true, 8, std::string("\x0F\xA0", 2) + "bye"));  // 4000
    ASSERT_EQ(r.next(), Event::close);
    EXPECT_EQ(r.close_code(), 4000);
    EXPECT_EQ(r.payload(), "bye");
    ws::FrameReader empty;
    feed(empty, server_frame(true, 8, ""));
    ASSERT_EQ(empty.next(), Event::close);
    EXPECT_EQ(empty.close_code(), ws::kNoStatus);
}

TEST(AgentsimWsFrame, OversizeMessageFailsBeforeItIsBuffered) {
    ws::FrameReader r(1000);
    // Only the header of a 5,000-byte frame: refused at once with 1009.
    const std::string frame = server_frame(true, 1, text_of(5000));
    feed(r, std::string_view(frame).substr(0, 4));
    ASSERT_EQ(r.next(), Event::error);
    EXPECT_EQ(r.close_code(), ws::kTooBig);
    EXPECT_EQ(r.next(), Event::error);  // stays dead

    // Fragments adding up past the limit, too.
    ws::FrameReader f(1000);
    feed(f, server_frame(false, 1, text_of(600)) + server_frame(true, 0, text_of(600)));
    ASSERT_EQ(f.next(), Event::error);
    EXPECT_EQ(f.close_code(), ws::kTooBig);

    // Exactly at the limit passes.
    ws::FrameReader ok(1000);
    feed(ok, server_frame(true, 1, text_of(1000)));
    EXPECT_EQ(ok.next(), Event::message);
}

TEST(AgentsimWsFrame, ProtocolViolationsAreErrors) {
    const std::vector<std::string> bad = {
        std::string("\x81\x85" "abcd" "hello", 11),  // a masked server frame
        std::string("\xC1\x01" "x", 3),              // RSV1 without an extension
        std::string("\x83\x01" "x", 3),              // reserved opcode
        std::string("\x09\x01" "x", 3),              // fragmented ping
        server_frame(true, 9, text_of(126)),         // control frame > 125 bytes
        server_frame(true, 0, "x"),                  // continuation without a start
        server_frame(false, 1, "a") + server_frame(true, 1, "b"),  // new message inside one
        server_frame(true, 8, "x"),                  // close with a 1-byte body
    };
    for (const auto& wire : bad) {
        ws::FrameReader r;
        feed(r, wire);
        Event e = r.next();
        ASSERT_EQ(e, Event::error) << testing::PrintToString(wire);
        EXPECT_EQ(r.close_code(), ws::kProtocolError);
    }
}

TEST(AgentsimWsFrame, ResetStartsClean) {
    ws::FrameReader r;
    feed(r, std::string("\x81\x85" "abcd" "hello", 11));
    ASSERT_EQ(r.next(), Event::error);
    r.reset();
    feed(r, server_frame(true, 1, "again"));
    ASSERT_EQ(r.next(), Event::message);
    EXPECT_EQ(r.payload(), "again");
}

TEST(AgentsimWsFrame, UpgradeHandshake) {
    // RFC 6455 §1.3's example key and accept value.
    EXPECT_EQ(ws::accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const std::string key = ws::make_key(0x0102030405060708ull, 0x1112131415161718ull);
    EXPECT_EQ(key.size(), 24u);

    const std::string req = ws::upgrade_request("127.0.0.1", "/agent/v1", key, "agenthost.v1");
    EXPECT_EQ(req.rfind("GET /agent/v1 HTTP/1.1\r\n", 0), 0u);
    EXPECT_NE(req.find("Sec-WebSocket-Key: " + key + "\r\n"), std::string::npos);
    EXPECT_NE(req.find("Sec-WebSocket-Protocol: agenthost.v1\r\n"), std::string::npos);
    EXPECT_NE(req.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
    EXPECT_EQ(ws::head_length(req), req.size());
    EXPECT_EQ(ws::upgrade_request("h", "/", key, "").find("Sec-WebSocket-Protocol"),
              std::string::npos);

    const std::string good = "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                             "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " +
                             ws::accept_for(key) +
                             "\r\nSec-WebSocket-Protocol: agenthost.v1\r\n\r\n";
    EXPECT_EQ(ws::head_length(good + "\x81\x00"), good.size());
    EXPECT_EQ(ws::head_length(good.substr(0, good.size() - 1)), 0u);
    EXPECT_EQ(ws::check_upgrade_response(good, key, "agenthost.v1"), "");
    EXPECT_NE(ws::check_upgrade_response(good, key, ""), "");  // unrequested subprotocol
    EXPECT_NE(ws::check_upgrade_response(good, "x" + key, "agenthost.v1"), "");  // accept
    EXPECT_NE(ws::check_upgrade_response("HTTP/1.1 403 Forbidden\r\n\r\n", key, ""), "");
    const std::string no_proto = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                                 "Sec-WebSocket-Accept: " + ws::accept_for(key) + "\r\n\r\n";
    EXPECT_EQ(ws::check_upgrade_response(no_proto, key, ""), "");
    EXPECT_NE(ws::check_upgrade_response(no_proto, key, "agenthost.v1"), "");
}
