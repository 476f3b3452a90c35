#include "kernel/proto/codec.hpp"

#include <boost/json/parser.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <limits>
#include <utility>

#include "kernel/proto/b64url.hpp"
#include "kernel/proto/envelope_parser.hpp"
#include "kernel/proto/frame_arena.hpp"
#include "kernel/proto/jws_header.hpp"
#include "kernel/util/encoding.hpp"
#include "kernel/util/ids.hpp"

namespace agenthost::proto {
namespace {

constexpr std::string_view kAlg = "HS256";
constexpr std::string_view kTyp = "agenthost.v1";
constexpr std::size_t kMaxRefChars = 128;  // an id echoed in `error` stays small

constexpr std::uint16_t kTooBig = 1009;
constexpr std::uint16_t kMalformed = 4400;
constexpr std::uint16_t kAuthFailed = 4401;
constexpr std::uint16_t kForbidden = 4403;
constexpr std::uint16_t kStale = 4410;

Verified reject(std::uint16_t code, std::string reason,
                std::optional<std::string> ref = std::nullopt) {
    Verified v;
    v.rejection = Rejection{code, std::move(reason), std::move(ref)};
    return v;
}

// Reuses one parser per thread so its internal value stack is allocated once.
json::parser& payload_parser() {
    thread_local json::parser parser;
    return parser;
}

std::optional<json::object> parse_object(std::string_view text, json::storage_ptr sp = {}) {
    json::parser& p = payload_parser();
    p.reset(std::move(sp));
    json::error_code ec;
    p.write(text.data(), text.size(), ec);
    if (ec) {
        return std::nullopt;
    }
    json::value v = p.release();
    p.reset();  // drop the parser's reference to the arena the value now owns
    if (!v.is_object()) {
        return std::nullopt;
    }
    return std::move(v.as_object());
}

std::optional<std::string> id_of(const json::object& payload) {
    auto it = payload.find("id");
    if (it == payload.end() || !it->value().is_string()) {
        return std::nullopt;
    }
    const json::string& s = it->value().get_string();
    if (s.empty() || s.size() > kMaxRefChars) {
        return std::nullopt;
    }
    return std::string(s.data(), s.size());
}

// For rejections before the payload is trusted: the id still lets an `error` frame
// point at the offending message. Only runs on the failure path.
std::optional<std::string> best_effort_ref(std::string_view payload_b64) {
    std::string bytes;
    if (!detail::b64url_decode_into(payload_b64, bytes)) {
        return std::nullopt;
    }
    auto obj = parse_object(bytes);
    return obj ? id_of(*obj) : std::nullopt;
}

bool valid_nonce(std::string_view s) {
    std::size_t bytes = 0;
    return detail::b64url_valid(s, bytes) && bytes >= 16;
}

// Envelope field shapes (4400), in PROTOCOL.md's order; empty when all are fine.
std::string_view envelope_error(const detail::EnvelopeFields& f) {
    using Kind = detail::EnvelopeFields::Kind;
    if (f.v != Kind::integer || f.v_value != 1) {
        return "envelope field 'v' must be the integer 1";
    }
    if (f.type != Kind::string) {
        return "envelope field 'type' must be a string";
    }
    if (f.id != Kind::string || !util::is_uuid(f.id_text)) {
        return "envelope field 'id' must be a UUID string";
    }
    if (f.agent != Kind::string) {
        return "envelope field 'agent' must be a string";
    }
    if (f.ts != Kind::integer) {
        return "envelope field 'ts' must be an integer (Unix ms)";
    }
    if (f.nonce != Kind::string || !valid_nonce(f.nonce_text)) {
        return "envelope field 'nonce' must be canonical base64url of at least 16 bytes";
    }
    if (f.body != Kind::object) {
        return "envelope field 'body' must be an object";
    }
    return {};
}

// The message id an `error` frame may echo (as id_of() reads it from an object).
std::optional<std::string> ref_of(const detail::EnvelopeFields& f) {
    if (f.id != detail::EnvelopeFields::Kind::string || f.id_text.empty() ||
        f.id_text.size() > kMaxRefChars) {
        return std::nullopt;
    }
    return f.id_text;
}

// Appends `s` as a JSON string exactly as Boost.JSON's serializer writes it: the
// common case (nothing to escape) is one append; anything else goes through it.
void append_json_string(std::string& out, std::string_view s) {
    for (char c : s) {
        if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') {
            out.append(json::serialize(s));
            return;
        }
    }
    out.push_back('"');
    out.append(s);
    out.push_back('"');
}

// Appends the serialized object through a per-thread serializer (no temporary string).
void append_json_object(std::string& out, const json::object& o) {
    thread_local json::serializer sr;
    sr.reset(&o);
    while (!sr.done()) {
        const std::size_t at = out.size();
        out.resize(at + std::max<std::size_t>(256, out.capacity() - at));
        const std::string_view chunk = sr.read(out.data() + at, out.size() - at);
        out.resize(at + chunk.size());
    }
}

bool within_skew(std::int64_t now, std::int64_t ts, std::int64_t skew) {
    // Unsigned distance: ts is attacker-chosen and may sit at the int64 limits, where
    // a signed subtraction would overflow. The true distance always fits in 64 bits.
    std::uint64_t diff = ts >= now
                             ? static_cast<std::uint64_t>(ts) - static_cast<std::uint64_t>(now)
                             : static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(ts);
    return skew >= 0 && diff <= static_cast<std::uint64_t>(skew);
}

Verified verify_impl(std::string_view frame, const crypto::Keyring& keys,
                     const VerifyOptions& opts) {
    // 1. size
    if (frame.size() > opts.max_frame_bytes) {
        return reject(kTooBig, "message exceeds max_frame_bytes");
    }
    // 2. structure: exactly three non-empty canonical unpadded base64url segments
    std::size_t d1 = frame.find('.');
    std::size_t d2 = d1 == std::string_view::npos ? d1 : frame.find('.', d1 + 1);
    if (d2 == std::string_view::npos || frame.find('.', d2 + 1) != std::string_view::npos) {
        return reject(kMalformed, "not a JWS compact serialization (need three segments)");
    }
    std::string_view h64 = frame.substr(0, d1);
    std::string_view p64 = frame.substr(d1 + 1, d2 - d1 - 1);
    std::string_view s64 = frame.substr(d2 + 1);
    if (h64.empty() || p64.empty() || s64.empty()) {
        return reject(kMalformed, "empty JWS segment");
    }
    // Per-thread buffers: a verified frame costs no allocation for its raw segments.
    thread_local std::string header_bytes, payload_bytes, signature;
    bool payload_ok = detail::b64url_decode_into(p64, payload_bytes);
    if (!payload_ok || !detail::b64url_decode_into(h64, header_bytes) ||
        !detail::b64url_decode_into(s64, signature)) {
        return reject(kMalformed, "JWS segment is not canonical unpadded base64url",
                      payload_ok ? best_effort_ref(p64) : std::nullopt);
    }
    // 3. header: exactly alg/kid/typ, alg HS256, typ agenthost.v1
    auto header = detail::parse_jws_header(header_bytes);
    if (!header) {
        return reject(kAuthFailed, "header must be a JSON object with exactly alg, kid, typ",
                      best_effort_ref(p64));
    }
    if (header->alg != kAlg) {
        return reject(kAuthFailed, "unsupported alg (only HS256)", best_effort_ref(p64));
    }
    if (header->typ != kTyp) {
        return reject(kAuthFailed, "typ must be agenthost.v1", best_effort_ref(p64));
    }
    // 4. kid known (and, once fixed, the session's kid)
    if (!keys.knows(header->kid)) {
        return reject(kAuthFailed, "unknown kid", best_effort_ref(p64));
    }
    if (!opts.required_kid.empty() && header->kid != opts.required_kid) {
        return reject(kAuthFailed, "kid differs from the session's kid", best_effort_ref(p64));
    }
    // 5. MAC over the exact received bytes, with the key of the session's identity
    std::optional<std::string> looked_up;
    std::string_view key = opts.session_key;
    if (key.empty() || opts.required_kid.empty()) {
        looked_up = keys.agent_key(header->kid, opts.expected_agent);
        if (!looked_up) {
            return reject(kAuthFailed, "no key for this agent under that kid",
                          best_effort_ref(p64));
        }
        key = *looked_up;
    }
    unsigned char mac[32];
    crypto::hmac_sha256_into(key, frame.substr(0, d2), mac);
    if (!crypto::equal_ct(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac),
                          signature)) {
        return reject(kAuthFailed, "bad signature", best_effort_ref(p64));
    }
    // 6. payload is a JSON object
    // Read as a stream: the envelope members go straight to their fields and only the
    // body is built, in one arena that the envelope's body keeps alive (no allocation
    // per member, nothing to free piecemeal; small frames' arenas come from a stash).
    detail::EnvelopeFields f;
    if (!detail::parse_envelope(payload_bytes, detail::make_frame_arena(payload_bytes.size()),
                                f)) {
        return reject(kMalformed, "payload is not a JSON object");
    }
    // 7. envelope field types
    if (auto err = envelope_error(f); !err.empty()) {
        return reject(kMalformed, std::string(err), ref_of(f));
    }
    // 8. agent equals the session identity
    if (f.agent_text != opts.expected_agent) {
        return reject(kForbidden, "agent does not match the session identity", ref_of(f));
    }
    // 9. skew
    if (!within_skew(opts.now_ms, f.ts_value, opts.max_skew_ms)) {
        return reject(kStale, "ts outside the allowed clock skew", ref_of(f));
    }
    // The body is move-constructed (never assigned) so that it keeps the arena's
    // storage: assigning across memory resources copies every member.
    Verified out;
    out.envelope.emplace(Envelope{std::move(header->kid), 1, std::move(f.type_text),
                                  std::move(f.id_text), std::move(f.agent_text), f.ts_value,
                                  std::move(f.nonce_text),
                                  json::object(std::move(*f.body_object))});
    return out;
}

}  // namespace

