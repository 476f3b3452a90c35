#pragma once
// Strict parser for the JWS protected header of PROTOCOL.md §2/§8: a JSON object with
// exactly the string members alg, kid and typ, each once. Boost.JSON's DOM parser
// silently keeps one of two duplicate keys, so the header is read with a SAX handler
// that sees every key. Internal to kernel/proto.

#include <optional>
#include <string>
#include <string_view>

namespace agenthost::proto::detail {

struct JwsHeader {
    std::string alg;
    std::string kid;
    std::string typ;
};

// nullopt when the text is not such an object (bad JSON, other or repeated members,
// non-string values). Values are not judged here.
std::optional<JwsHeader> parse_jws_header(std::string_view json_text);

}  // namespace agenthost::proto::detail
