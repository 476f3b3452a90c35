#pragma once
// Typed message bodies of PROTOCOL.md §4/§8. parse() checks one body's schema (every
// failure is a 4400 with a message naming the field) and to_json() builds the body
// a sender signs with proto::encode(). Hand-rolled matchers, no std::regex: these
// run on every frame.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <agenthost/capabilities/queue.hpp>
#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::proto {

namespace json = boost::json;

// Message type names.
namespace type {
inline constexpr std::string_view hello = "hello";
inline constexpr std::string_view ack = "ack";
inline constexpr std::string_view result = "result";
inline constexpr std::string_view telemetry = "telemetry";
inline constexpr std::string_view welcome = "welcome";
inline constexpr std::string_view command = "command";
inline constexpr std::string_view result_ack = "result_ack";
inline constexpr std::string_view telemetry_ack = "telemetry_ack";
inline constexpr std::string_view error = "error";
}  // namespace type

// Whether `type` is a message the given direction may send.
bool known_type(std::string_view type, bool from_agent) noexcept;

inline constexpr std::size_t kMaxOutputBytes = 64 * 1024;  // decoded bytes
inline constexpr std::size_t kMaxLabels = 16;
inline constexpr std::size_t kMaxLabelValueChars = 256;

// ^[a-zA-Z_:][a-zA-Z0-9_:.]{0,127}$
bool valid_metric_name(std::string_view s) noexcept;
// ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$
bool valid_label_name(std::string_view s) noexcept;
// Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// ---- agent → backend -------------------------------------------------------------

struct HelloBody {
    std::string agent_version;
    std::string hostname;
    std::string platform;
    std::vector<std::string> capabilities;  // required; may be empty
    std::int64_t spool_results = 0;         // `spool` is optional, counts default to 0
    std::int64_t spool_telemetry = 0;

    static sdk::Result<HelloBody> parse(const json::object& body);
    json::object to_json() const;
};

struct AckBody {
    std::string command_id;

    static sdk::Result<AckBody> parse(const json::object& body);
    json::object to_json() const;
};

struct ResultBody {
    std::string command_id;
    sdk::CommandState status = sdk::CommandState::succeeded;  // the four final states only
    std::optional<std::int64_t> exit_code;                    // null: the command did not run
    std::string output;  // as sent (text, or base64 when encoding is base64)
    std::string output_encoding = "utf-8";
    bool truncated = false;
    std::int64_t started_at = 0;
    std::int64_t finished_at = 0;

    static sdk::Result<ResultBody> parse(const json::object& body);
    json::object to_json() const;
    sdk::CommandResult to_command_result(std::string agent_id, std::int64_t received_ms) const;
};

struct TelemetryBody {
    std::string batch_id;
    std::vector<sdk::TelemetryPoint> points;  // labels sorted by name

    static sdk::Result<TelemetryBody> parse(const json::object& body, std::size_t max_batch_points);
    json::object to_json() const;
};

// ---- backend → agent -------------------------------------------------------------

struct WelcomeBody {
    std::string session_id;
    std::string host_id;
    std::int64_t server_time = 0;
    std::int64_t heartbeat_s = 30;
    std::int64_t max_frame_bytes = 1 << 20;
    std::int64_t max_batch_points = 1000;

    static sdk::Result<WelcomeBody> parse(const json::object& body);
    json::object to_json() const;
};

struct CommandBody {
    std::string command_id;
    std::string name;
    json::object args;
    std::int64_t issued_at = 0;
    std::int64_t deadline = 0;
    std::int64_t attempt = 1;

    static sdk::Result<CommandBody> parse(const json::object& body);
    json::object to_json() const;
};

struct ResultAckBody {
    std::string command_id;

    static sdk::Result<ResultAckBody> parse(const json::object& body);
    json::object to_json() const;
};

struct TelemetryAckBody {
    std::string batch_id;
    std::int64_t accepted = 0;
    std::int64_t duplicates = 0;

    static sdk::Result<TelemetryAckBody> parse(const json::object& body);
    json::object to_json() const;
};

struct ErrorBody {
    std::int64_t code = 4400;
    std::string message;
    std::optional<std::string> ref;
    bool fatal = false;

    static sdk::Result<ErrorBody> parse(const json::object& body);
    json::object to_json() const;
};

// ---- dispatch by type ------------------------------------------------------------

using AgentBody = std::variant<HelloBody, AckBody, ResultBody, TelemetryBody>;
using BackendBody =
    std::variant<WelcomeBody, CommandBody, ResultAckBody, TelemetryAckBody, ErrorBody>;

// type known → body schema (the last receiver checks). Every error is a 4400.
sdk::Result<AgentBody> parse_agent_body(std::string_view type, const json::object& body,
                                        std::size_t max_batch_points);
sdk::Result<BackendBody> parse_backend_body(std::string_view type, const json::object& body);

}  // namespace agenthost::proto
