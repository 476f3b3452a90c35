#pragma once
// Streaming parse of a frame's payload (PROTOCOL.md §2): the envelope members are read
// straight from the parser's events into their final strings and integers, and only
// `body` is built as a json::object (in the caller's arena). verify() used to build
// the whole payload as a json::object and then look each member up, copy it out and
// destroy the rest; the outcome is the same (same JSON grammar and limits as
// json::parser, the LAST of duplicate members counts, as in a json::object), the work
// is not. Internal to kernel/proto.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <agenthost/json.hpp>

namespace agenthost::proto::detail {

namespace json = boost::json;

struct EnvelopeFields {
    // What the last occurrence of a member held.
    enum class Kind : std::uint8_t { absent, string, integer, object, other };
    Kind v = Kind::absent;
    Kind type = Kind::absent;
    Kind id = Kind::absent;
    Kind agent = Kind::absent;
    Kind ts = Kind::absent;
    Kind nonce = Kind::absent;
    Kind body = Kind::absent;
    std::int64_t v_value = 0;   // Kind::integer
    std::int64_t ts_value = 0;  // Kind::integer
    std::string type_text, id_text, agent_text, nonce_text;  // Kind::string
    // Set by the last object-valued `body` (Kind::object); lives in the caller's arena.
    std::optional<json::object> body_object;
};

// false when `text` is not a JSON object (bad JSON, another kind of value, trailing
// data): exactly when json::parser followed by is_object() says no.
bool parse_envelope(std::string_view text, json::storage_ptr sp, EnvelopeFields& out);

}  // namespace agenthost::proto::detail
