#include "kernel/proto/codec.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <limits>
#include <optional>
#include <vector>
#include <set>
#include <string>

#include "kernel/proto/b64url.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/encoding.hpp"
#include "kernel/util/ids.hpp"

using namespace agenthost;
namespace json = boost::json;

namespace {

constexpr std::int64_t kNow = 1764201600000;
constexpr char kVectorFrame[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYWdlbnRob3N0LnYxIn0."
    "eyJ2IjoxLCJ0eXBlIjoiaGVsbG8iLCJpZCI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMSIsImFnZ"
    "W50IjoiZ3ctMDEiLCJ0cyI6MTc2NDIwMTYwMDAwMCwibm9uY2UiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwiYm9ke"
    "SI6eyJhZ2VudF92ZXJzaW9uIjoiMS4wLjAiLCJob3N0bmFtZSI6Imd3LTAxLmV4YW1wbGUiLCJwbGF0Zm9ybSI6Imxpbn"
    "V4LXg4Nl82NCIsImNhcGFiaWxpdGllcyI6WyJidWlsdGluLmVjaG8iXSwic3Bvb2wiOnsicmVzdWx0cyI6MCwidGVsZW1l"
    "dHJ5IjowfX19.O3BI16fVemRaCzEoOYWtUolBHIJCtxnrVf_KgsdQjtc";
constexpr char kVectorId[] = "00000000-0000-4000-8000-000000000001";
constexpr char kHeader[] = R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1"})";

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

std::string key_for(const std::string& agent) {
    return crypto::derive_agent_key(master(), agent);
}

proto::VerifyOptions opts(std::string_view agent = "gw-01") {
    proto::VerifyOptions o;
    o.now_ms = kNow;
    o.expected_agent = agent;
    return o;
}

// Signs arbitrary header and payload bytes, so tests can build any malformed frame.
std::string sign_raw(std::string_view header, std::string_view payload,
                     const std::string& key = key_for("gw-01")) {
    std::string f = util::base64url_encode(header) + "." + util::base64url_encode(payload);
    return f + "." + util::base64url_encode(crypto::hmac_sha256(key, f));
}

json::object envelope() {
    return json::object{{"v", 1},
                        {"type", "ack"},
                        {"id", kVectorId},
                        {"agent", "gw-01"},
                        {"ts", kNow},
                        {"nonce", "AAAAAAAAAAAAAAAAAAAAAA"},
                        {"body", {{"command_id", kVectorId}}}};
}

proto::Verified check(const std::string& frame, const proto::VerifyOptions& o = opts()) {
    return proto::verify(frame, ring(), o);
}

void expect_reject(const proto::Verified& v, std::uint16_t code, const char* what) {
    EXPECT_FALSE(v.ok()) << what;
    EXPECT_EQ(v.rejection.close_code, code) << what << ": " << v.rejection.reason;
}

}  // namespace

TEST(Codec, ProtocolTestVectorVerifies) {
    auto v = check(kVectorFrame);
    ASSERT_TRUE(v.ok()) << v.rejection.reason;
    const auto& e = *v.envelope;
    EXPECT_EQ(e.kid, "k1");
    EXPECT_EQ(e.v, 1);
    EXPECT_EQ(e.type, "hello");
    EXPECT_EQ(e.id, kVectorId);
    EXPECT_EQ(e.agent, "gw-01");
    EXPECT_EQ(e.ts, kNow);
    EXPECT_EQ(e.nonce, "AAAAAAAAAAAAAAAAAAAAAA");
    auto hello = proto::HelloBody::parse(e.body);
    ASSERT_TRUE(hello.ok()) << hello.status().message();
    EXPECT_EQ(hello->agent_version, "1.0.0");
    EXPECT_EQ(hello->hostname, "gw-01.example");
    EXPECT_EQ(hello->platform, "linux-x86_64");
    ASSERT_EQ(hello->capabilities.size(), 1u);
    EXPECT_EQ(hello->capabilities[0], "builtin.echo");
}

TEST(Codec, ProtocolTestVectorWithGatewayKeyring) {
    // The gateway form holds only the derived key (base64 from `agenthost keys derive`).
    auto k = util::base64_decode("YJeMIgGNOiUUyI6EhC70y7ZvX8batLpWrsDDHWPAYRs=");
    ASSERT_TRUE(k.has_value());
    auto gw = crypto::Keyring::from_agent_key("k1", "gw-01", *k);
    EXPECT_TRUE(proto::verify(kVectorFrame, gw, opts()).ok());
    expect_reject(proto::verify(kVectorFrame, gw, opts("gw-02")), 4401, "other agent");
}

TEST(Codec, EncodeReproducesTestVector) {
    proto::HelloBody h;
    h.agent_version = "1.0.0";
    h.hostname = "gw-01.example";
    h.platform = "linux-x86_64";
    h.capabilities = {"builtin.echo"};
    std::string frame = proto::encode("hello", "gw-01", h.to_json(), "k1", key_for("gw-01"), kNow,
                                      kVectorId, "AAAAAAAAAAAAAAAAAAAAAA");
    EXPECT_EQ(frame, kVectorFrame);
}

TEST(Codec, EncodeVerifyRoundTrip) {
    json::object body{
        {"batch_id", "b-1"},
        {"points", json::array{json::object{{"metric", "cpu"}, {"ts", kNow}, {"value", 0.5}}}}};
    std::string frame = proto::encode("telemetry", "gw-01", body, "k1", key_for("gw-01"), kNow);
    auto v = check(frame);
    ASSERT_TRUE(v.ok()) << v.rejection.reason;
    EXPECT_EQ(v.envelope->type, "telemetry");
    EXPECT_EQ(v.envelope->body, body);
    EXPECT_EQ(v.envelope->nonce.size(), 22u);
    EXPECT_EQ(v.envelope->id.size(), 36u);
    // Fresh id and nonce each time.
    auto v2 = check(proto::encode("telemetry", "gw-01", body, "k1", key_for("gw-01"), kNow));
    ASSERT_TRUE(v2.ok());
    EXPECT_NE(v2.envelope->id, v.envelope->id);
    EXPECT_NE(v2.envelope->nonce, v.envelope->nonce);
}

// encode() writes the JSON itself: its header and payload must be byte for byte what
// Boost.JSON serializes for the same members, escapes included.
TEST(Codec, EncodeWritesWhatTheSerializerWrites) {
    const std::string agent = "gw-\"01\"\n\x01\\ \xc3\xa9";
    const std::string kid = "k\t1";
    json::object body{{"s", "x\"y\u2028"}, {"n", -3}, {"d", 0.1}, {"a", json::array{1, "b"}}};
    std::string frame =
        proto::encode("ty\"pe", agent, body, kid, key_for("gw-01"), -12, "id\x7f", "no\\nce");
    auto d1 = frame.find('.');
    auto d2 = frame.find('.', d1 + 1);
    ASSERT_NE(d2, std::string::npos);
    auto header = util::base64url_decode(frame.substr(0, d1));
    auto payload = util::base64url_decode(frame.substr(d1 + 1, d2 - d1 - 1));
    ASSERT_TRUE(header && payload);
    json::object h{{"alg", "HS256"}, {"kid", kid}, {"typ", "agenthost.v1"}};
    EXPECT_EQ(*header, json::serialize(h));
    json::object p{{"v", 1},          {"type", "ty\"pe"},    {"id", "id\x7f"}, {"agent", agent},
                   {"ts", -12},        {"nonce", "no\\nce"}, {"body", body}};
    EXPECT_EQ(*payload, json::serialize(p));
    EXPECT_EQ(util::base64url_decode(frame.substr(d2 + 1)),
              crypto::hmac_sha256(key_for("gw-01"), frame.substr(0, d2)));
}

// A session hands verify() the key it derived at the hello; the MAC is checked with it.
TEST(Codec, SessionKeyIsTheKeyUsed) {
    std::string frame = proto::encode("ack", "gw-01", json::object{{"command_id", kVectorId}},
                                      "k1", key_for("gw-01"), kNow);
    auto o = opts();
    o.required_kid = "k1";
    const std::string own = key_for("gw-01");
    o.session_key = own;
    EXPECT_TRUE(check(frame, o).ok());
    const std::string other = key_for("gw-02");
    o.session_key = other;
    expect_reject(check(frame, o), 4401, "a different session key");
    // Without required_kid the keyring decides, whatever session_key says.
    o.required_kid = {};
    EXPECT_TRUE(check(frame, o).ok());
}

// The ids and nonces encode() generates come from a per-thread block of CSPRNG output.
TEST(Codec, GeneratedIdsAndNoncesAreWellFormedAndUnique) {
    std::set<std::string> seen;
    for (int i = 0; i < 2000; ++i) {
        std::string id = util::uuid_v4();
        ASSERT_TRUE(util::is_uuid(id)) << id;
        EXPECT_EQ(id[14], '4') << id;
        EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
        std::string n = util::nonce();
        ASSERT_EQ(n.size(), 22u);
        ASSERT_TRUE(util::base64url_decode(n).has_value()) << n;
        EXPECT_TRUE(seen.insert(id).second);
        EXPECT_TRUE(seen.insert(n).second);
    }
}

TEST(Codec, ForkedChildNeverRepeatsTheParentsNonces) {
    (void)util::nonce();  // the parent's block is now filled
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::string n = util::nonce();
        ssize_t w = write(fds[1], n.data(), n.size());
        _exit(w == static_cast<ssize_t>(n.size()) ? 0 : 1);
    }
    close(fds[1]);
    std::string parent = util::nonce();
    char buf[64];
    ssize_t got = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_EQ(got, 22);
    EXPECT_NE(std::string(buf, 22), parent);
}

