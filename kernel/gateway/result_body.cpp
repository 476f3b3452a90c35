#include "kernel/gateway/result_body.hpp"

#include <algorithm>

#include "kernel/proto/messages.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::gateway {

sdk::json::object make_result_body(const std::string& command_id, const sdk::ExecResult& r,
                                   std::size_t output_cap_bytes) {
    proto::ResultBody body;
    body.command_id = command_id;
    body.status = r.status;
    // Only a command that ran to completion has an exit code (PROTOCOL.md §8).
    const bool ran =
        r.status == sdk::CommandState::succeeded || r.status == sdk::CommandState::failed;
    body.exit_code = ran ? r.exit_code : std::nullopt;
    const std::size_t cap = std::min(output_cap_bytes, proto::kMaxOutputBytes);
    std::string out = r.output;
    body.truncated = r.truncated;
    if (out.size() > cap) {
        out.resize(cap);
        body.truncated = true;
    }
    if (!proto::valid_utf8(out) && body.truncated) {
        // The cut may have split one character: drop its partial bytes (at most 3).
        for (std::size_t drop = 1; drop <= 3 && drop <= out.size(); ++drop) {
            std::string_view head(out.data(), out.size() - drop);
            if (proto::valid_utf8(head)) {
                out.resize(head.size());
                break;
            }
        }
    }
    if (proto::valid_utf8(out)) {
        body.output = std::move(out);
        body.output_encoding = "utf-8";
    } else {
        body.output = util::base64_encode(out);
        body.output_encoding = "base64";
    }
    body.started_at = r.started_ms;
    body.finished_at = std::max(r.finished_ms, r.started_ms);
    return body.to_json();
}

sdk::ExecResult unrun_result(sdk::CommandState status, std::string message, std::int64_t now_ms) {
    sdk::ExecResult r;
    r.status = status;
    r.output = std::move(message);
    r.started_ms = now_ms;
    r.finished_ms = now_ms;
    return r;
}

}  // namespace agenthost::gateway
