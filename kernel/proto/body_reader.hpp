#pragma once
// Field reader for body schemas: typed getters that record the first error as
// "<message>.<field> <problem>", so every parse() reads like its schema table.
// Internal to kernel/proto.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::proto::detail {

namespace json = boost::json;

inline bool is_json_integer(const json::value& v) noexcept {
    return v.is_int64() ||
           (v.is_uint64() &&
            v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
}

inline std::int64_t json_integer(const json::value& v) noexcept {
    return v.is_int64() ? v.get_int64() : static_cast<std::int64_t>(v.get_uint64());
}

class BodyReader {
public:
    static constexpr std::size_t kDefaultMaxChars = 1024;
    static constexpr std::int64_t kNoMin = std::numeric_limits<std::int64_t>::min();

    BodyReader(const json::object& obj, std::string_view what) : obj_(obj), what_(what) {}
    // For an array element: errors read "<what>[<index>].<field> ..." (formatted only
    // on failure, so the success path builds no strings).
    BodyReader(const json::object& obj, std::string_view what, std::size_t index)
        : obj_(obj), what_(what), index_(index) {}

    bool ok() const noexcept { return error_.empty(); }
    sdk::Status status() const { return sdk::error(sdk::Errc::invalid_argument, error_); }

    // Records a problem with `field` unless an earlier one was recorded.
    void fail(std::string_view field, std::string_view problem);

    // nullptr when absent (an error when required).
    const json::value* get(std::string_view field, bool required);

    void string(std::string_view field, std::string& out, bool required = true,
                bool non_empty = false, std::size_t max_bytes = kDefaultMaxChars);
    void uuid(std::string_view field, std::string& out);
    void integer(std::string_view field, std::int64_t& out, std::int64_t min = kNoMin,
                 bool required = true);
    void boolean(std::string_view field, bool& out, bool required);
    const json::object* object(std::string_view field, bool required);
    const json::array* array(std::string_view field, bool required);

private:
    const json::object& obj_;
    std::string_view what_;
    std::size_t index_ = static_cast<std::size_t>(-1);
    std::string error_;
};

}  // namespace agenthost::proto::detail
