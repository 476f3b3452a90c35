#pragma once
// Turns a handler's ExecResult into the wire `result` body (PROTOCOL.md §4/§8):
// output capped (≤ 64 KiB decoded, and ≤ the configured cap), UTF-8 when it is
// valid UTF-8 (a cut through a multi-byte character is trimmed back), base64 with
// output_encoding "base64" otherwise; exit_code null unless the command ran to
// completion.

#include <cstddef>
#include <string>

#include <agenthost/capabilities/command_handler.hpp>
#include <agenthost/json.hpp>

namespace agenthost::gateway {

sdk::json::object make_result_body(const std::string& command_id, const sdk::ExecResult& result,
                                   std::size_t output_cap_bytes);

// A result for a command that never ran (rejected, timed out before start, ...).
sdk::ExecResult unrun_result(sdk::CommandState status, std::string message, std::int64_t now_ms);

}  // namespace agenthost::gateway
