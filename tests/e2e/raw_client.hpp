#pragma once
// An agent client written from PROTOCOL.md alone (synchronous Beast + OpenSSL), with
// no kernel code: the e2e suite uses it to prove interoperability and to send frames
// a well-behaved gateway never would (replays, tampering, oversize, wrong agent).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/json.hpp>

namespace agenthost::e2e {

struct RawFrame {
    std::string text;                  // a message, when `close_code` is empty
    std::optional<std::uint16_t> close_code;
};

class RawAgentClient {
public:
    RawAgentClient(std::string ca, std::string cert, std::string key);
    ~RawAgentClient();
    // TCP + TLS + upgrade to /agent/v1 with subprotocol agenthost.v1. Throws on failure.
    void connect(std::uint16_t port);
    void send_text(const std::string& text);
    void send_binary(const std::string& bytes);
    // Next message or the close code; nullopt on timeout.
    std::optional<RawFrame> read(std::chrono::milliseconds timeout);
    // Reads until a close arrives; returns its code (nullopt on timeout).
    std::optional<std::uint16_t> wait_close(std::chrono::milliseconds timeout);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// PROTOCOL.md §2 by hand: HKDF-SHA256 key, JWS HS256 compact serialization.
std::string derive_key(const std::string& master_b64, const std::string& agent);
std::string sign_frame(const std::string& key, const std::string& kid,
                       const boost::json::object& payload);
boost::json::object envelope(const std::string& type, const std::string& agent,
                             boost::json::object body);
// The payload of a received frame (no verification), for tests that read answers.
boost::json::object frame_payload(const std::string& frame);

}  // namespace agenthost::e2e
