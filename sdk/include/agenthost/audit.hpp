#pragma once
// The audit trail. Every security decision goes through here: auth failures,
// replays, duplicate sessions, revocations, config reloads, plugin loads, command
// enqueue/dispatch/result. Records never contain secrets.

#include <cstdint>
#include <functional>
#include <string>

#include <agenthost/json.hpp>
#include <agenthost/status.hpp>

namespace agenthost::sdk {

struct AuditEvent {
    std::string actor;    // "operator:<name>", "agent:<id>", "kernel", "plugin:<name>"
    std::string action;   // dotted verb, e.g. "session.duplicate", "command.enqueue"
    std::string target;   // what the action was on, e.g. an agent_id or command_id
    std::string outcome;  // "success", "denied", "failure"
    json::object details;
};

using AuditCompletion = std::function<void(Status)>;

// Capability "audit". Implementations are thread-safe.
class AuditSink {
public:
    virtual ~AuditSink() = default;
    // Appends one event. The completion (optional, any thread) reports whether the
    // record is durable per the sink's fsync policy. In fail-closed mode callers
    // refuse the audited action when the completion reports an error.
    virtual void record(AuditEvent event, AuditCompletion done = {}) = 0;
    // True while the sink can accept writes (false makes readiness fail).
    virtual bool writable() const noexcept = 0;
    // Flushes buffered records; called on drain and before stop.
    virtual Status flush() = 0;
};

}  // namespace agenthost::sdk