TEST(Codec, TamperedPayloadOrSignature) {
    std::string good = sign_raw(kHeader, json::serialize(envelope()));
    ASSERT_TRUE(check(good).ok());
    // Re-encode a modified payload but keep the old signature.
    std::size_t d1 = good.find('.');
    std::size_t d2 = good.find('.', d1 + 1);
    json::object tampered = envelope();
    tampered["ts"] = kNow + 1;
    std::string forged = good.substr(0, d1 + 1) +
                         util::base64url_encode(json::serialize(tampered)) + good.substr(d2);
    auto v = check(forged);
    expect_reject(v, 4401, "tampered payload");
    EXPECT_EQ(v.rejection.ref, kVectorId);  // still tells the sender which message

    std::string sig = util::base64url_encode(std::string(32, 'x'));
    expect_reject(check(good.substr(0, d2 + 1) + sig), 4401, "wrong signature");
    // A truncated (but canonical) signature.
    expect_reject(check(good.substr(0, d2 + 1) + util::base64url_encode(std::string(31, 'x'))),
                  4401, "short signature");
    // Signed with another agent's key.
    expect_reject(check(sign_raw(kHeader, json::serialize(envelope()), key_for("gw-02"))), 4401,
                  "key of another agent");
}

TEST(Codec, HeaderRules) {
    std::string p = json::serialize(envelope());
    struct Case {
        const char* header;
        const char* what;
    };
    for (const Case& c : {
             Case{R"({"alg":"none","kid":"k1","typ":"agenthost.v1"})", "alg none"},
             Case{R"({"alg":"HS512","kid":"k1","typ":"agenthost.v1"})", "alg HS512"},
             Case{R"({"alg":"hs256","kid":"k1","typ":"agenthost.v1"})", "alg lower case"},
             Case{R"({"alg":"HS256","kid":"k1","typ":"JWT"})", "typ wrong"},
             Case{R"({"alg":"HS256","kid":"k1"})", "typ missing"},
             Case{R"({"alg":"HS256","typ":"agenthost.v1"})", "kid missing"},
             Case{R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1","crit":["x"]})", "crit"},
             Case{R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1","x":1})", "extra member"},
             Case{R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1","alg":"HS256"})",
                  "duplicate alg"},
             Case{R"({"alg":"none","alg":"HS256","kid":"k1","typ":"agenthost.v1"})",
                  "duplicate alg, last wins elsewhere"},
             Case{R"({"alg":"HS256","kid":1,"typ":"agenthost.v1"})", "kid not a string"},
             Case{R"({"alg":"HS256","kid":{"a":"b"},"typ":"agenthost.v1"})", "kid object"},
             Case{R"(["HS256","k1","agenthost.v1"])", "array header"},
             Case{R"("HS256")", "string header"},
             Case{R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1"} x)", "trailing bytes"},
             Case{R"({"alg":"HS256","kid":"k1","typ":"agenthost.v1")", "truncated JSON"},
             Case{"not json", "not JSON"},
         }) {
        auto v = check(sign_raw(c.header, p));
        expect_reject(v, 4401, c.what);
        EXPECT_EQ(v.rejection.ref, kVectorId) << c.what;
    }
    // JSON escapes and member order are fine: it is the same header.
    EXPECT_TRUE(
        check(sign_raw(R"({"typ":"agenthost.v1","\u0061lg":"HS256", "kid" : "k1"})", p)).ok());
}