Verified verify(std::string_view frame, const crypto::Keyring& keys, const VerifyOptions& opts) {
    try {
        return verify_impl(frame, keys, opts);
    } catch (const std::bad_alloc&) {
        return reject(1011, "out of memory while verifying");
    } catch (const std::exception&) {
        // Only an OpenSSL failure (HKDF/HMAC) can get here: a fault of ours, not the peer's.
        return reject(1011, "internal error while verifying");
    }
}

namespace {

// Signs one frame whose body `append_body(payload)` writes as JSON.
template <typename AppendBody>
std::string encode_with(std::string_view type, std::string_view agent, AppendBody&& append_body,
                        std::string_view kid, std::string_view agent_key, std::int64_t now_ms,
                        std::string id, std::string nonce) {
    if (id.empty()) {
        id = util::uuid_v4();
    }
    if (nonce.empty()) {
        nonce = util::nonce();
    }
    // The JSON is written straight into per-thread buffers, byte for byte what
    // serializing the equivalent json::object gives (member order as in PROTOCOL.md
    // §7): no intermediate objects, no copy of the body, one allocation (the frame).
    thread_local std::string header;
    header.assign(R"({"alg":"HS256","kid":)");
    append_json_string(header, kid);
    header.append(R"(,"typ":"agenthost.v1"})");

    thread_local std::string payload;
    payload.assign(R"({"v":1,"type":)");
    append_json_string(payload, type);
    payload.append(R"(,"id":)");
    append_json_string(payload, id);
    payload.append(R"(,"agent":)");
    append_json_string(payload, agent);
    payload.append(R"(,"ts":)");
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, now_ms).ptr;
    payload.append(digits, end);
    payload.append(R"(,"nonce":)");
    append_json_string(payload, nonce);
    payload.append(R"(,"body":)");
    append_body(payload);
    payload.push_back('}');

