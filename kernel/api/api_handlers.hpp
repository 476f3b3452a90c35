#pragma once
// Internal to kernel/api: the handler set shared by operator_api.cpp (routing and
// commands) and agent_routes.cpp (agents, revoke/release, telemetry).

#include <memory>
#include <string>

#include "kernel/api/agent_cache.hpp"
#include "kernel/api/api_json.hpp"
#include "kernel/api/operator_api.hpp"

namespace agenthost::api {

class ApiHandlers : public std::enable_shared_from_this<ApiHandlers> {
public:
    explicit ApiHandlers(ApiDeps deps)
        : deps_(deps), agent_cache_(deps.agent_cache_ttl, deps.agent_cache_max) {}

    // operator_api.cpp
    void agents_post(const sdk::HttpRequest& req, sdk::HttpResponder respond);
    void commands_get(const sdk::HttpRequest& req, sdk::HttpResponder respond);
    void commands_post(const sdk::HttpRequest& req, sdk::HttpResponder respond);
    void list_commands(const sdk::HttpRequest& req, sdk::HttpResponder respond);
    void enqueue(const sdk::HttpRequest& req, std::string agent_id, sdk::HttpResponder respond);
    void get_command(std::string command_id, sdk::HttpResponder respond, int status = 200);
    void cancel(const sdk::HttpRequest& req, std::string command_id, sdk::HttpResponder respond);
    // The enqueue after the agent lookup (cached or fresh): 409/422 checks, then the queue.
    void admit(const sdk::HttpRequest& req, sdk::NewCommand cmd, const sdk::AgentRecord& agent,
               sdk::HttpResponder respond);
    void submit(const sdk::HttpRequest& req, sdk::NewCommand cmd, sdk::HttpResponder respond);

    // agent_routes.cpp
    void agents_get(const sdk::HttpRequest& req, sdk::HttpResponder respond);
    void list_agents(sdk::HttpResponder respond);
    void get_agent(std::string agent_id, sdk::HttpResponder respond);
    void revoke(const sdk::HttpRequest& req, std::string agent_id, sdk::HttpResponder respond);
    void release(const sdk::HttpRequest& req, std::string agent_id, sdk::HttpResponder respond);
    void telemetry(const sdk::HttpRequest& req, std::string agent_id, sdk::HttpResponder respond);

    void audit(const sdk::HttpRequest& req, const char* action, std::string target,
               const char* outcome, json::object details);
    // Fail-closed: true (after answering 503) when `action` cannot be audited now.
    bool refuse_unaudited(std::string_view action, const sdk::HttpResponder& respond);

protected:
    ApiDeps deps_;
    AgentCache agent_cache_;
};

// Maps a plugin failure to the API's answer (503 for unavailable, else 500).
sdk::HttpResponse backend_failure(const sdk::Status& status, std::string_view what);
sdk::HttpResponse not_found(std::string_view code, std::string_view message);

}  // namespace agenthost::api