TEST(Codec, KidRules) {
    std::string p = json::serialize(envelope());
    expect_reject(check(sign_raw(R"({"alg":"HS256","kid":"k9","typ":"agenthost.v1"})", p)), 4401,
                  "unknown kid");
    auto two = crypto::Keyring::from_masters({{"k1", master()}, {"k2", "another-master-key"}});
    auto o = opts();
    o.required_kid = "k2";
    expect_reject(proto::verify(sign_raw(kHeader, p), two, o), 4401, "session kid mismatch");
    o.required_kid = "k1";
    EXPECT_TRUE(proto::verify(sign_raw(kHeader, p), two, o).ok());
}

TEST(Codec, AgentMustMatchSession) {
    json::object e = envelope();
    e["agent"] = "gw-02";
    auto v = check(sign_raw(kHeader, json::serialize(e)));
    expect_reject(v, 4403, "wrong agent");
    EXPECT_EQ(v.rejection.ref, kVectorId);
}

TEST(Codec, Skew) {
    auto at = [](std::int64_t ts) {
        json::object e = envelope();
        e["ts"] = ts;
        return check(sign_raw(kHeader, json::serialize(e)));
    };
    EXPECT_TRUE(at(kNow - 30'000).ok());
    EXPECT_TRUE(at(kNow + 30'000).ok());
    expect_reject(at(kNow - 30'001), 4410, "stale");
    expect_reject(at(kNow + 30'001), 4410, "future");
    expect_reject(at(0), 4410, "epoch");
    expect_reject(at(std::numeric_limits<std::int64_t>::min()), 4410, "int64 min");
    expect_reject(at(std::numeric_limits<std::int64_t>::max()), 4410, "int64 max");
}

TEST(Codec, Size) {
    std::string frame = sign_raw(kHeader, json::serialize(envelope()));
    auto o = opts();
    o.max_frame_bytes = frame.size();
    EXPECT_TRUE(check(frame, o).ok()) << "exactly max_frame_bytes is allowed";
    o.max_frame_bytes = frame.size() - 1;
    expect_reject(check(frame, o), 1009, "oversize");
    // Size is checked before anything else.
    expect_reject(check(std::string(o.max_frame_bytes + 1, '!'), o), 1009, "oversize junk");
}

TEST(Codec, Structure) {
    std::string good = sign_raw(kHeader, json::serialize(envelope()));
    std::size_t d1 = good.find('.');
    std::size_t d2 = good.find('.', d1 + 1);
    std::string h = good.substr(0, d1);
    std::string p = good.substr(d1 + 1, d2 - d1 - 1);
    std::string s = good.substr(d2 + 1);
    // The signature is 32 bytes = 43 chars; its last char carries 2 padding bits.
    ASSERT_EQ(s.size(), 43u);
    std::string s_noncanonical = s;
    s_noncanonical.back() = s.back() == 'A' ? 'B' : static_cast<char>(s.back() ^ 1);
    std::string p_plus = p;
    p_plus[3] = '+';
    std::string p_slash = p;
    p_slash[3] = '/';
    for (const auto& [frame, what] : std::initializer_list<std::pair<std::string, const char*>>{
             {"", "empty"},
             {h + "." + p, "two segments"},
             {good + ".x", "four segments"},
             {h + "." + p + "." + s + ".", "trailing dot"},
             {"." + p + "." + s, "empty header"},
             {h + ".." + s, "empty payload"},
             {h + "." + p + ".", "empty signature"},
             {h + "." + p + "." + s + "=", "padded signature"},
             {h + "." + p + "." + s_noncanonical, "non-canonical signature"},
             {h + "." + p_plus + "." + s, "'+' in payload"},
             {h + "." + p_slash + "." + s, "'/' in payload"},
             {h + "=." + p + "." + s, "padded header"},
             {h + "." + p + "." + s.substr(0, 42) + " ", "space"},
             {h + "." + p.substr(0, 1) + "." + s, "impossible length"},
         }) {
        expect_reject(check(frame), 4400, what);
    }
    EXPECT_TRUE(check(h + "." + p + "." + s).ok());
}

TEST(Codec, PayloadMustBeObject) {
    for (const char* p :
         {"[1,2]", "null", "\"x\"", "42", "{not json", "{\"v\":1,}", "{\"v\":1", "{} {}", ""}) {
        auto v = check(sign_raw(kHeader, p));
        if (std::string_view(p).empty()) {
            expect_reject(v, 4400, "empty payload segment");
            continue;
        }
        expect_reject(v, 4400, p);
        EXPECT_FALSE(v.rejection.ref.has_value()) << p;
    }
}

TEST(Codec, EnvelopeFields) {
    struct Case {
        const char* field;
        json::value value;  // null-kind with `remove` means: drop the field
        bool remove;
    };
    std::vector<Case> cases = {
        {"v", 2, false},
        {"v", "1", false},
        {"v", 1.0, false},
        {"v", nullptr, true},
        {"type", 7, false},
        {"type", nullptr, true},
        {"id", "not-a-uuid", false},
        {"id", "00000000-0000-4000-8000-00000000000g", false},
        {"id", 5, false},
        {"id", nullptr, true},
        {"agent", 1, false},
        {"agent", nullptr, true},
        {"ts", "1764201600000", false},
        {"ts", 1764201600000.5, false},
        {"ts", 18446744073709551615ull, false},
        {"ts", nullptr, true},
        {"nonce", "AAAAAAAAAAAAAAAAAAAAA", false},     // 21 chars: < 16 bytes
        {"nonce", "AAAAAAAAAAAAAAAAAAAAAA==", false},  // padded
        {"nonce", "AAAAAAAAAAAAAAAAAAAAA+", false},    // wrong alphabet
        {"nonce", "AAAAAAAAAAAAAAAAAAAAAB", false},    // non-canonical trailing bits
        {"nonce", 12, false},
        {"nonce", nullptr, true},
        {"body", json::array{}, false},
        {"body", "x", false},
        {"body", nullptr, true},
    };
    for (const auto& c : cases) {
        json::object e = envelope();
        if (c.remove) {
            e.erase(c.field);
        } else {
            e[c.field] = c.value;
        }
        std::string what = std::string(c.field) + "=" + json::serialize(c.value);
        auto v = check(sign_raw(kHeader, json::serialize(e)));
        expect_reject(v, 4400, what.c_str());
        if (std::string_view(c.field) != "id") {
            EXPECT_EQ(v.rejection.ref, kVectorId) << what;
        }
    }
    // Longer nonces and extra envelope members are fine.
    json::object e = envelope();
    e["nonce"] = util::base64url_encode(std::string(32, 'n'));
    e["extra"] = true;
    EXPECT_TRUE(check(sign_raw(kHeader, json::serialize(e))).ok());
}

TEST(Codec, RefIsNullWhenIdUnreadable) {
    json::object e = envelope();
    e["id"] = 5;
    e["v"] = 2;
    auto v = check(sign_raw(kHeader, json::serialize(e)));
    expect_reject(v, 4400, "v and id");
    EXPECT_FALSE(v.rejection.ref.has_value());
}

TEST(Codec, UnknownTypeIsRejectedAfterVerify) {
    json::object e = envelope();
    e["type"] = "reboot";
    auto v = check(sign_raw(kHeader, json::serialize(e)));
    ASSERT_TRUE(v.ok()) << "type is judged after the replay check";
    EXPECT_FALSE(proto::known_type(v.envelope->type, true));
    auto body = proto::parse_agent_body(v.envelope->type, v.envelope->body, 1000);
    ASSERT_FALSE(body.ok());
    EXPECT_NE(body.status().message().find("unknown message type"), std::string::npos);
}

// ---- the streaming envelope parse equals the DOM reading it replaced ----------------

namespace {

// What verify() decided before the envelope was parsed as a stream: json::parser into
// an object (the last of duplicate members kept), then the member checks.
struct Reference {
    bool ok = false;
    std::string reason;
    std::optional<std::string> ref;
    std::string type, id, agent, nonce, body;
    std::int64_t ts = 0;
};

Reference reference_verify(const std::string& payload, const proto::VerifyOptions& o) {
    Reference r;
    json::error_code ec;
    json::value doc = json::parse(payload, ec);
    if (ec || !doc.is_object()) {
        r.reason = "payload is not a JSON object";
        return r;
    }
    const json::object& p = doc.get_object();
    auto get = [&](std::string_view k) -> const json::value* { return p.if_contains(k); };
    auto is_int = [](const json::value* v) {
        return v != nullptr &&
               (v->is_int64() || (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(
                                                                            INT64_MAX)));
    };
    auto int_of = [](const json::value* v) {
        return v->is_int64() ? v->get_int64() : static_cast<std::int64_t>(v->get_uint64());
    };
    auto str = [](const json::value* v) {
        return std::string(v->get_string().data(), v->get_string().size());
    };
    if (const json::value* id = get("id"); id != nullptr && id->is_string() &&
                                           !id->get_string().empty() &&
                                           id->get_string().size() <= 128) {
        r.ref = str(id);
    }
    const json::value* n = get("nonce");
    if (!is_int(get("v")) || int_of(get("v")) != 1) {
        r.reason = "envelope field 'v' must be the integer 1";
    } else if (get("type") == nullptr || !get("type")->is_string()) {
        r.reason = "envelope field 'type' must be a string";
    } else if (get("id") == nullptr || !get("id")->is_string() || !util::is_uuid(str(get("id")))) {
        r.reason = "envelope field 'id' must be a UUID string";
    } else if (get("agent") == nullptr || !get("agent")->is_string()) {
        r.reason = "envelope field 'agent' must be a string";
    } else if (!is_int(get("ts"))) {
        r.reason = "envelope field 'ts' must be an integer (Unix ms)";
    } else if (std::size_t bytes = 0; n == nullptr || !n->is_string() ||
                                      !proto::detail::b64url_valid(str(n), bytes) || bytes < 16) {
        r.reason = "envelope field 'nonce' must be canonical base64url of at least 16 bytes";
    } else if (get("body") == nullptr || !get("body")->is_object()) {
        r.reason = "envelope field 'body' must be an object";
    } else if (str(get("agent")) != o.expected_agent) {
        r.reason = "agent does not match the session identity";
    } else if (const auto ts = static_cast<std::uint64_t>(int_of(get("ts"))),
               now = static_cast<std::uint64_t>(o.now_ms);
               (int_of(get("ts")) >= o.now_ms ? ts - now : now - ts) >
               static_cast<std::uint64_t>(o.max_skew_ms)) {
        r.reason = "ts outside the allowed clock skew";
    } else {
        r.ok = true;
        r.type = str(get("type"));
        r.id = str(get("id"));
        r.agent = str(get("agent"));
        r.nonce = str(n);
        r.ts = int_of(get("ts"));
        r.body = json::serialize(get("body")->get_object());
    }
    return r;
}

void expect_same_as_reference(const std::string& payload) {
    proto::VerifyOptions o = opts();
    o.max_skew_ms = std::numeric_limits<std::int64_t>::max();  // skew is not the subject
    const Reference want = reference_verify(payload, o);
    const proto::Verified got = check(sign_raw(kHeader, payload), o);
    ASSERT_EQ(got.ok(), want.ok) << payload << "\n" << got.rejection.reason;
    if (!want.ok) {
        EXPECT_EQ(got.rejection.reason, want.reason) << payload;
        if (want.reason != "payload is not a JSON object") {
            EXPECT_EQ(got.rejection.ref, want.ref) << payload;
        }
        return;
    }
    const proto::Envelope& e = *got.envelope;
    EXPECT_EQ(e.type, want.type) << payload;
    EXPECT_EQ(e.id, want.id) << payload;
    EXPECT_EQ(e.agent, want.agent) << payload;
    EXPECT_EQ(e.nonce, want.nonce) << payload;
    EXPECT_EQ(e.ts, want.ts) << payload;
    EXPECT_EQ(json::serialize(e.body), want.body) << payload;
}

}  // namespace

TEST(Codec, StreamedEnvelopeMatchesTheDomReading) {
    const std::string id = std::string("\"") + kVectorId + "\"";
    const std::string rest =
        R"("agent":"gw-01","ts":1764201600000,"nonce":"AAAAAAAAAAAAAAAAAAAAAA")";
    const std::vector<std::string> payloads = {
        // plain, member order shuffled, extra members of every kind
        R"({"v":1,"type":"ack","id":)" + id + "," + rest + R"(,"body":{"a":1}})",
        R"({"body":{"a":[1,{"b":null}]},)" + rest + R"(,"id":)" + id + R"(,"type":"ack","v":1})",
        R"({"x":{"v":2,"body":5},"y":[{"id":1}],"z":"s","v":1,"type":"t","id":)" + id + "," +
            rest + R"(,"body":{}})",
        // duplicates: the last one counts, whatever kinds they have
        R"({"v":2,"v":1,"type":"a","type":"b","id":"x","id":)" + id + "," + rest +
            R"(,"body":{"a":1},"body":{"b":[true,false]}})",
        R"({"v":1,"v":2,"type":"a","id":)" + id + "," + rest + R"(,"body":{}})",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{},"body":[1]})",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":[1],"body":{"k":"v"}})",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"type":7,"body":{}})",
        R"({"v":1,"type":"a","id":)" + id + R"(,"id":5,)" + rest + R"(,"body":{}})",
        // escapes in keys and values, unicode
        R"({"\u0076":1,"typ\u0065":"a\"\\b\u00e9","id":)" + id + "," + rest +
            R"(,"bo\u0064y":{"k\u00e9y":"v\n"}})",
        // numbers at the edges
        R"({"v":1.0,"type":"a","id":)" + id + "," + rest + R"(,"body":{}})",
        R"({"v":1,"type":"a","id":)" + id + R"(,"agent":"gw-01","ts":9223372036854775807,)" +
            R"("nonce":"AAAAAAAAAAAAAAAAAAAAAA","body":{}})",
        R"({"v":1,"type":"a","id":)" + id + R"(,"agent":"gw-01","ts":9223372036854775808,)" +
            R"("nonce":"AAAAAAAAAAAAAAAAAAAAAA","body":{}})",
        R"({"v":1,"type":"a","id":)" + id + R"(,"agent":"gw-01","ts":-9223372036854775808,)" +
            R"("nonce":"AAAAAAAAAAAAAAAAAAAAAA","body":{}})",
        R"({"v":1,"type":"a","id":)" + id +
            R"(,"agent":"gw-01","ts":1e3,"nonce":"AAAAAAAAAAAAAAAAAAAAAA","body":{}})",
        R"({"v":-0,"type":"a","id":)" + id + "," + rest + R"(,"body":{}})",
        // other agent, missing and null members, empty object, bad JSON, not objects
        R"({"v":1,"type":"a","id":)" + id +
            R"(,"agent":"gw-02","ts":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA","body":{}})",
        R"({"v":1,"type":null,"id":)" + id + "," + rest + R"(,"body":null})",
        "{}",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{}} )",
        R"( {"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{}})",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{})",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{}}x)",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{"a":}})",
        R"([{"v":1}])",
        R"("str")",
        "7",
        "null",
        // deep nesting inside and outside the body (json::parser's depth limit: 32)
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{"d":)" +
            std::string(29, '[') + std::string(29, ']') + "}}",
        R"({"v":1,"type":"a","id":)" + id + "," + rest + R"(,"body":{"d":)" +
            std::string(40, '[') + std::string(40, ']') + "}}",
        R"({"x":)" + std::string(31, '[') + std::string(31, ']') + R"(,"v":1,"type":"a","id":)" +
            id + "," + rest + R"(,"body":{}})",
        R"({"x":)" + std::string(32, '[') + std::string(32, ']') + R"(,"v":1,"type":"a","id":)" +
            id + "," + rest + R"(,"body":{}})",
    };
    for (const auto& p : payloads) {
        expect_same_as_reference(p);
    }
}

