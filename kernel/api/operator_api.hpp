#pragma once
// The operator API of API.md on the admin listener: thin handlers that validate,
// call the capability plugins and shape JSON. Authentication happens before routing
// (the listener's auth hook, see operator_auth.hpp), so handlers see an
// authenticated request whose `actor` names the operator.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include <agenthost/audit.hpp>
#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/queue.hpp>
#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/http.hpp>
#include <agenthost/logger.hpp>

#include "kernel/backend/session_registry.hpp"

namespace agenthost::api {

// Everything the handlers use; must outlive the registered routes.
struct ApiDeps {
    sdk::IdentityStore* identity = nullptr;
    sdk::CommandQueue* queue = nullptr;
    sdk::TelemetryStore* telemetry = nullptr;
    sdk::AuditSink* audit = nullptr;
    sdk::Logger* logger = nullptr;
    backend::SessionRegistry* sessions = nullptr;
    // Fail-closed auditing: asked BEFORE an audited action (enqueue, cancel, revoke,
    // release); false → 503 audit_unavailable and nothing is done. Empty: always true.
    std::function<bool(std::string_view action)> can_audit;
    // The enqueue check's agent lookup is remembered this long (agent_cache.hpp: only
    // acceptances are served from it; this host's revocations invalidate at once).
    // 0 asks the identity store on every enqueue.
    std::chrono::milliseconds agent_cache_ttl{1000};
    std::size_t agent_cache_max = 100000;
};

// Registers every route of API.md on `routes` (Listener::admin).
sdk::Status register_operator_api(sdk::RouteRegistry& routes, ApiDeps deps);

}  // namespace agenthost::api
