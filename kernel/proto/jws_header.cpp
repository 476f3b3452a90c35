#include "kernel/proto/jws_header.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>

namespace agenthost::proto::detail {
namespace {

namespace json = boost::json;

// SAX handler accepting only {"alg":"…","kid":"…","typ":"…"} in any member order.
class HeaderHandler {
public:
    static constexpr std::size_t max_array_size = 0;
    static constexpr std::size_t max_object_size = 3;
    static constexpr std::size_t max_string_size = 256;
    static constexpr std::size_t max_key_size = 16;

    JwsHeader header;

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code& ec) {
        if (depth_ != 0 || done_) {
            return fail(ec);  // nested object, i.e. a non-string member value
        }
        depth_ = 1;
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code& ec) {
        if (n != 3 || seen_ != 7) {
            return fail(ec);
        }
        depth_ = 0;
        done_ = true;
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        key_.append(s.data(), s.size());
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
        key_.append(s.data(), s.size());
        unsigned bit = 0;
        if (key_ == "alg") {
            bit = 1;
            target_ = &header.alg;
        } else if (key_ == "kid") {
            bit = 2;
            target_ = &header.kid;
        } else if (key_ == "typ") {
            bit = 4;
            target_ = &header.typ;
        }
        key_.clear();
        if (bit == 0 || (seen_ & bit) != 0) {
            return fail(ec);  // unknown member (crit included) or a duplicate key
        }
        seen_ |= bit;
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code& ec) {
        if (target_ == nullptr) {
            return fail(ec);
        }
        target_->append(s.data(), s.size());
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
        if (target_ == nullptr) {
            return fail(ec);  // a top-level string is not an object
        }
        target_->append(s.data(), s.size());
        target_ = nullptr;
        return true;
    }
    // Any other value is a non-string member (or a non-object document).
    bool on_array_begin(json::error_code& ec) { return fail(ec); }
    bool on_array_end(std::size_t, json::error_code& ec) { return fail(ec); }
    bool on_number_part(json::string_view, json::error_code& ec) { return fail(ec); }
    bool on_int64(std::int64_t, json::string_view, json::error_code& ec) { return fail(ec); }
    bool on_uint64(std::uint64_t, json::string_view, json::error_code& ec) { return fail(ec); }
    bool on_double(double, json::string_view, json::error_code& ec) { return fail(ec); }
    bool on_bool(bool, json::error_code& ec) { return fail(ec); }
    bool on_null(json::error_code& ec) { return fail(ec); }
    bool on_comment_part(json::string_view, json::error_code& ec) { return fail(ec); }
    bool on_comment(json::string_view, json::error_code& ec) { return fail(ec); }

    bool complete() const noexcept { return done_; }

private:
    static bool fail(json::error_code& ec) {
        ec = json::error::syntax;
        return false;
    }

    int depth_ = 0;
    bool done_ = false;
    unsigned seen_ = 0;
    std::string key_;
    std::string* target_ = nullptr;
};

// The header every signer of this codebase writes, {"alg":"HS256","kid":"<kid>",
// "typ":"agenthost.v1"} with a kid of plain printable ASCII (nothing to unescape, valid
// UTF-8, far below the 256-byte limit): the parser would return exactly these three
// values, so they are taken without running it. Anything else goes through it.
std::optional<JwsHeader> canonical_header(std::string_view text) {
    constexpr std::string_view head = R"({"alg":"HS256","kid":")";
    constexpr std::string_view tail = R"(","typ":"agenthost.v1"})";
    constexpr std::size_t max_kid = 64;
    const std::size_t fixed = head.size() + tail.size();
    if (text.size() < fixed || text.size() > fixed + max_kid ||
        text.substr(0, head.size()) != head || text.substr(text.size() - tail.size()) != tail) {
        return std::nullopt;
    }
    const std::string_view kid = text.substr(head.size(), text.size() - fixed);
    for (char c : kid) {
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            return std::nullopt;
        }
    }
    return JwsHeader{"HS256", std::string(kid), "agenthost.v1"};
}

}  // namespace

std::optional<JwsHeader> parse_jws_header(std::string_view json_text) {
    if (auto fast = canonical_header(json_text)) {
        return fast;
    }
    json::basic_parser<HeaderHandler> parser(json::parse_options{});
    json::error_code ec;
    std::size_t n = parser.write_some(false, json_text.data(), json_text.size(), ec);
    if (ec || n != json_text.size() || !parser.done() || !parser.handler().complete()) {
        return std::nullopt;
    }
    return std::move(parser.handler().header);
}

}  // namespace agenthost::proto::detail
