// Routing of /api/v1/* and the command handlers (enqueue, get, list, cancel).
// Failure precedence of API.md: 401 (auth hook) → 400 → 404 → 409 → 422 → 429 → 503.
#include "kernel/api/operator_api.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include <boost/json/parse.hpp>

#include "kernel/api/api_handlers.hpp"
#include "kernel/util/encoding.hpp"

namespace agenthost::api {

namespace {

constexpr std::string_view kAgents = "/api/v1/agents";
constexpr std::string_view kCommands = "/api/v1/commands";
constexpr std::int64_t kMaxTimeoutS = 86400;
constexpr std::size_t kMaxNameChars = 256;
constexpr std::size_t kMaxIdempotencyKeyChars = 255;

struct EnqueueRequest {
    sdk::NewCommand command;
    std::string error;  // non-empty: 400
};

EnqueueRequest parse_enqueue(const sdk::HttpRequest& req) {
    EnqueueRequest out;
    json::error_code ec;
    json::value body = json::parse(req.body, ec);
    if (ec || !body.is_object()) {
        out.error = "body must be a JSON object";
        return out;
    }
    const json::object& obj = body.get_object();
    for (const auto& kv : obj) {
        const auto k = kv.key();
        if (k != "name" && k != "args" && k != "timeout_s") {
            out.error = "unknown field: " + std::string(k);
            return out;
        }
    }
    const json::value* name = obj.if_contains("name");
    if (!name || !name->is_string() || name->get_string().empty() ||
        name->get_string().size() > kMaxNameChars) {
        out.error = "name must be a non-empty string";
        return out;
    }
    out.command.name = std::string(name->get_string());
    if (const json::value* args = obj.if_contains("args")) {
        if (!args->is_object()) {
            out.error = "args must be an object";
            return out;
        }
        out.command.args = args->get_object();
    }
    if (const json::value* t = obj.if_contains("timeout_s")) {
        std::int64_t v = 0;
        if (t->is_int64()) {
            v = t->get_int64();
        } else if (t->is_uint64() && t->get_uint64() <= static_cast<std::uint64_t>(kMaxTimeoutS)) {
            v = static_cast<std::int64_t>(t->get_uint64());
        } else {
            v = -1;
        }
        if (v < 1 || v > kMaxTimeoutS) {
            out.error = "timeout_s must be an integer from 1 to 86400";
            return out;
        }
        out.command.timeout_s = v;
    }
    if (const std::string* key = req.header("idempotency-key")) {
        const bool printable =
            std::all_of(key->begin(), key->end(), [](char c) { return c > 0x20 && c < 0x7f; });
        if (key->empty() || key->size() > kMaxIdempotencyKeyChars || !printable) {
            out.error = "Idempotency-Key must be 1-255 visible ASCII characters";
            return out;
        }
        out.command.idempotency_key = *key;
        // "The same body" is the same JSON value: hash a key-sorted serialisation.
        out.command.request_digest = util::sha256_hex(canonical_json(body));
    }
    return out;
}

}  // namespace

sdk::HttpResponse backend_failure(const sdk::Status& status, std::string_view what) {
    if (status.code() == sdk::Errc::unavailable || status.code() == sdk::Errc::timeout) {
        return error_response(503, "unavailable", std::string(what) + " unavailable");
    }
    return error_response(500, "internal", std::string(what) + " failed");
}

sdk::HttpResponse not_found(std::string_view code, std::string_view message) {
    return error_response(404, code, message);
}

void ApiHandlers::audit(const sdk::HttpRequest& req, const char* action, std::string target,
                        const char* outcome, json::object details) {
    sdk::AuditEvent ev;
    ev.actor = "operator:" + (req.actor.empty() ? std::string("unknown") : req.actor);
    ev.action = action;
    ev.target = std::move(target);
    ev.outcome = outcome;
    ev.details = std::move(details);
    deps_.audit->record(std::move(ev));
}

bool ApiHandlers::refuse_unaudited(std::string_view action, const sdk::HttpResponder& respond) {
    if (!deps_.can_audit || deps_.can_audit(action)) {
        return false;
    }
    // An action that cannot be audited is not done (audit.fail_closed).
    respond(error_response(503, "audit_unavailable",
                           "the audit trail cannot be written; the action was not performed"));
    return true;
}

// POST /api/v1/agents/{id}/commands | /revoke | /release
void ApiHandlers::agents_post(const sdk::HttpRequest& req, sdk::HttpResponder respond) {
    auto seg = split_path(req.path, std::string(kAgents) + "/");
    if (seg.size() == 2 && !seg[0].empty()) {
        std::string agent(seg[0]);
        if (seg[1] == "commands") {
            return enqueue(req, std::move(agent), std::move(respond));
        }
        if (seg[1] == "revoke") {
            return revoke(req, std::move(agent), std::move(respond));
        }
        if (seg[1] == "release") {
            return release(req, std::move(agent), std::move(respond));
        }
    }
    respond(not_found("not_found", "no such resource"));
}

// GET /api/v1/commands/{id}
void ApiHandlers::commands_get(const sdk::HttpRequest& req, sdk::HttpResponder respond) {
    auto seg = split_path(req.path, std::string(kCommands) + "/");
    if (seg.size() == 1 && !seg[0].empty()) {
        return get_command(std::string(seg[0]), std::move(respond));
    }
    respond(not_found("not_found", "no such resource"));
}

// POST /api/v1/commands/{id}/cancel
void ApiHandlers::commands_post(const sdk::HttpRequest& req, sdk::HttpResponder respond) {
    auto seg = split_path(req.path, std::string(kCommands) + "/");
    if (seg.size() == 2 && !seg[0].empty() && seg[1] == "cancel") {
        return cancel(req, std::string(seg[0]), std::move(respond));
    }
    respond(not_found("not_found", "no such resource"));
}

void ApiHandlers::enqueue(const sdk::HttpRequest& req, std::string agent_id,
                          sdk::HttpResponder respond) {
    EnqueueRequest parsed = parse_enqueue(req);
    if (!parsed.error.empty()) {
        return respond(error_response(400, "bad_request", parsed.error));
    }
    if (!valid_agent_id(agent_id)) {
        return respond(not_found("agent_not_found", "unknown agent"));
    }
    parsed.command.agent_id = agent_id;
    // A recent record that admits the command is enough (agent_cache.hpp); anything
    // else, refusals included, is asked of the identity store.
    if (auto cached = agent_cache_.find(agent_id, AgentCache::Clock::now());
        cached && admits(*cached, parsed.command.name)) {
        return admit(req, std::move(parsed.command), *cached, std::move(respond));
    }
    auto self = shared_from_this();
    const std::uint64_t epoch = agent_cache_.epoch();
    deps_.identity->get_agent(agent_id, [self, req, respond, epoch,
                                         cmd = std::move(parsed.command)](
                                            sdk::Result<sdk::AgentRecord> agent) mutable {
        if (!agent.ok()) {
            if (agent.status().code() == sdk::Errc::not_found) {
                return respond(not_found("agent_not_found", "unknown agent"));
            }
            return respond(backend_failure(agent.status(), "identity store"));
        }
        if (!agent->revoked) {
            self->agent_cache_.put(*agent, epoch, AgentCache::Clock::now());
        }
        self->admit(req, std::move(cmd), *agent, respond);
    });
}

void ApiHandlers::admit(const sdk::HttpRequest& req, sdk::NewCommand cmd,
                        const sdk::AgentRecord& agent, sdk::HttpResponder respond) {
    const std::string& agent_id = cmd.agent_id;
    if (agent.revoked) {
        audit(req, "command.enqueue", agent_id, "denied",
              json::object{{"agent_id", agent_id}, {"reason", "agent_revoked"}});
        return respond(error_response(409, "agent_revoked", "the agent is revoked"));
    }
    if (!admits(agent, cmd.name)) {
        audit(req, "command.enqueue", agent_id, "denied",
              json::object{{"agent_id", agent_id},
                           {"name", cmd.name},
                           {"reason", "unsupported_command"}});
        return respond(error_response(422, "unsupported_command",
                                      "the agent did not list this command"));
    }
    if (refuse_unaudited("command.enqueue", respond)) {
        return;
    }
    submit(req, std::move(cmd), std::move(respond));
}

void ApiHandlers::submit(const sdk::HttpRequest& req, sdk::NewCommand cmd,
                         sdk::HttpResponder respond) {
    auto self = shared_from_this();
    const std::string agent_id = cmd.agent_id;
    const json::object details{{"agent_id", agent_id}, {"name", cmd.name}};
    deps_.queue->enqueue(
        std::move(cmd),
        [self, req, respond, agent_id, details](sdk::Result<sdk::EnqueueOutcome> r) {
            if (r.ok()) {
                const auto& c = r->command;
                json::object d = details;
                d["created"] = r->created;
                self->audit(req, "command.enqueue", c.command_id, "success", std::move(d));
                if (!r->created) {
                    // A repeated Idempotency-Key: the command as GET shows it now.
                    return self->get_command(c.command_id, respond, 200);
                }
                return respond(json_response(
                    202, json::object{{"command_id", c.command_id}, {"state", "queued"}}));
            }
            const sdk::Status st = r.status();
            json::object d = details;
            d["reason"] = st.message();
            self->audit(req, "command.enqueue", agent_id,
                        st.code() == sdk::Errc::unavailable ? "failure" : "denied", std::move(d));
            switch (st.code()) {
                case sdk::Errc::conflict:
                    return respond(error_response(409, "idempotency_conflict",
                                                  "Idempotency-Key reused with another body"));
                case sdk::Errc::exhausted: {
                    auto resp = error_response(429, "queue_full", "the agent's queue is full");
                    const auto secs = self->deps_.queue->retry_after(agent_id).count();
                    resp.headers.emplace_back("Retry-After", std::to_string(secs < 1 ? 1 : secs));
                    return respond(std::move(resp));
                }
                case sdk::Errc::invalid_argument:
                    return respond(error_response(400, "bad_request", st.message()));
                case sdk::Errc::not_found:
                    return respond(not_found("agent_not_found", "unknown agent"));
                default:
                    return respond(backend_failure(st, "command queue"));
            }
        });
}

void ApiHandlers::get_command(std::string command_id, sdk::HttpResponder respond, int status) {
    auto self = shared_from_this();
    deps_.queue->get(command_id, [self, respond, status](sdk::Result<sdk::CommandRecord> rec) {
        if (!rec.ok()) {
            if (rec.status().code() == sdk::Errc::not_found ||
                rec.status().code() == sdk::Errc::invalid_argument) {
                return respond(not_found("command_not_found", "unknown command"));
            }
            return respond(backend_failure(rec.status(), "command queue"));
        }
        if (!sdk::is_terminal(rec->state)) {
            return respond(json_response(status, command_json(*rec)));
        }
        self->deps_.telemetry->get_result(
            rec->command_id,
            [respond, status, rec = *rec](sdk::Result<std::optional<sdk::CommandResult>> result) {
                if (!result.ok()) {
                    return respond(backend_failure(result.status(), "result store"));
                }
                respond(json_response(status, command_json(rec, *result)));
            });
    });
}

// GET /api/v1/commands?agent_id=&state=&limit=
void ApiHandlers::list_commands(const sdk::HttpRequest& req, sdk::HttpResponder respond) {
    sdk::CommandFilter filter;
    if (const std::string* agent = req.query_param("agent_id")) {
        if (!valid_agent_id(*agent)) {
            return respond(error_response(400, "bad_request", "agent_id is not a valid agent id"));
        }
        filter.agent_id = *agent;
    }
    if (const std::string* state = req.query_param("state")) {
        auto st = sdk::command_state_from(*state);
        if (!st) {
            return respond(error_response(400, "bad_request", "unknown state"));
        }
        filter.state = *st;
    }
    if (const std::string* limit = req.query_param("limit")) {
        auto n = parse_int(*limit, 1, 1000);
        if (!n) {
            return respond(error_response(400, "bad_request", "limit must be 1-1000"));
        }
        filter.limit = static_cast<std::size_t>(*n);
    }
    deps_.queue->list(filter, [respond](sdk::Result<std::vector<sdk::CommandRecord>> r) {
        if (!r.ok()) {
            return respond(backend_failure(r.status(), "command queue"));
        }
        json::array out;
        for (const auto& c : *r) {
            out.emplace_back(command_json(c));
        }
        respond(json_response(200, out));
    });
}

void ApiHandlers::cancel(const sdk::HttpRequest& req, std::string command_id,
                         sdk::HttpResponder respond) {
    if (refuse_unaudited("command.cancel", respond)) {
        return;
    }
    auto self = shared_from_this();
    deps_.queue->cancel(
        command_id, [self, req, respond, command_id](sdk::Result<sdk::CommandRecord> r) {
            if (r.ok()) {
                self->audit(req, "command.cancel", command_id, "success",
                            json::object{{"agent_id", r->agent_id}});
                return respond(json_response(200, command_json(*r)));
            }
            const auto code = r.status().code();
            if (code == sdk::Errc::not_found || code == sdk::Errc::invalid_argument) {
                return respond(not_found("command_not_found", "unknown command"));
            }
            self->audit(req, "command.cancel", command_id,
                        code == sdk::Errc::conflict ? "denied" : "failure",
                        json::object{{"reason", r.status().message()}});
            if (code == sdk::Errc::conflict) {
                return respond(error_response(409, "not_cancellable",
                                              "the command was already dispatched or finished"));
            }
            respond(backend_failure(r.status(), "command queue"));
        });
}

sdk::Status register_operator_api(sdk::RouteRegistry& routes, ApiDeps deps) {
    auto h = std::make_shared<ApiHandlers>(deps);
    using L = sdk::Listener;
    struct Route {
        const char* method;
        std::string path;
        sdk::HttpHandler handler;
    };
    const std::string agents(kAgents);
    const std::string commands(kCommands);
    std::vector<Route> table = {
        {"GET", agents,
         [h](const sdk::HttpRequest&, sdk::HttpResponder r) { h->list_agents(std::move(r)); }},
        {"GET", agents + "/*",
         [h](const sdk::HttpRequest& q, sdk::HttpResponder r) { h->agents_get(q, std::move(r)); }},
        {"POST", agents + "/*",
         [h](const sdk::HttpRequest& q, sdk::HttpResponder r) { h->agents_post(q, std::move(r)); }},
        {"GET", commands,
         [h](const sdk::HttpRequest& q, sdk::HttpResponder r) {
             h->list_commands(q, std::move(r));
         }},
        {"GET", commands + "/*",
         [h](const sdk::HttpRequest& q, sdk::HttpResponder r) {
             h->commands_get(q, std::move(r));
         }},
        {"POST", commands + "/*",
         [h](const sdk::HttpRequest& q, sdk::HttpResponder r) {
             h->commands_post(q, std::move(r));
         }},
    };
    for (auto& route : table) {
        if (auto st = routes.add(L::admin, route.method, route.path, std::move(route.handler));
            !st.ok()) {
            return st;
        }
    }
    return {};
}

}  // namespace agenthost::api
