#include "kernel/proto/envelope_parser.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/error.hpp>
#include <boost/json/value_stack.hpp>

#include <limits>
#include <utility>

namespace agenthost::proto::detail {
namespace {

using Kind = EnvelopeFields::Kind;

enum class Member : std::uint8_t { none, v, type, id, agent, ts, nonce, body };

Member classify(std::string_view key) noexcept {
    switch (key.size()) {
        case 1:
            return key == "v" ? Member::v : Member::none;
        case 2:
            return key == "id" ? Member::id : key == "ts" ? Member::ts : Member::none;
        case 4:
            return key == "type" ? Member::type : key == "body" ? Member::body : Member::none;
        case 5:
            return key == "agent" ? Member::agent : key == "nonce" ? Member::nonce : Member::none;
        default:
            return Member::none;
    }
}

// Events of the payload object (depth 1) fill the envelope fields; everything inside
// `body` goes to a value_stack exactly as json::parser's own handler does; the values
// of other members are only syntax-checked.
class EnvelopeHandler {
public:
    // The limits of json::parser's handler, so both accept the same documents.
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    EnvelopeHandler(EnvelopeFields& out, json::value_stack& st, json::storage_ptr sp)
        : out_(out), st_(st), sp_(std::move(sp)) {}

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }

    bool on_object_begin(json::error_code& ec) {
        if (depth_ == 0) {
            depth_ = 1;
            return true;
        }
        if (++depth_ == 2) {
            if (member_ == Member::body) {
                mode_ = Mode::body;
                st_.reset(sp_);
            } else {
                mode_ = Mode::skip;
                set_kind(Kind::other);
            }
        }
        (void)ec;
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code&) {
        if (mode_ == Mode::body) {
            st_.push_object(n);
            if (depth_ == 2) {
                json::value v = st_.release();
                // Move-constructed: the object keeps the arena (assignment would copy).
                out_.body_object.emplace(std::move(v.get_object()));
                out_.body = Kind::object;
                mode_ = Mode::none;
            }
        } else if (mode_ == Mode::skip && depth_ == 2) {
            mode_ = Mode::none;
        }
        --depth_;
        return true;
    }
    bool on_array_begin(json::error_code& ec) {
        if (depth_ == 0) {
            return fail(ec);  // not an object
        }
        if (++depth_ == 2) {
            mode_ = Mode::skip;
            set_kind(Kind::other);
        }
        return true;
    }
    bool on_array_end(std::size_t n, json::error_code&) {
        if (mode_ == Mode::body) {
            st_.push_array(n);
        } else if (mode_ == Mode::skip && depth_ == 2) {
            mode_ = Mode::none;
        }
        --depth_;
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        if (mode_ == Mode::body) {
            st_.push_chars(s);
        } else if (depth_ == 1) {
            key_.append(s.data(), s.size());
        }
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        if (mode_ == Mode::body) {
            st_.push_key(s);
        } else if (depth_ == 1) {
            key_.append(s.data(), s.size());
            member_ = classify(key_);
            key_.clear();
            if (std::string* t = text(); t != nullptr) {
                t->clear();
            }
        }
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_chars(s);
        } else if (depth_ == 0) {
            return fail(ec);
        } else if (depth_ == 1) {
            if (std::string* t = text(); t != nullptr) {
                t->append(s.data(), s.size());
            }
        }
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_string(s);
        } else if (depth_ == 0) {
            return fail(ec);
        } else if (depth_ == 1) {
            if (std::string* t = text(); t != nullptr) {
                t->append(s.data(), s.size());
                set_kind(Kind::string);
            } else {
                set_kind(Kind::other);
            }
        }
        return true;
    }
    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_int64(i);
            return true;
        }
        return scalar(ec, true, i);
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_uint64(u);
            return true;
        }
        // An integer for the envelope only if it fits int64 (is_integer() in codec.cpp).
        const bool fits = u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        return scalar(ec, fits, fits ? static_cast<std::int64_t>(u) : 0);
    }
    bool on_double(double d, json::string_view, json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_double(d);
            return true;
        }
        return scalar(ec, false, 0);
    }
    bool on_bool(bool b, json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_bool(b);
            return true;
        }
        return scalar(ec, false, 0);
    }
    bool on_null(json::error_code& ec) {
        if (mode_ == Mode::body) {
            st_.push_null();
            return true;
        }
        return scalar(ec, false, 0);
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    enum class Mode : std::uint8_t { none, body, skip };

    static bool fail(json::error_code& ec) {
        ec = json::error::syntax;
        return false;
    }

    // A non-string scalar value: the payload itself (not an object), a member's value
    // (v and ts keep integers), or something inside a skipped member value.
    bool scalar(json::error_code& ec, bool integer, std::int64_t value) {
        if (depth_ == 0) {
            return fail(ec);
        }
        if (depth_ != 1) {
            return true;
        }
        if (integer && (member_ == Member::v || member_ == Member::ts)) {
            (member_ == Member::v ? out_.v_value : out_.ts_value) = value;
            set_kind(Kind::integer);
        } else {
            set_kind(Kind::other);
        }
        return true;
    }

    // The text buffer of a string-valued envelope member, nullptr for the others.
    std::string* text() noexcept {
        switch (member_) {
            case Member::type:
                return &out_.type_text;
            case Member::id:
                return &out_.id_text;
            case Member::agent:
                return &out_.agent_text;
            case Member::nonce:
                return &out_.nonce_text;
            default:
                return nullptr;
        }
    }

    void set_kind(Kind k) noexcept {
        switch (member_) {
            case Member::v:
                out_.v = k;
                break;
            case Member::type:
                out_.type = k;
                break;
            case Member::id:
                out_.id = k;
                break;
            case Member::agent:
                out_.agent = k;
                break;
            case Member::ts:
                out_.ts = k;
                break;
            case Member::nonce:
                out_.nonce = k;
                break;
            case Member::body:
                out_.body = k;
                break;
            case Member::none:
                break;
        }
    }

    EnvelopeFields& out_;
    json::value_stack& st_;
    json::storage_ptr sp_;
    std::size_t depth_ = 0;
    Mode mode_ = Mode::none;
    Member member_ = Member::none;
    std::string key_;
};

}  // namespace

bool parse_envelope(std::string_view text, json::storage_ptr sp, EnvelopeFields& out) {
    // One value stack per thread: its work area is allocated once.
    thread_local json::value_stack st;
    json::basic_parser<EnvelopeHandler> p(json::parse_options{}, out, st, std::move(sp));
    json::error_code ec;
    const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
    const bool ok = !ec && n == text.size() && p.done();
    st.reset();  // drop the stack's reference to the arena
    return ok;
}

}  // namespace agenthost::proto::detail
