// Agent handlers: list/get, revoke (closes a local live session with 4403), release
// (frees the lease and closes a local live session with 4409), telemetry queries.
#include <utility>

#include "kernel/api/api_handlers.hpp"
#include "kernel/net/connection.hpp"
#include "kernel/proto/messages.hpp"
#include "kernel/util/time.hpp"

namespace agenthost::api {

namespace {
constexpr std::string_view kAgentsSlash = "/api/v1/agents/";
}  // namespace

// GET /api/v1/agents/{id} | /api/v1/agents/{id}/telemetry
void ApiHandlers::agents_get(const sdk::HttpRequest& req, sdk::HttpResponder respond) {
    auto seg = split_path(req.path, kAgentsSlash);
    if (seg.size() == 1 && !seg[0].empty()) {
        return get_agent(std::string(seg[0]), std::move(respond));
    }
    if (seg.size() == 2 && !seg[0].empty() && seg[1] == "telemetry") {
        return telemetry(req, std::string(seg[0]), std::move(respond));
    }
    respond(not_found("not_found", "no such resource"));
}

void ApiHandlers::list_agents(sdk::HttpResponder respond) {
    deps_.identity->list_agents([respond](sdk::Result<std::vector<sdk::AgentRecord>> r) {
        if (!r.ok()) {
            return respond(backend_failure(r.status(), "identity store"));
        }
        json::array out;
        for (const auto& a : *r) {
            out.emplace_back(agent_json(a));
        }
        respond(json_response(200, out));
    });
}

void ApiHandlers::get_agent(std::string agent_id, sdk::HttpResponder respond) {
    if (!valid_agent_id(agent_id)) {
        return respond(not_found("agent_not_found", "unknown agent"));
    }
    deps_.identity->get_agent(agent_id, [respond](sdk::Result<sdk::AgentRecord> r) {
        if (!r.ok()) {
            if (r.status().code() == sdk::Errc::not_found) {
                return respond(not_found("agent_not_found", "unknown agent"));
            }
            return respond(backend_failure(r.status(), "identity store"));
        }
        respond(json_response(200, agent_json(*r)));
    });
}

void ApiHandlers::revoke(const sdk::HttpRequest& req, std::string agent_id,
                         sdk::HttpResponder respond) {
    if (!valid_agent_id(agent_id)) {
        return respond(not_found("agent_not_found", "unknown agent"));
    }
    if (refuse_unaudited("agent.revoke", respond)) {
        return;
    }
    auto self = shared_from_this();
    // Before (lookups in flight are not remembered) and after (none read the old row
    // from the cache): this host refuses the agent's commands from the revoke's answer on.
    agent_cache_.invalidate(agent_id);
    deps_.identity->revoke(agent_id, [self, req, respond, agent_id](sdk::Status st) {
        self->agent_cache_.invalidate(agent_id);
        if (!st.ok()) {
            if (st.code() == sdk::Errc::not_found) {
                return respond(not_found("agent_not_found", "unknown agent"));
            }
            self->audit(req, "agent.revoke", agent_id, "failure",
                        json::object{{"reason", st.message()}});
            return respond(backend_failure(st, "identity store"));
        }
        // A session on another host learns it at its next lease renewal (conflict).
        const bool closed =
            self->deps_.sessions->terminate(agent_id, net::close_code::forbidden, "revoked");
        self->audit(req, "agent.revoke", agent_id, "success",
                    json::object{{"local_session_closed", closed}});
        self->get_agent(agent_id, respond);
    });
}

void ApiHandlers::release(const sdk::HttpRequest& req, std::string agent_id,
                          sdk::HttpResponder respond) {
    if (!valid_agent_id(agent_id)) {
        return respond(not_found("agent_not_found", "unknown agent"));
    }
    if (refuse_unaudited("agent.release", respond)) {
        return;
    }
    auto self = shared_from_this();
    deps_.identity->release(
        agent_id, [self, req, respond, agent_id](sdk::Result<std::optional<std::string>> r) {
            if (!r.ok()) {
                if (r.status().code() == sdk::Errc::not_found) {
                    return respond(not_found("agent_not_found", "unknown agent"));
                }
                self->audit(req, "agent.release", agent_id, "failure",
                            json::object{{"reason", r.status().message()}});
                return respond(backend_failure(r.status(), "identity store"));
            }
            const bool closed = self->deps_.sessions->terminate(
                agent_id, net::close_code::duplicate_session, "released");
            json::value released = *r ? json::value(**r) : json::value(nullptr);
            self->audit(
                req, "agent.release", agent_id, "success",
                json::object{{"released_session_id", released}, {"local_session_closed", closed}});
            respond(json_response(
                200, json::object{{"agent_id", agent_id}, {"released_session_id", released}}));
        });
}

// GET /api/v1/agents/{id}/telemetry?metric=&since=&until=&limit=
void ApiHandlers::telemetry(const sdk::HttpRequest& req, std::string agent_id,
                            sdk::HttpResponder respond) {
    sdk::TelemetryQuery q;
    q.agent_id = agent_id;
    if (const std::string* metric = req.query_param("metric")) {
        if (!proto::valid_metric_name(*metric)) {
            return respond(error_response(400, "bad_request", "metric is not a valid name"));
        }
        q.metric = *metric;
    }
    for (auto [name, slot] : {std::pair{"since", &q.since_ms}, std::pair{"until", &q.until_ms}}) {
        if (const std::string* v = req.query_param(name)) {
            auto ms = util::parse_rfc3339(*v);
            if (!ms) {
                return respond(
                    error_response(400, "bad_request", std::string(name) + " must be RFC 3339"));
            }
            *slot = *ms;
        }
    }
    if (q.since_ms && q.until_ms && *q.since_ms > *q.until_ms) {
        return respond(error_response(400, "bad_request", "since is after until"));
    }
    if (const std::string* limit = req.query_param("limit")) {
        auto n = parse_int(*limit, 1, 1000);
        if (!n) {
            return respond(error_response(400, "bad_request", "limit must be 1-1000"));
        }
        q.limit = static_cast<std::size_t>(*n);
    }
    if (!valid_agent_id(agent_id)) {
        return respond(not_found("agent_not_found", "unknown agent"));
    }
    auto self = shared_from_this();
    deps_.identity->get_agent(
        agent_id, [self, respond, q = std::move(q)](sdk::Result<sdk::AgentRecord> agent) mutable {
            if (!agent.ok()) {
                if (agent.status().code() == sdk::Errc::not_found) {
                    return respond(not_found("agent_not_found", "unknown agent"));
                }
                return respond(backend_failure(agent.status(), "identity store"));
            }
            self->deps_.telemetry->query(
                std::move(q), [respond](sdk::Result<std::vector<sdk::TelemetryPoint>> r) {
                    if (!r.ok()) {
                        return respond(backend_failure(r.status(), "telemetry store"));
                    }
                    json::array out;
                    for (const auto& p : *r) {
                        out.emplace_back(point_json(p));
                    }
                    respond(json_response(200, out));
                });
        });
}

}  // namespace agenthost::api
