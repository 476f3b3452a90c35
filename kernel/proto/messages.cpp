#include "kernel/proto/messages.hpp"

#include <algorithm>
#include <cmath>

#include "kernel/proto/body_reader.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::proto {
namespace {

using detail::BodyReader;

constexpr std::size_t kMaxNameBytes = 256;  // versions, host names, command names
constexpr std::size_t kMaxCapabilities = 1024;
constexpr std::size_t kMaxBatchIdBytes = 128;

sdk::Status bad(std::string message) {
    return sdk::error(sdk::Errc::invalid_argument, std::move(message));
}

std::size_t utf8_chars(std::string_view s) noexcept {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::optional<sdk::CommandState> final_state(std::string_view s) {
    using sdk::CommandState;
    for (CommandState st : {CommandState::succeeded, CommandState::failed, CommandState::rejected,
                            CommandState::timed_out}) {
        if (s == sdk::to_string(st)) {
            return st;
        }
    }
    return std::nullopt;
}

// Point `index` of a telemetry batch.
sdk::Result<sdk::TelemetryPoint> parse_point(const json::value& v, std::size_t index) {
    if (!v.is_object()) {
        return bad("telemetry.points[" + std::to_string(index) + "] must be an object");
    }
    const json::object& o = v.get_object();
    sdk::TelemetryPoint p;
    BodyReader r(o, "telemetry.points", index);
    r.string("metric", p.metric, true, true, 128);
    if (r.ok() && !valid_metric_name(p.metric)) {
        r.fail("metric", "must match ^[a-zA-Z_:][a-zA-Z0-9_:.]{0,127}$");
    }
    r.integer("ts", p.ts_ms, 0);
    if (const json::value* val = r.get("value", true)) {
        if (val->is_int64()) {
            p.value = static_cast<double>(val->get_int64());
        } else if (val->is_uint64()) {
            p.value = static_cast<double>(val->get_uint64());
        } else if (val->is_double() && std::isfinite(val->get_double())) {
            p.value = val->get_double();
        } else {
            r.fail("value", "must be a finite number");
        }
    }
    if (const json::object* labels = r.object("labels", false); labels != nullptr && r.ok()) {
        if (labels->size() > kMaxLabels) {
            r.fail("labels", "has more than 16 entries");
        }
        p.labels.reserve(labels->size());
        for (const auto& kv : *labels) {
            std::string_view name(kv.key().data(), kv.key().size());
            if (!valid_label_name(name)) {
                r.fail("labels", "name must match ^[a-zA-Z_][a-zA-Z0-9_]{0,63}$");
                break;
            }
            if (!kv.value().is_string()) {
                r.fail("labels", "values must be strings");
                break;
            }
            const json::string& s = kv.value().get_string();
            std::string_view value(s.data(), s.size());
            if (value.size() > kMaxLabelValueChars && utf8_chars(value) > kMaxLabelValueChars) {
                r.fail("labels", "values must be at most 256 characters");
                break;
            }
            p.labels.emplace_back(std::string(name), std::string(value));
        }
        std::sort(p.labels.begin(), p.labels.end());
    }
    if (!r.ok()) {
        return r.status();
    }
    return p;
}

}  // namespace

// ---- hello ----------------------------------------------------------------------

sdk::Result<HelloBody> HelloBody::parse(const json::object& body) {
    HelloBody b;
    BodyReader r(body, "hello");
    r.string("agent_version", b.agent_version, true, true, kMaxNameBytes);
    r.string("hostname", b.hostname, true, false, kMaxNameBytes);
    r.string("platform", b.platform, true, false, kMaxNameBytes);
    if (const json::array* caps = r.array("capabilities", true); caps != nullptr) {
        if (caps->size() > kMaxCapabilities) {
            r.fail("capabilities", "has too many entries");
        }
        for (const auto& c : *caps) {
            if (!c.is_string() || c.get_string().empty() || c.get_string().size() > kMaxNameBytes) {
                r.fail("capabilities", "must be an array of non-empty command names");
                break;
            }
            b.capabilities.emplace_back(c.get_string().data(), c.get_string().size());
        }
    }
    if (const json::object* spool = r.object("spool", false); spool != nullptr) {
        BodyReader s(*spool, "hello.spool");
        s.integer("results", b.spool_results, 0, false);
        s.integer("telemetry", b.spool_telemetry, 0, false);
        if (!s.ok()) {
            return s.status();
        }
    }
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object HelloBody::to_json() const {
    json::array caps;
    for (const auto& c : capabilities) {
        caps.emplace_back(c);
    }
    return json::object{{"agent_version", agent_version},
                        {"hostname", hostname},
                        {"platform", platform},
                        {"capabilities", std::move(caps)},
                        {"spool", {{"results", spool_results}, {"telemetry", spool_telemetry}}}};
}

// ---- ack / result_ack -----------------------------------------------------------

sdk::Result<AckBody> AckBody::parse(const json::object& body) {
    AckBody b;
    BodyReader r(body, "ack");
    r.uuid("command_id", b.command_id);
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object AckBody::to_json() const {
    return json::object{{"command_id", command_id}};
}

sdk::Result<ResultAckBody> ResultAckBody::parse(const json::object& body) {
    ResultAckBody b;
    BodyReader r(body, "result_ack");
    r.uuid("command_id", b.command_id);
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object ResultAckBody::to_json() const {
    return json::object{{"command_id", command_id}};
}

// ---- result ---------------------------------------------------------------------

sdk::Result<ResultBody> ResultBody::parse(const json::object& body) {
    ResultBody b;
    BodyReader r(body, "result");
    r.uuid("command_id", b.command_id);
    std::string status;
    r.string("status", status);
    if (r.ok()) {
        if (auto st = final_state(status)) {
            b.status = *st;
        } else {
            r.fail("status", "must be one of succeeded, failed, rejected, timed_out");
        }
    }
    if (const json::value* ec = r.get("exit_code", false); ec != nullptr && !ec->is_null()) {
        if (!detail::is_json_integer(*ec)) {
            r.fail("exit_code", "must be an integer or null");
        } else {
            b.exit_code = detail::json_integer(*ec);
        }
    }
    r.string("output_encoding", b.output_encoding, false);
    // The output can be 64 KiB of text, or base64 of 64 KiB (about 87 KiB).
    r.string("output", b.output, false, false, (kMaxOutputBytes + 2) / 3 * 4);
    if (r.ok()) {
        if (b.output_encoding == "utf-8") {
            if (b.output.size() > kMaxOutputBytes) {
                r.fail("output", "exceeds 64 KiB");
            } else if (!valid_utf8(b.output)) {
                r.fail("output", "is not valid UTF-8 (send it with output_encoding base64)");
            }
        } else if (b.output_encoding == "base64") {
            auto decoded = util::base64_decode(b.output);
            if (!decoded) {
                r.fail("output", "is not valid base64");
            } else if (decoded->size() > kMaxOutputBytes) {
                r.fail("output", "exceeds 64 KiB");
            }
        } else {
            r.fail("output_encoding", "must be utf-8 or base64");
        }
    }
    r.boolean("truncated", b.truncated, false);
    r.integer("started_at", b.started_at, 0);
    r.integer("finished_at", b.finished_at, 0);
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object ResultBody::to_json() const {
    json::object o{
        {"command_id", command_id}, {"status", sdk::to_string(status)},   {"exit_code", nullptr},
        {"output", output},         {"output_encoding", output_encoding}, {"truncated", truncated},
        {"started_at", started_at}, {"finished_at", finished_at}};
    if (exit_code) {
        o["exit_code"] = *exit_code;
    }
    return o;
}

sdk::CommandResult ResultBody::to_command_result(std::string agent_id,
                                                 std::int64_t received_ms) const {
    sdk::CommandResult c;
    c.command_id = command_id;
    c.agent_id = std::move(agent_id);
    c.status = status;
    c.exit_code = exit_code;
    c.output = output;
    c.output_encoding = output_encoding;
    c.truncated = truncated;
    c.started_ms = started_at;
    c.finished_ms = finished_at;
    c.received_ms = received_ms;
    return c;
}

// ---- telemetry ------------------------------------------------------------------

sdk::Result<TelemetryBody> TelemetryBody::parse(const json::object& body,
                                                std::size_t max_batch_points) {
    TelemetryBody b;
    BodyReader r(body, "telemetry");
    r.string("batch_id", b.batch_id, true, true, kMaxBatchIdBytes);
    const json::array* points = r.array("points", true);
    if (!r.ok()) {
        return r.status();
    }
    if (points->empty()) {
        return bad("telemetry.points must not be empty");
    }
    if (points->size() > max_batch_points) {
        return bad("telemetry.points has more than max_batch_points (" +
                   std::to_string(max_batch_points) + ") entries");
    }
    b.points.reserve(points->size());
    for (std::size_t i = 0; i < points->size(); ++i) {
        auto p = parse_point((*points)[i], i);
        if (!p.ok()) {
            return p.status();
        }
        b.points.push_back(std::move(p).value());
    }
    return b;
}

json::object TelemetryBody::to_json() const {
    json::array pts;
    pts.reserve(points.size());
    for (const auto& p : points) {
        json::object o{{"metric", p.metric}, {"ts", p.ts_ms}, {"value", p.value}};
        if (!p.labels.empty()) {
            json::object labels;
            for (const auto& [k, v] : p.labels) {
                labels[k] = v;
            }
            o["labels"] = std::move(labels);
        }
        pts.emplace_back(std::move(o));
    }
    return json::object{{"batch_id", batch_id}, {"points", std::move(pts)}};
}

// ---- welcome --------------------------------------------------------------------

sdk::Result<WelcomeBody> WelcomeBody::parse(const json::object& body) {
    WelcomeBody b;
    BodyReader r(body, "welcome");
    r.uuid("session_id", b.session_id);
    r.string("host_id", b.host_id, true, true, kMaxNameBytes);
    r.integer("server_time", b.server_time, 0);
    r.integer("heartbeat_s", b.heartbeat_s, 1);
    if (const json::object* limits = r.object("limits", true); limits != nullptr) {
        BodyReader l(*limits, "welcome.limits");
        l.integer("max_frame_bytes", b.max_frame_bytes, 1);
        l.integer("max_batch_points", b.max_batch_points, 1);
        if (!l.ok()) {
            return l.status();
        }
    }
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object WelcomeBody::to_json() const {
    return json::object{
        {"session_id", session_id},
        {"host_id", host_id},
        {"server_time", server_time},
        {"heartbeat_s", heartbeat_s},
        {"limits", {{"max_frame_bytes", max_frame_bytes}, {"max_batch_points", max_batch_points}}}};
}

// ---- command --------------------------------------------------------------------

sdk::Result<CommandBody> CommandBody::parse(const json::object& body) {
    CommandBody b;
    BodyReader r(body, "command");
    r.uuid("command_id", b.command_id);
    r.string("name", b.name, true, true, kMaxNameBytes);
    if (const json::object* args = r.object("args", true); args != nullptr) {
        b.args = *args;
    }
    r.integer("issued_at", b.issued_at, 0);
    r.integer("deadline", b.deadline, 0);
    r.integer("attempt", b.attempt, 1);
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object CommandBody::to_json() const {
    return json::object{{"command_id", command_id}, {"name", name},         {"args", args},
                        {"issued_at", issued_at},   {"deadline", deadline}, {"attempt", attempt}};
}

// ---- telemetry_ack --------------------------------------------------------------

sdk::Result<TelemetryAckBody> TelemetryAckBody::parse(const json::object& body) {
    TelemetryAckBody b;
    BodyReader r(body, "telemetry_ack");
    r.string("batch_id", b.batch_id, true, true, kMaxBatchIdBytes);
    r.integer("accepted", b.accepted, 0);
    r.integer("duplicates", b.duplicates, 0);
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object TelemetryAckBody::to_json() const {
    return json::object{{"batch_id", batch_id}, {"accepted", accepted}, {"duplicates", duplicates}};
}

// ---- error ----------------------------------------------------------------------

sdk::Result<ErrorBody> ErrorBody::parse(const json::object& body) {
    ErrorBody b;
    BodyReader r(body, "error");
    r.integer("code", b.code, 1000);
    if (r.ok() && b.code > 4999) {
        r.fail("code", "must be a close code (1000-4999)");
    }
    r.string("message", b.message, true, false, 4096);
    if (const json::value* ref = r.get("ref", false); ref != nullptr && !ref->is_null()) {
        if (!ref->is_string()) {
            r.fail("ref", "must be a string or null");
        } else {
            b.ref = std::string(ref->get_string().data(), ref->get_string().size());
        }
    }
    r.boolean("fatal", b.fatal, true);
    if (!r.ok()) {
        return r.status();
    }
    return b;
}

json::object ErrorBody::to_json() const {
    json::object o{{"code", code}, {"message", message}, {"ref", nullptr}, {"fatal", fatal}};
    if (ref) {
        o["ref"] = *ref;
    }
    return o;
}

// ---- dispatch -------------------------------------------------------------------

namespace {
template <typename Variant, typename Body>
sdk::Result<Variant> lift(sdk::Result<Body> r) {
    if (!r.ok()) {
        return r.status();
    }
    return Variant(std::move(r).value());
}
}  // namespace

sdk::Result<AgentBody> parse_agent_body(std::string_view t, const json::object& body,
                                        std::size_t max_batch_points) {
    if (t == type::hello) {
        return lift<AgentBody>(HelloBody::parse(body));
    }
    if (t == type::ack) {
        return lift<AgentBody>(AckBody::parse(body));
    }
    if (t == type::result) {
        return lift<AgentBody>(ResultBody::parse(body));
    }
    if (t == type::telemetry) {
        return lift<AgentBody>(TelemetryBody::parse(body, max_batch_points));
    }
    return bad("unknown message type '" + std::string(t.substr(0, 64)) + "'");
}

sdk::Result<BackendBody> parse_backend_body(std::string_view t, const json::object& body) {
    if (t == type::welcome) {
        return lift<BackendBody>(WelcomeBody::parse(body));
    }
    if (t == type::command) {
        return lift<BackendBody>(CommandBody::parse(body));
    }
    if (t == type::result_ack) {
        return lift<BackendBody>(ResultAckBody::parse(body));
    }
    if (t == type::telemetry_ack) {
        return lift<BackendBody>(TelemetryAckBody::parse(body));
    }
    if (t == type::error) {
        return lift<BackendBody>(ErrorBody::parse(body));
    }
    return bad("unknown message type '" + std::string(t.substr(0, 64)) + "'");
}

}  // namespace agenthost::proto
