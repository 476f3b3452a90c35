#pragma once
// JSON shapes of the operator API (API.md): error bodies, the command and agent
// views, the canonical form used for Idempotency-Key digests, and small parsers for
// path segments and query parameters.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/http.hpp>
#include <agenthost/json.hpp>

namespace agenthost::api {

namespace json = sdk::json;

// {"error":{"code":code,"message":message}} with `status`.
sdk::HttpResponse error_response(int status, std::string_view code, std::string_view message);
sdk::HttpResponse json_response(int status, const json::value& body);

// The command object of GET /api/v1/commands/{id}; `result` merged when present.
json::object command_json(const sdk::CommandRecord& command,
                          const std::optional<sdk::CommandResult>& result = std::nullopt);
json::object result_json(const sdk::CommandResult& result);
// The agent view: state online/offline/revoked, host_id null unless online.
json::object agent_json(const sdk::AgentRecord& agent);
json::object point_json(const sdk::TelemetryPoint& point);

// Serialises `v` with every object's keys sorted (recursively): one byte string per
// JSON value, whatever the key order or whitespace of the request.
std::string canonical_json(const json::value& v);

// ^[a-z0-9][a-z0-9._-]{0,62}$ (PROTOCOL.md §1).
bool valid_agent_id(std::string_view s) noexcept;
// A decimal integer in [min, max]; nullopt otherwise.
std::optional<std::int64_t> parse_int(std::string_view s, std::int64_t min, std::int64_t max);
// The path after `prefix`, split on '/'. Empty segments are kept (so "a//b" fails
// the callers' exact-shape checks).
std::vector<std::string_view> split_path(std::string_view path, std::string_view prefix);

}  // namespace agenthost::api
