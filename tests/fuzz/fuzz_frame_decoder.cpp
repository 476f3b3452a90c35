// libFuzzer target for the receive path: JWS framing, header, envelope and every body
// schema. A MAC cannot be forged by mutation, so the first input byte picks how the
// rest is used (the seed corpus is laid out the same way):
//   0  the bytes are a whole frame                        → verify (+ body parse)
//   1  the bytes are a payload, signed here with the key  → verify → body parse
//   2  the bytes are a header, signed here with a payload → verify
//   3  the bytes are a body JSON object                   → every body parser
// Invariant checked besides "no crash": whatever a body parser accepts, it accepts
// again after to_json() (what we send, we also receive).
#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "kernel/crypto/keyring.hpp"
#include "kernel/proto/codec.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/encoding.hpp"

using namespace agenthost;
namespace json = boost::json;

namespace {

constexpr std::int64_t kNow = 1764201600000;
constexpr std::size_t kMaxPoints = 64;
constexpr std::string_view kHeader = R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1"})";
constexpr std::string_view kPayload =
    R"({"v":1,"type":"ack","id":"00000000-0000-4000-8000-000000000001","agent":"gw-01",)"
    R"("ts":1764201600000,"nonce":"AAAAAAAAAAAAAAAAAAAAAA",)"
    R"("body":{"command_id":"00000000-0000-4000-8000-000000000001"}})";

std::string master() {
    std::string m;
    for (int i = 0; i < 32; ++i) {
        m.push_back(static_cast<char>(i));
    }
    return m;
}

const crypto::Keyring& ring() {
    static const crypto::Keyring r = crypto::Keyring::from_masters({{"k1", master()}});
    return r;
}

const std::string& agent_key() {
    static const std::string k = crypto::derive_agent_key(master(), "gw-01");
    return k;
}

std::string sign(std::string_view header, std::string_view payload) {
    std::string f = util::base64url_encode(header) + "." + util::base64url_encode(payload);
    return f + "." + util::base64url_encode(crypto::hmac_sha256(agent_key(), f));
}

template <typename Body, typename... Extra>
void round_trip(const json::object& body, Extra... extra) {
    auto first = Body::parse(body, extra...);
    if (!first.ok()) {
        return;
    }
    auto second = Body::parse(first->to_json(), extra...);
    if (!second.ok()) {
        std::abort();  // we would send something we refuse to receive
    }
}

void parse_bodies(const json::object& body) {
    round_trip<proto::HelloBody>(body);
    round_trip<proto::AckBody>(body);
    round_trip<proto::ResultBody>(body);
    round_trip<proto::TelemetryBody>(body, kMaxPoints);
    round_trip<proto::WelcomeBody>(body);
    round_trip<proto::CommandBody>(body);
    round_trip<proto::ResultAckBody>(body);
    round_trip<proto::TelemetryAckBody>(body);
    round_trip<proto::ErrorBody>(body);
}

void verify_and_parse(const std::string& frame, std::int64_t max_skew) {
    proto::VerifyOptions o;
    o.now_ms = kNow;
    o.max_skew_ms = max_skew;
    o.expected_agent = "gw-01";
    o.max_frame_bytes = 1 << 16;
    auto v = proto::verify(frame, ring(), o);
    if (!v.ok()) {
        // Every rejection maps to a documented close code.
        auto c = v.rejection.close_code;
        if (c != 1009 && c != 4400 && c != 4401 && c != 4403 && c != 4410) {
            std::abort();
        }
        return;
    }
    const auto& e = *v.envelope;
    (void)proto::known_type(e.type, true);
    (void)proto::parse_agent_body(e.type, e.body, kMaxPoints);
    (void)proto::parse_backend_body(e.type, e.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0:
            verify_and_parse(std::string(rest), 30'000);
            break;
        case 1:
            // Any ts passes the skew check here, so mutations reach the body parsers.
            verify_and_parse(sign(kHeader, rest), std::numeric_limits<std::int64_t>::max());
            break;
        case 2:
            verify_and_parse(sign(rest, kPayload), 30'000);
            break;
        default: {
            json::error_code ec;
            json::value v = json::parse(rest, ec);
            if (!ec && v.is_object()) {
                parse_bodies(v.as_object());
            }
            break;
        }
    }
    return 0;
}