    std::string frame;
    frame.reserve((header.size() + payload.size() + 2) / 3 * 4 + 4 + 2 + 43);
    detail::b64url_encode_append(header, frame);
    frame.push_back('.');
    detail::b64url_encode_append(payload, frame);
    unsigned char mac[32];
    crypto::hmac_sha256_into(agent_key, frame, mac);
    frame.push_back('.');
    detail::b64url_encode_append(std::string_view(reinterpret_cast<const char*>(mac), sizeof mac),
                                 frame);
    return frame;
}

}  // namespace

std::string encode(std::string_view type, std::string_view agent, const json::object& body,
                   std::string_view kid, std::string_view agent_key, std::int64_t now_ms,
                   std::string id, std::string nonce) {
    return encode_with(
        type, agent, [&body](std::string& out) { append_json_object(out, body); }, kid,
        agent_key, now_ms, std::move(id), std::move(nonce));
}

std::string encode_serialized(std::string_view type, std::string_view agent,
                              std::string_view body_json, std::string_view kid,
                              std::string_view agent_key, std::int64_t now_ms, std::string id,
                              std::string nonce) {
    return encode_with(
        type, agent, [body_json](std::string& out) { out.append(body_json); }, kid, agent_key,
        now_ms, std::move(id), std::move(nonce));
}

}  // namespace agenthost::proto
