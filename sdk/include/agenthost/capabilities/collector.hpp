#pragma once
// Capability "telemetry_collector" (gateway): produces telemetry points on an
// interval. The kernel schedules collect() and spools the points durably.

#include <chrono>
#include <string_view>
#include <vector>

#include <agenthost/capabilities/identity.hpp>
#include <agenthost/capabilities/telemetry.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

class TelemetryCollector {
public:
    static constexpr std::string_view capability = "telemetry_collector";
    virtual ~TelemetryCollector() = default;
    virtual std::chrono::milliseconds interval() const = 0;
    // Collects one sample; `done` once, from any thread. Must not block the caller.
    virtual void collect(Callback<Result<std::vector<TelemetryPoint>>> done) = 0;
};

}  // namespace agenthost::sdk
