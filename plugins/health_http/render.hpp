#pragma once
// Pure rendering of the health endpoints: health registry results in, HTTP responses
// out. No context, no clock, no I/O, so the unit tests pin the exact wire shape.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <agenthost/health.hpp>
#include <agenthost/http.hpp>

namespace agenthost::health_http {

using CheckResults = std::vector<std::pair<std::string, sdk::HealthReport>>;

inline constexpr const char* kHealthJson = "application/health+json";
inline constexpr const char* kPrometheusText = "text/plain; version=0.0.4";

const char* state_name(sdk::HealthState s) noexcept;

// GET /readyz: 200 {"status":"pass"} when ready; else 503 {"status":"fail", ...} with
// the failing checks (when `details`) or the reason "not ready (draining)" when no
// check fails (the registry is not ready only because the host drains).
sdk::HttpResponse render_readyz(bool ready, const CheckResults& checks, bool details);

struct ServiceInfo {
    std::string version;     // product version
    std::string service_id;  // host id
    std::string description;
};

// GET /healthz in the IETF "Health Check Response Format for HTTP APIs" draft form
// (application/health+json). Overall status: fail when not ready (503), warn when any
// check warns or fails without blocking readiness, else pass (200 for pass and warn).
// Each check is "<component>:<measurement>": [{componentType, observedValue,
// observedUnit, status, output, time}], `time` the RFC 3339 evaluation time.
sdk::HttpResponse render_healthz(bool ready, const CheckResults& checks, const ServiceInfo& info,
                                 const std::string& time_rfc3339);

// GET /metrics: the registry's Prometheus exposition text.
sdk::HttpResponse render_metrics(std::string prometheus_text);

}  // namespace agenthost::health_http