// Random single-byte mutations of a valid payload: every verdict (and every field of
// an accepted envelope) is what the DOM reading gives.
TEST(Codec, StreamedEnvelopeMatchesTheDomReadingUnderMutation) {
    const std::string base = std::string(R"({"v":1,"type":"telemetry","id":")") + kVectorId +
                             R"(","agent":"gw-01","ts":1764201600000,)"
                             R"("nonce":"AAAAAAAAAAAAAAAAAAAAAA","body":{"batch_id":"b1",)"
                             R"("points":[{"metric":"m","ts":1,"value":0.5,"labels":{"a":"b"}}]}})";
    const std::string alphabet = "{}[]\":,0123456789-.eE\\u tfnlrsavbodyidx";
    std::uint64_t seed = 12345;
    auto next = [&seed] {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::size_t>(seed >> 33);
    };
    for (int i = 0; i < 3000; ++i) {
        std::string p = base;
        for (int m = 0, n = 1 + static_cast<int>(next() % 3); m < n; ++m) {
            const std::size_t at = next() % p.size();
            switch (next() % 3) {
                case 0:
                    p[at] = alphabet[next() % alphabet.size()];
                    break;
                case 1:
                    p.insert(at, 1, alphabet[next() % alphabet.size()]);
                    break;
                default:
                    p.erase(at, 1);
                    break;
            }
        }
        expect_same_as_reference(p);
        if (HasFailure()) {
            break;
        }
    }
}
