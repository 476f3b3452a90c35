#pragma once
// Agent protocol v1 framing (PROTOCOL.md §2): JWS compact serialization, HS256 with
// per-agent HKDF keys, and the receiver checks in the documented order. The codec
// is pure (no I/O, no clock of its own) so it can be fuzzed and benchmarked.
//
// Receiving is split in two around the asynchronous replay check:
//   verify()      size → structure/base64 → header → kid → MAC → JSON object →
//                 envelope types → agent → skew
//   (caller)      nonce check through the replay capability (4410 / 1013)
//   parse_body()  type known → body schema
// Every failure carries the close code that decides the session's fate.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <agenthost/json.hpp>

#include "kernel/crypto/keyring.hpp"

namespace agenthost::proto {

namespace json = boost::json;

struct Envelope {
    std::string kid;
    int v = 1;
    std::string type;
    std::string id;
    std::string agent;
    std::int64_t ts = 0;
    std::string nonce;
    json::object body;
};

struct Rejection {
    std::uint16_t close_code = 4400;  // see net::close_code
    std::string reason;               // short, safe to log and to send in `error`
    std::optional<std::string> ref;   // the offending message id, when readable
};

struct VerifyOptions {
    std::size_t max_frame_bytes = 1 << 20;
    std::int64_t max_skew_ms = 30'000;
    std::int64_t now_ms = 0;          // receiver's clock
    std::string_view expected_agent;  // the session's mTLS identity
    std::string_view required_kid;    // non-empty once the session's kid is fixed
    // With required_kid: the per-agent key for (required_kid, expected_agent) from the
    // same keyring, when the caller already holds it (a session after its hello), so
    // the frame path skips the keyring's locked cache lookup and the key copy.
    std::string_view session_key;
};

// Result of verify(): the envelope, or why it was rejected.
struct Verified {
    std::optional<Envelope> envelope;
    Rejection rejection;
    bool ok() const noexcept { return envelope.has_value(); }
};

// Verifies a frame up to and including the skew check. Never throws.
Verified verify(std::string_view frame, const crypto::Keyring& keys, const VerifyOptions& opts);

// Builds a signed frame. `nonce` and `id` are generated when empty.
std::string encode(std::string_view type, std::string_view agent, const json::object& body,
                   std::string_view kid, std::string_view agent_key, std::int64_t now_ms,
                   std::string id = {}, std::string nonce = {});

// The same with the body already serialized: `body_json` must be the text of one JSON
// object (it is copied into the payload as is, not checked). For senders that write a
// fixed-shape body directly, such as a load generator, instead of building objects.
std::string encode_serialized(std::string_view type, std::string_view agent,
                              std::string_view body_json, std::string_view kid,
                              std::string_view agent_key, std::int64_t now_ms,
                              std::string id = {}, std::string nonce = {});

}  // namespace agenthost::proto
