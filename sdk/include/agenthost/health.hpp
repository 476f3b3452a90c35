#pragma once
// Health contributions: every plugin (and the kernel) registers named checks; the
// health plugin renders /readyz and /healthz from them.

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace agenthost::sdk {

enum class HealthState { pass, warn, fail };

struct HealthReport {
    HealthState state = HealthState::pass;
    std::string component_type;  // e.g. "datastore", "system", "component"
    std::optional<double> observed_value;
    std::string observed_unit;   // e.g. "ms", "ratio", "days"
    std::string output;          // human-readable reason for warn/fail
};

// A check runs on the scraping thread and must be cheap, non-blocking and
// thread-safe (report cached values; refresh them in the background).
using HealthCheck = std::function<HealthReport()>;

class HealthRegistry {
public:
    virtual ~HealthRegistry() = default;
    // `name` like "sqlite:latency". `affects_readiness`: a fail makes /readyz 503.
    virtual void add_check(std::string name, bool affects_readiness, HealthCheck check) = 0;
    // Evaluates every check now (used by the health plugin).
    virtual std::vector<std::pair<std::string, HealthReport>> evaluate() const = 0;
    // True when every readiness-affecting check passes or warns and the host is not
    // draining.
    virtual bool ready() const = 0;
};

}  // namespace agenthost::sdk
